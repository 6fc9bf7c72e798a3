"""`feedback`: nbgrader's feedback HTML without the hidden tests' code, with their outcome and message."""

from __future__ import annotations

import copy
import html
import re
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_output

from autograder.batch import grade_batch
from autograder.coursedir import Course, read_notebook
from autograder.engine.redact import REDACTED, RedactHiddenTests, hidden_regions
from autograder.feedback import HideHiddenTests, generate_feedback
from autograder.nbgrader_cli import run_nbgrader
from autograder.synth import fill_in, load_mutants, solution_answers
from course.syllabus import ASSIGNMENTS

pytestmark = pytest.mark.two_cores

FIRST = ASSIGNMENTS[0]
EX1_TEST = "ex1_make_bias_test"


def visible_text(page: str) -> str:
    """What a reader of the HTML sees: tags and ANSI colour spans dropped, entities decoded."""
    page = re.sub(r"<style.*?</style>|<script.*?</script>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def secret_lines(nb) -> list[str]:
    """Hidden-test lines that appear nowhere else in the notebook (so they can only leak)."""
    shown = []
    for cell in copy.deepcopy(nb).cells:
        HideHiddenTests()._remove_hidden_test_region(cell)
        shown.append(cell.source)
    shown_text = "\n".join(shown)
    out = []
    for cell in nb.cells:
        for line in hidden_regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")[0]:
            s = line.strip()
            if len(s) >= 12 and s not in shown_text:
                out.append(s)
    return out


# --- the preprocessor on its own (no kernel) ------------------------------------------------------


def _test_cell(execution_count: int = 7):
    source = (
        '"""Checks f."""\n'
        'assert f(1) == 2, "f(1) should be 2"\n'
        "### BEGIN HIDDEN TESTS\n"
        'assert f(10) == 20, "f doubles every number: f(10) should be 20"\n'
        "### END HIDDEN TESTS\n"
    )
    cell = new_code_cell(source, execution_count=execution_count)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "ex1_f_test", "points": 1,
                                 "locked": True, "schema_version": 3}
    own_frame = (
        f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{execution_count}]\x1b[39m"
        "\x1b[32m, line 4\x1b[39m\n"
        '      2 assert f(1) == 2, "f(1) should be 2"\n'
        "      3 ### BEGIN HIDDEN TESTS\n"
        '----> 4 assert f(10) == 20, "f doubles every number: f(10) should be 20"\n'
    )
    student_frame = (
        "\x1b[36mCell\x1b[39m In[3], line 2, in f(x)\n      1 def f(x):\n----> 2     return helper(x)\n"
    )
    cell.outputs = [
        new_output(
            "error",
            ename="AssertionError",
            evalue="f doubles every number: f(10) should be 20",
            traceback=[
                "-" * 20,
                "AssertionError   Traceback (most recent call last)",
                own_frame,
                student_frame,
                "\x1b[31mAssertionError\x1b[39m: f doubles every number: f(10) should be 20",
            ],
        )
    ]
    return cell


def test_preprocessor_drops_hidden_code_and_the_test_frame_keeps_message_and_student_frames():
    cell, _ = HideHiddenTests().preprocess_cell(_test_cell(), {}, 0)
    assert "f(10) == 20" not in cell.source and "BEGIN HIDDEN TESTS" not in cell.source
    assert 'assert f(1) == 2, "f(1) should be 2"' in cell.source, "visible tests stay"
    assert "hidden tests ran here" in cell.source
    err = cell.outputs[0]
    assert err.ename == "AssertionError" and err.evalue == "f doubles every number: f(10) should be 20"
    tb = "\n".join(err.traceback)
    assert "f(10) == 20" not in tb, "the test cell's own frame (its context lines) is gone"
    assert "return helper(x)" in tb, "frames in the student's code stay"
    assert tb.endswith("f doubles every number: f(10) should be 20")


def test_redaction_cuts_a_hidden_line_quoted_in_an_error_message():
    cell = _test_cell()
    cell.outputs[0].evalue = 'in user code: assert f(10) == 20, "f doubles every number: f(10) should be 20"'
    later = nbformat.v4.new_code_cell("step()")  # a later cell: tf.function errors quote frames
    later.outputs = [copy.deepcopy(cell.outputs[0])]
    nb = nbformat.v4.new_notebook(cells=[cell, later])
    redact = RedactHiddenTests()
    nb, _ = redact.preprocess(nb, {})
    for c in nb.cells:
        assert "assert f(10) == 20" not in c.outputs[0].evalue
        assert REDACTED in c.outputs[0].evalue
    assert redact.findings == [], "Python and TensorFlow quote code in errors: nothing to flag"


def test_preprocessor_leaves_cells_without_hidden_tests_alone():
    cell = _test_cell()
    cell.source = 'assert f(1) == 2, "f(1) should be 2"'
    before = copy.deepcopy(cell)
    cell, _ = HideHiddenTests().preprocess_cell(cell, {}, 0)
    assert cell == before


