"""Every assignment in the syllabus exists and follows the notebook conventions (DESIGN.md)."""

from __future__ import annotations

import ast
import re

from exercises import exercise_of

from autograder.coursedir import exercise_points, nbgrader_cells, read_notebook
from autograder.synth import alternatives_file, load_alternatives, load_mutants, solution_answers
from course.syllabus import ASSIGNMENTS

GRADE_ID = re.compile(r"^(setup|ex\d+_[a-z0-9_]+)$")


def test_assignment_ids_are_numbered_unique_and_in_order():
    ids = [a.id for a in ASSIGNMENTS]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [a.number for a in ASSIGNMENTS] == list(range(1, len(ASSIGNMENTS) + 1))


def test_points_in_syllabus_match_the_notebook(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    auto = sum(exercise_points(nb).values())
    total = sum(exercise_points(nb, autograded_only=False).values())
    assert auto == assignment.autograded_points, f"notebook has {auto} autograded points"
    assert total - auto == assignment.manual_points, f"notebook has {total - auto} manual points"


# What a student's environment has (the bare-environment test installs exactly these): the setup
# cell may import nothing else, in particular nothing from this repository (a student may have the
# .ipynb alone).
STUDENT_MODULES = {"io", "os", "warnings", "ipywidgets", "keras", "matplotlib", "numpy", "tensorflow"}


def test_notebook_opens_with_title_objectives_and_locked_self_contained_setup(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    intro = nb.cells[0]
    assert intro.cell_type == "markdown" and intro.source.startswith("# ")
    assert "After this notebook you will be able to" in intro.source
    assert 3 <= len(assignment.objectives) <= 6
    setup = next(c for c in nb.cells if c.cell_type == "code")
    meta = setup.metadata.get("nbgrader", {})
    assert meta.get("locked") and meta.get("grade_id") == "setup", "first code cell: locked setup"
    src = setup.source
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= STUDENT_MODULES, f"the setup cell imports {sorted(imported - STUDENT_MODULES)}"
    tf_import = src.index("import tensorflow")
    for quiet in ('os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"', 'os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"'):
        assert 0 <= src.find(quiet) < tf_import, (
            f"{quiet} must come before `import tensorflow` (stderr costs test cells their points)"
        )
    assert 'tf.get_logger().setLevel("ERROR")' in src, "TensorFlow's Python warnings go to stderr too"
    assert 'warnings.filterwarnings("ignore", category=DeprecationWarning)' in src, (
        "NumPy 2 warns about np.array(keras_variable): a valid answer would lose its points"
    )
    assert "keras.utils.set_random_seed(" in src, "tf.random.set_seed alone does not seed Keras initialisers"


def test_graded_cells_have_readable_ids_and_every_exercise_is_tested(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    cells = nbgrader_cells(nb)
    for cell in cells:
        assert GRADE_ID.match(cell.grade_id), f"grade id {cell.grade_id!r} is not readable"
    solutions = {exercise_of(c.grade_id) for c in cells if c.is_solution and c.cell_type == "code"}
    tested = {exercise_of(c.grade_id) for c in cells if c.autograded}
    assert solutions == tested, (
        f"untested: {solutions - tested}, tests without a solution cell: {tested - solutions}"
    )
    manual = [c for c in cells if c.is_test and c.cell_type == "markdown"]
    assert manual, "every assignment has a written answer graded by hand"


def test_every_test_cell_has_a_docstring_and_hidden_tests(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            assert cell.source.lstrip().startswith('"""'), f"{meta['grade_id']}: start with a docstring"
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{meta['grade_id']}: no hidden tests"


def test_source_notebook_is_stored_executed_without_errors_or_stderr(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "re-execute the source notebook: make execute"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"stored error in cell: {c.source[:60]!r}"
            assert out.get("name") != "stderr", f"stored stderr in cell: {c.source[:60]!r}"


def test_mutants_and_alternatives_target_real_solution_cells(repo, assignment):
    nb = read_notebook(repo.source_notebook(assignment))
    solution_ids = {c.grade_id for c in nbgrader_cells(nb) if c.is_solution and c.cell_type == "code"}
    mutants = load_mutants(repo.mutants_file(assignment))
    alternatives = load_alternatives(alternatives_file(repo, assignment))
    assert mutants, "list the typical wrong answers in mutants.py"
    assert alternatives, "list other valid answers in alternatives.py"
    for m in mutants + alternatives:
        assert m.cell in solution_ids, f"{m.why!r} targets unknown cell {m.cell!r}"
        assert m.why.strip(), "every mutant says which misconception it is, every alternative what it does"
    solutions = solution_answers(nb)
    for alt in alternatives:
        assert alt.source.strip() != solutions[alt.cell].strip(), f"{alt.why!r} is the solution itself"


EXPLORATION = "# Exploration (not graded)"


def _read_and_defined(source: str) -> tuple[set[str], set[str]]:
    """(names a cell reads, names it defines: assignments, imports, functions, classes, arguments,
    exceptions caught `as` a name)."""
    read, defined = set(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else defined).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) or (
            isinstance(node, ast.ExceptHandler) and node.name
        ):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return read, defined


def test_one_self_contained_exploration_after_the_setup(repo, assignment):
    """One ipywidgets exploration per notebook, not graded, needing nothing but the setup cell: the
    browser tests run the setup cell and the exploration alone, and a student can play with it at once."""
    import builtins

    nb = read_notebook(repo.source_notebook(assignment))
    code = [c for c in nb.cells if c.cell_type == "code"]
    explorations = [c for c in code if c.source.startswith(EXPLORATION)]
    assert len(explorations) == 1, f"one cell should start with {EXPLORATION!r}, {len(explorations)} do"
    cell = explorations[0]
    assert not cell.metadata.get("nbgrader"), "the exploration is not graded: no nbgrader metadata"
    for needed in ("widgets.Image(", ".observe(", "savefig("):
        assert needed in cell.source, f"the exploration redraws a matplotlib picture in place: {needed!r}"
    read, defined = _read_and_defined(cell.source)
    missing = read - defined - _read_and_defined(code[0].source)[1] - set(dir(builtins))
    assert not missing, f"the exploration reads {sorted(missing)}: neither it nor the setup cell defines them"
