"""The authoring gate `python -m autograder check` fails, naming the culprit, when a hidden test
is weakened, a test depends on another exercise, a test fails without a message, or a test rejects
an answer listed as valid in alternatives.py. The broken tests are made in a temporary copy of the
course, never in source/; the gate on the real assignments is `make test`'s own step."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import nbformat
import pytest
from exercises import exercise_of

from autograder.check import ASSERT, CRASH, SILENT, STUB, classify_failure, format_report, format_runs
from autograder.coursedir import REPO_ROOT, Course, exercise_points, read_notebook
from autograder.synth import Alternative, alternatives_file, load_alternatives, load_mutants
from course.syllabus import assignment

pytestmark = pytest.mark.two_cores

A01 = assignment("01_creating_variables")


def run_check(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "check", "--no-progress", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def problems(stdout: str, kind: str) -> list[str]:
    """The report's problem lines of one kind ("ESCAPED", "CASCADE", ...)."""
    return [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(f"{kind}: ")]


# --- the rule for silent failures (no kernel needed) ----------------------------------------------


def err(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def test_an_assert_with_a_message_explains_the_failure():
    kind, message = classify_failure([err("AssertionError", "dtype is float64; pass dtype=tf.float32")])
    assert kind == ASSERT and message == "AssertionError: dtype is float64; pass dtype=tf.float32"


def test_a_bare_assert_is_a_silent_failure():
    assert classify_failure([err("AssertionError", "")])[0] == SILENT
    assert classify_failure([err("AssertionError", "   \n")])[0] == SILENT
    assert classify_failure([err("TypeError", "")])[0] == SILENT


def test_another_error_with_a_message_is_acceptable_but_not_an_assert():
    kind, message = classify_failure([err("NameError", "name 'make_bias' is not defined")])
    assert kind == CRASH and "make_bias" in message


def test_points_lost_without_an_error_are_silent():
    stderr = {"output_type": "stream", "name": "stderr", "text": "WARNING: something\n"}
    kind, message = classify_failure([stderr])
    assert kind == SILENT and "stderr" in message
    assert classify_failure([])[0] == SILENT


def test_the_code_stub_explains_itself_only_in_the_release():
    assert classify_failure([err("NotImplementedError", "")], stub_allowed=True)[0] == STUB
    assert classify_failure([err("NotImplementedError", "")], stub_allowed=False)[0] == SILENT


def test_long_messages_are_shortened_to_one_line():
    kind, message = classify_failure([err("AssertionError", "x" * 500 + "\nsecond line")])
    assert kind == ASSERT and len(message) <= 110 and "second" not in message


def test_a_directory_that_is_not_a_course_is_a_clear_error(tmp_path):
    (tmp_path / "source").mkdir()
    proc = run_check(A01.id, "--course", str(tmp_path), timeout=120)
    assert proc.returncode == 2
    assert "no nbgrader_config.py in" in proc.stderr and "Traceback" not in proc.stderr


# --- the gate on a broken copy ----------------------------------------------------------------------


def cell_by_id(nb, grade_id: str):
    return next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def strip_assert_messages(source: str) -> str:
    """`assert x, "why"` -> `assert x` for every assert of a cell (comments and markers kept)."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def pos(line: int, col: int) -> int:
        return starts[line - 1] + col

    cuts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assert) and node.msg is not None:
            test_end = pos(node.test.end_lineno, node.test.end_col_offset)
            comma = source.index(",", test_end)  # only the test's closing parens come before it
            cuts.append((comma, pos(node.end_lineno, node.end_col_offset)))
    for begin, end in sorted(cuts, reverse=True):
        source = source[:begin] + source[end:]
    return source


def test_strip_assert_messages_keeps_the_checks():
    src = (
        'assert a == 1, "why"\n### BEGIN HIDDEN TESTS\n'
        'assert (b or\n  c), (\n    f"long {b}"\n    "text")\nx = 1\n'
    )
    out = strip_assert_messages(src)
    assert out == "assert a == 1\n### BEGIN HIDDEN TESTS\nassert (b or\n  c)\nx = 1\n", out
    tree = ast.parse(out)
    assert all(n.msg is None for n in ast.walk(tree) if isinstance(n, ast.Assert))


# In the copy: the snapshot exercise's test checks nothing (its mutants must escape), ex2's test
# also checks ex1's function (ex1's mutants that fail it must show up as a cascade), ex3's asserts
# lose their messages (its mutants fail silently); mutants.py keeps only the first two mutants of
# those four exercises (fewer notebooks to run; every exercise is left with too few mutants; ex1's
# first one returns a tensor, which fails the line added to ex2's test).
# alternatives.py keeps one real alternative of ex1 and of ex2, and lists a WRONG answer to ex2 as
# an alternative between them (a test that rejects a valid answer looks the same to the gate): the
# first set of alternatives (ex1's and the wrong one) loses points, so its two alternatives are
# graded one by one and only the wrong one is rejected; the second set (ex2's real one) is accepted
# without being graded alone.
WEAKENED_TEST = "ex7_snapshot_test"
CASCADE_INTO, SILENCED = "ex2_variable_from_numpy_test", "ex3_make_step_counter_test"
WEAKENED = WEAKENED_TEST.split("_")[0]
KEPT = ("ex1", "ex2", "ex3", WEAKENED)
MUTANTS_KEPT = 2
REJECTED = dict(cell="ex2_variable_from_numpy", why="float64 stays float64", source="""
def variable_from_numpy(array):
    return tf.Variable(array)
""")


def answers_file(name: str, answers) -> str:
    """The text of a mutants.py (name MUTANTS) or alternatives.py (ALTERNATIVES) listing `answers`."""
    entries = ",\n".join(f"    dict(cell={a.cell!r}, why={a.why!r}, source={a.source!r})" for a in answers)
    return f"{name} = [\n{entries},\n]\n"


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    course = Course.repo().copy_authoring_files(tmp_path_factory.mktemp("broken") / "course")
    path = course.source_notebook(A01)
    nb = nbformat.read(path, as_version=4)
    weak = cell_by_id(nb, WEAKENED_TEST)
    weak.source = '"""Weakened: checks nothing."""\nsnap = snapshot(tf.Variable([3.0, 4.0]))\n'
    cascade = cell_by_id(nb, CASCADE_INTO)
    cascade.source = (
        'assert isinstance(make_bias(3), tf.Variable), "ex2 wrongly depends on ex1\'s make_bias"\n'
        + cascade.source
    )
    silenced = cell_by_id(nb, SILENCED)
    silenced.source = strip_assert_messages(silenced.source)
    nbformat.write(nb, path)

    mutants, per_exercise = [], {}
    for m in load_mutants(course.mutants_file(A01)):
        ex = exercise_of(m.cell)
        if ex in KEPT and per_exercise.get(ex, 0) < MUTANTS_KEPT:
            mutants.append(m)
            per_exercise[ex] = per_exercise.get(ex, 0) + 1
    course.mutants_file(A01).write_text(answers_file("MUTANTS", mutants))
    numbered = {i: m for i, m in enumerate(mutants, start=1)}

    real = load_alternatives(alternatives_file(course, A01))
    first = {ex: next(alt for alt in real if exercise_of(alt.cell) == ex) for ex in ("ex1", "ex2")}
    alternatives = [first["ex1"], Alternative(**REJECTED), first["ex2"]]
    alternatives_file(course, A01).write_text(answers_file("ALTERNATIVES", alternatives))
    proc = run_check(A01.id, "--course", str(course.root), "--verbose")
    return proc, numbered, course


def mutant_numbers(numbered: dict, exercise: str) -> list[int]:
    return [i for i, m in numbered.items() if exercise_of(m.cell) == exercise]


@pytest.mark.slow
def test_check_fails_on_the_broken_copy(broken):
    proc, *_ = broken
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED:" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_weakened_test_names_every_escaped_mutant(broken):
    proc, numbered, _ = broken
    escaped = problems(proc.stdout, "ESCAPED")
    expected = mutant_numbers(numbered, WEAKENED)
    for i in expected:
        assert any(f"mutant #{i} [{numbered[i].cell}]" in p and "escaped" in p for p in escaped), proc.stdout
    assert len(escaped) == len(expected), escaped  # nothing else escapes
    row = re.search(rf"^{A01.id}\s+{WEAKENED}\s+0/{len(expected)}\s.*<--$", proc.stdout, re.M)
    assert row, proc.stdout


@pytest.mark.slow
def test_test_depending_on_another_exercise_is_a_cascade(broken):
    proc, numbered, _ = broken
    cascades = problems(proc.stdout, "CASCADE")
    # the ex1 mutant that returns a tensor fails the line added to ex2's test
    tensor = next(
        i for i, m in numbered.items() if exercise_of(m.cell) == "ex1" and "tf.Variable" not in m.source
    )
    mine = [p for p in cascades if f"mutant #{tensor} [" in p]
    assert mine and CASCADE_INTO in mine[0] and "depends on ex1" in mine[0], proc.stdout
    culprits = [numbered[int(re.search(r"mutant #(\d+)", p).group(1))] for p in cascades]
    assert all(exercise_of(m.cell) == "ex1" for m in culprits), cascades


@pytest.mark.slow
def test_bare_asserts_are_reported_as_silent_failures(broken):
    proc, numbered, _ = broken
    silent = problems(proc.stdout, "SILENT")
    assert any(f"mutant #{i} [" in p for i in mutant_numbers(numbered, "ex3") for p in silent), proc.stdout
    assert all(SILENCED in p and "AssertionError with an empty message" in p for p in silent), silent
    # still caught (they lose their points), just without telling the student why
    n = len(mutant_numbers(numbered, "ex3"))
    assert re.search(rf"^{A01.id}\s+ex3\s+{n}/{n}\s", proc.stdout, re.M), proc.stdout


@pytest.mark.slow
def test_exercises_without_enough_mutants_are_named(broken):
    proc, *_ = broken
    few = problems(proc.stdout, "TOO FEW MUTANTS")
    left_out = sorted(set(exercise_points(read_notebook(Course.repo().source_notebook(A01)))) - set(KEPT))
    assert left_out, "the copy must leave some exercise without mutants"
    for ex in left_out:
        assert any(f" {ex} has 0 mutant(s)" in p for p in few), few
    for ex in KEPT:
        assert any(f" {ex} has {MUTANTS_KEPT} mutant(s)" in p for p in few), few
    assert len(few) == len(left_out) + len(KEPT), few


@pytest.mark.slow
def test_a_rejected_alternative_fails_the_gate_naming_exercise_and_message(broken):
    proc, *_ = broken
    rejected = problems(proc.stdout, "REJECTED ALTERNATIVE")
    assert len(rejected) == 1, proc.stdout
    assert "alternative #2 [ex2_variable_from_numpy] (float64 stays float64)" in rejected[0], rejected
    assert "valid answer to ex2" in rejected[0], rejected
    seen = "ex2_variable_from_numpy_test scores 0/2: AssertionError: dtype is float64"
    assert seen in rejected[0], rejected
    assert re.search(rf"^{A01.id}\s+ex2\s+\S+\s+\d+\s+1/2\s.*<--$", proc.stdout, re.M), proc.stdout
    assert re.search(rf"^{A01.id}\s+ex1\s+\S+\s+\d+\s+1/1\s", proc.stdout, re.M), proc.stdout
    assert not problems(proc.stdout, "ALTERNATIVES INTERFERE"), proc.stdout


@pytest.mark.slow
def test_alternatives_are_graded_one_by_one_only_when_their_set_loses_points(broken):
    proc, *_ = broken
    runs = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{A01.id} alternative")]
    assert any(ln.startswith(f"{A01.id} alternatives set 1 (#1 [ex1_make_bias], #2 [") for ln in runs), runs
    assert any(ln.startswith(f"{A01.id} alternatives set 2 (#3 [") and ln.endswith(": 0 failing test(s)")
               for ln in runs), runs
    alone = sorted(re.search(r"alternative #(\d+) ", ln).group(1) for ln in runs if " alternative #" in ln)
    assert alone == ["1", "2"], runs  # set 1's members; set 2 scored full marks, so #3 never ran alone
    assert any(" alternative #1 [ex1_make_bias]" in ln and ln.endswith(": 0 failing test(s)") for ln in runs)


@pytest.mark.slow
def test_exercises_without_enough_alternatives_are_named(broken):
    proc, *_ = broken
    few = problems(proc.stdout, "TOO FEW ALTERNATIVES")
    exercises = sorted(exercise_points(read_notebook(Course.repo().source_notebook(A01))))
    named = sorted(re.search(r" (ex\d+) has", p).group(1) for p in few)
    assert named == sorted(set(exercises) - {"ex2"}), few
    assert any(" ex1 has 1 alternative(s) in alternatives.py, needs at least 2" in p for p in few), few


@pytest.mark.slow
def test_the_solution_and_release_of_the_broken_copy_are_still_fine(broken):
    proc, *_ = broken
    total = A01.autograded_points
    assert f"{A01.id}: solution {total:g}/{total:g} points, release 0/{total:g}" in proc.stdout
    assert not problems(proc.stdout, "IMPERFECT SOLUTION") and not problems(proc.stdout, "RELEASE SCORES")


@pytest.mark.slow
def test_the_check_builds_elsewhere_and_leaves_the_course_alone(broken):
    _, _, course = broken
    made = ("release", "submitted", "autograded", "gradebook.db")
    leftovers = [n for n in made if (course.root / n).exists()]
    assert not leftovers, leftovers


# --- the verdicts, on made-up grading results (no kernel needed) -------------------------------------


def judge(cells_by_student: dict[str, list[tuple[str, float, float, str]]], flags=()):
    """Judge made-up results of a 2-exercise assignment with one mutant per exercise."""
    from types import SimpleNamespace

    from autograder.check import CellOutcome, CheckReport, RunOutcome, _judge, _Plan
    from autograder.synth import Mutant

    cells = {("nb.ipynb", "ex1_f"): "ex1", ("nb.ipynb", "ex2_g"): "ex2"}
    authoring = SimpleNamespace(assignment=A01, points={"ex1": 1.0, "ex2": 2.0}, exercise_of=cells)
    plan = _Plan(authoring, [(1, Mutant("ex1_f", "wrong f", ""), ("nb.ipynb", "ex1_f")),
                             (2, Mutant("ex2_g", "wrong g", ""), ("nb.ipynb", "ex2_g"))])  # fmt: skip
    runs = {}
    for student, cells in cells_by_student.items():
        index = {"mutant-01": 1, "mutant-02": 2}.get(student, 0)
        mutant = {i: m for i, m, _ in plan.mutants}.get(index)
        run = RunOutcome(A01.id, student, mutant, index, flags=list(flags) if student == "solution" else [])
        for gid, score, mx, msg in cells:
            kind, message = classify_failure([err(*msg.split(": ", 1))]) if score < mx else ("", "")
            run.cells.append(CellOutcome(gid, score, mx, kind, message, exercise_of(gid)))
        runs[student] = run
    report = CheckReport(runs=list(runs.values()))
    _judge(plan, runs, report)
    return report


FULL = [("ex1_f_test", 1, 1, ""), ("ex2_g_test", 2, 2, "")]
ZERO = [("ex1_f_test", 0, 1, "NameError: name 'f' is not defined"), ("ex2_g_test", 0, 2, "NameError: no g")]


def test_a_clean_assignment_has_no_problem():
    report = judge({
        "solution": FULL, "release": ZERO,
        "mutant-01": [("ex1_f_test", 0, 1, "AssertionError: f is wrong"), ("ex2_g_test", 2, 2, "")],
        "mutant-02": [("ex1_f_test", 1, 1, ""), ("ex2_g_test", 0, 2, "TypeError: g returned None")],
    })
    assert report.ok, report.problems
    rows = [(r.exercise, r.caught, r.total, r.crash_only) for r in report.rows]
    assert rows == [("ex1", 1, 1, 0), ("ex2", 1, 1, 1)]  # ex2's mutant was caught by a TypeError
    text = "\n".join(format_report(report))
    assert "OK:" in text and re.search(r"^all\s+2/2 \(100%\)", text, re.M), text
    seen = format_runs(report)  # --verbose: what a student sees for each submission
    at = seen.index(f"{A01.id} mutant #2 [ex2_g] (wrong g): 1 failing test(s)")
    assert seen[at + 1] == "    ex2_g_test [crash] TypeError: g returned None", seen


def test_imperfect_solution_release_that_scores_and_missing_results_are_problems():
    report = judge({
        "solution": [("ex1_f_test", 1, 1, ""), ("ex2_g_test", 0, 2, "AssertionError: off by one")],
        "release": [("ex1_f_test", 1, 1, ""), ("ex2_g_test", 0, 2, "NameError: no g")],
        "mutant-01": [("ex1_f_test", 0, 1, "AssertionError: f is wrong"), ("ex2_g_test", 2, 2, "")],
    }, flags=["ex1_f_test: sys.excepthook was replaced"])
    kinds = sorted(p.kind for p in report.problems)
    assert kinds == ["flagged", "grading error", "imperfect solution", "release scores"], report.problems
    text = "\n".join(format_report(report))
    assert "FAILED: 4 problem(s)" in text and text.index("GRADING ERROR") < text.index("FLAGGED"), text
    imperfect = str(report.problems_of("imperfect solution")[0])
    assert "ex2_g_test scores 0/2: AssertionError: off by one" in imperfect
    assert "mutant-02" in str(report.problems_of("grading error")[0])
    assert not report.ok


def test_rejected_and_interfering_alternatives_are_problems():
    """Set 1 (#1, #2) loses points on ex2 and #2 alone does too: #2 is rejected, #1 accepted. Set 2
    (#3, #4) loses points on ex1 although each alone scores full points: they interfere."""
    from types import SimpleNamespace

    from autograder.check import CellOutcome, CheckReport, RunOutcome, _judge, _Plan

    alts = [(i, Alternative(f"ex{2 - i % 2}_f", f"other {i}", "")) for i in (1, 2, 3, 4)]
    cells = {("nb.ipynb", "ex1_f"): "ex1", ("nb.ipynb", "ex2_f"): "ex2"}
    authoring = SimpleNamespace(assignment=A01, points={"ex1": 1.0, "ex2": 2.0}, exercise_of=cells)
    plan = _Plan(authoring, [], [(i, alt, ("nb.ipynb", alt.cell)) for i, alt in alts])
    assert [[i for i, _, _ in members] for members in plan.alternative_sets] == [[1, 2], [3, 4]]
    lost_ex1 = [("ex1_f_test", 0, 1, "AssertionError: f is off"), ("ex2_f_test", 2, 2, "")]
    lost_ex2 = [("ex1_f_test", 1, 1, ""), ("ex2_f_test", 0, 2, "AssertionError: g is off")]
    full = [("ex1_f_test", 1, 1, ""), ("ex2_f_test", 2, 2, "")]
    results = {
        "solution": (full, (), 0),
        "release": ([("ex1_f_test", 0, 1, "NameError: f"), ("ex2_f_test", 0, 2, "NameError: g")], (), 0),
        "alternatives-1": (lost_ex2, (alts[0], alts[1]), 1),
        "alternative-01": (full, (alts[0],), 0),
        "alternative-02": (lost_ex2, (alts[1],), 0),
        "alternatives-2": (lost_ex1, (alts[2], alts[3]), 2),
        "alternative-03": (full, (alts[2],), 0),
        "alternative-04": (full, (alts[3],), 0),
    }
    runs = {}
    for student, (cells, members, k) in results.items():
        run = RunOutcome(A01.id, student, alternatives=members, set_index=k)
        for gid, score, mx, msg in cells:
            kind, message = classify_failure([err(*msg.split(": ", 1))]) if score < mx else ("", "")
            run.cells.append(CellOutcome(gid, score, mx, kind, message, exercise_of(gid)))
        runs[student] = run
    report = CheckReport(runs=list(runs.values()))
    _judge(plan, runs, report)
    kinds = sorted(p.kind for p in report.problems if p.kind != "too few mutants")
    assert kinds == ["alternatives interfere", "rejected alternative"], report.problems
    rejected = str(report.problems_of("rejected alternative")[0])
    assert "alternative #2 [ex2_f] (other 2) is a valid answer to ex2, but " in rejected
    assert "ex2_f_test scores 0/2: AssertionError: g is off" in rejected
    interfere = str(report.problems_of("alternatives interfere")[0])
    assert "alternatives set 2 (#3 [ex1_f], #4 [ex2_f]) loses points on ex1_f_test" in interfere
    assert [(r.exercise, r.accepted, r.alternatives) for r in report.rows] == [("ex1", 2, 2), ("ex2", 1, 2)]
    table = "\n".join(format_report(report))
    assert re.search(r"^all\s+0/0 caught, 3/4 \(75%\) alternatives accepted", table, re.M), table