# --- end to end: graded submissions, nbgrader's GenerateFeedback --------------------------------


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    root = tmp_path_factory.mktemp("feedback") / "course"
    shutil.copytree(built_course.root, root, ignore=shutil.ignore_patterns("submitted", "autograded"))
    course = Course(root)
    release = read_notebook(course.release_notebook(FIRST))
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))
    unnamed = next(m for m in load_mutants(course.mutants_file(FIRST))
                   if m.cell == "ex1_make_bias" and "forgot the name" in m.why)
    leaker = {**solution, "ex1_make_bias": solution["ex1_make_bias"] + LEAK_ROUTES}
    for student, answers in {"hid": {**solution, unnamed.cell: unnamed.source}, "sol": solution,
                             "leak": leaker}.items():  # fmt: skip
        path = course.submitted_notebook(FIRST, student)
        path.parent.mkdir(parents=True, exist_ok=True)
        nb = fill_in(release, answers)
        if student == "leak":  # a cell of their own after the test prints what was kept
            ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
            at = ids.index(EX1_TEST)
            nb.cells.insert(at + 1, new_code_cell("print(LEAKED)\nprint(_i, _ii, _iii)"))
        nbformat.write(nb, path)
    summary = grade_batch(Course(root), [FIRST.id], workers=2, progress=False)
    assert len(summary.graded) == 3
    return course, {r.student: r for r in summary.graded}


# A correct make_bias that, whenever it is called, shows the source of the cell calling it (the
# test, hidden part included) by every route the kernel offers.
LEAK_ROUTES = """

_real_make_bias = make_bias
LEAKED = []

def make_bias(units):
    import inspect, linecache, sys, textwrap
    from IPython.display import Markdown, display
    ip = get_ipython()
    src = ip.user_ns["In"][-1]
    LEAKED.append(src)
    print(src)
    print(repr(ip.user_ns["_ih"][-1]))
    print(textwrap.fill(src, 40))
    caller = sys._getframe(1)
    print("".join(linecache.getlines(caller.f_code.co_filename)))
    try:
        print(inspect.getsource(caller))
    except (OSError, TypeError) as e:
        print("inspect:", e)
    print([f.code_context for f in inspect.stack(context=50)[1:3]])
    display(Markdown("```\\n" + src + "\\n```"))
    return _real_make_bias(units)
"""


def _all_output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts += [o.get("text", ""), o.get("evalue", ""), *o.get("traceback", [])]
            parts += [v if isinstance(v, str) else "".join(v) for k, v in o.get("data", {}).items()
                      if not k.startswith("image/")]  # fmt: skip
    return "\n".join(parts)


@pytest.mark.slow
def test_no_route_brings_hidden_test_code_into_outputs_or_feedback(graded):
    """In, _ih, repr, re-wrapped text, linecache, inspect (source and stack), a display, a
    later cell: the autograded notebook and the feedback show none of it, and the submission is
    flagged; the answer itself is right and keeps its points."""
    course, results = graded
    path = course.root / "autograded" / "leak" / FIRST.id / FIRST.notebook
    autograded = nbformat.read(path, as_version=4)
    secrets = secret_lines(autograded)
    shown = _all_output_text(autograded)
    flat = " ".join(html.unescape(shown).replace("\\n", "\n").split())
    assert REDACTED in shown
    assert [s for s in secrets if " ".join(s.split()) in flat] == []
    r = results["leak"]
    assert r.scores() == results["sol"].scores()
    assert any("hidden-test code" in f for f in r.flags), r.flags
    generate_feedback(course, [FIRST.id], ["leak"])
    page = course.root / "feedback" / "leak" / FIRST.id / FIRST.notebook.replace(".ipynb", ".html")
    page = page.read_text()
    text = " ".join(visible_text(page).split())
    assert [s for s in secrets if " ".join(s.split()) in text] == []



@pytest.mark.slow
def test_feedback_has_no_hidden_test_code_but_the_hidden_asserts_message(graded):
    course, results = graded
    autograded = nbformat.read(course.root / "autograded" / "hid" / FIRST.id / FIRST.notebook, as_version=4)
    test = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == EX1_TEST)
    error = next(o for o in test.outputs if o.output_type == "error")
    message = error.evalue
    assert "pass name=" in message, message
    hidden_source = "\n".join(hidden_regions(test.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")[0])
    visible_part = test.source.split("### BEGIN HIDDEN TESTS")[0]
    assert "pass name=" in hidden_source and "pass name=" not in visible_part, "the failing assert is hidden"
    secrets = secret_lines(autograded)
    assert len(secrets) >= 10

    feedback = course.root / "feedback" / "hid" / FIRST.id / FIRST.notebook.replace(".ipynb", ".html")
    # Stock nbgrader shows the hidden tests in the feedback ...
    run_nbgrader(course.root, "generate_feedback", FIRST.id, "--student", "hid", "--force")
    stock = visible_text(feedback.read_text())
    assert [s for s in secrets if s in stock], "stock nbgrader's feedback shows hidden tests"

    # ... ours does not, and keeps the hidden assert's outcome and message.
    summary = generate_feedback(course, [FIRST.id])
    assert sorted(p.parent.parent.name for p in summary.written) == ["hid", "leak", "sol"]
    assert not summary.failed
    ours = visible_text(feedback.read_text())
    assert [s for s in secrets if s in ours] == []
    assert "BEGIN HIDDEN TESTS" not in ours and "hidden tests ran here" in ours
    assert message in ours, "the hidden assert's message is shown"
    assert "AssertionError" in ours
    r = results["hid"]
    assert r.score == FIRST.autograded_points - 1  # ex1 (1 point) lost: the written answer waits
    assert f"Score: {r.score:.1f} / {r.max_score:.1f}" in ours
    assert "Test cell</a> (Score: 0.0 / 1.0)" in feedback.read_text()

    sol = visible_text((feedback.parent.parent.parent / "sol" / FIRST.id / feedback.name).read_text())
    assert [s for s in secrets if s in sol] == []
