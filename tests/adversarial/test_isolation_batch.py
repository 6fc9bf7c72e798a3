"""Students cannot reach each other, the fork server, or the hidden tests' text.

One batch, one worker: a single sandboxed, guarded `Grader` (one fork server) grades every attack
of tests/adversarial/isolation_cases.py, each followed by an honest student. Each attacker must
get its expected score and flag and show its own failed attempt; the honest student graded right
after it must score, and see (its diagnostic cell: TensorFlow's version, /tmp, visible
processes), exactly what an honest student graded alone does; no hidden-test line may appear in
any output of any autograded notebook.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from adversarial.isolation_cases import ASSIGNMENT, CASES, DIAGNOSTIC, NOTEBOOK, Case, honest
from autograder.coursedir import Course, exercise_points, read_notebook
from autograder.engine.grading import Grader
from autograder.engine.redact import HiddenText
from autograder.engine.sandbox import require_bwrap
from autograder.synth import fill_in, solution_answers
from course.syllabus import assignment

pytestmark = pytest.mark.slow


def diagnostic_output(nb) -> str:
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source == DIAGNOSTIC)
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


@pytest.fixture(scope="module")
def batch(built_course, tmp_path_factory):
    require_bwrap()
    root = tmp_path_factory.mktemp("isolation") / "course"
    skip = shutil.ignore_patterns("submitted", "autograded", "feedback")
    shutil.copytree(built_course.root, root, ignore=skip)
    course = Course(root)
    a = assignment(ASSIGNMENT)
    solution = fill_in(
        read_notebook(course.release_notebook(a)), solution_answers(read_notebook(course.source_notebook(a)))
    )
    order = ["honest-alone"]
    submissions = {"honest-alone": honest(solution)}
    for case in CASES:
        submissions[f"attack-{case.name}"] = case.spoil(solution)
        submissions[f"honest-after-{case.name}"] = honest(solution)
        order += [f"attack-{case.name}", f"honest-after-{case.name}"]
    for student, nb in submissions.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
    results = {}
    with Grader(Course(root)) as alone:  # a fresh fork server: what an honest student sees on its own
        results["honest-alone"] = alone.grade(ASSIGNMENT, "honest-alone")
    with Grader(Course(root)) as grader:  # ONE worker for the whole batch
        for student in order[1:]:
            results[student] = grader.grade(ASSIGNMENT, student)

    def autograded(student):
        return read_notebook(root / "autograded" / student / ASSIGNMENT / NOTEBOOK)

    return {
        "results": results,
        "autograded": autograded,
        "points": exercise_points(read_notebook(course.source_notebook(a))),
        "secret": HiddenText.of(read_notebook(course.source_notebook(a))),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_attack_is_defeated_and_the_next_student_is_untouched(batch, case: Case):
    results, alone = batch["results"], batch["results"]["honest-alone"]
    rec = results[f"attack-{case.name}"]
    detail = (rec.status, rec.score, rec.reason, rec.flags)
    assert rec.status == "graded", detail
    if case.score == "solution":
        expected = alone.score
    elif case.score == "zero":
        expected = 0
    else:
        expected = alone.score - batch["points"][case.score.split(":")[1]]
    assert rec.score == expected, detail
    assert bool(rec.flags) == case.flagged, detail
    attacker = batch["autograded"](f"attack-{case.name}")
    if case.shows:
        shown = "".join(o.get("text", "") for c in attacker.cells for o in c.get("outputs", []))
        assert case.shows in shown, shown[-2000:]

    after = results[f"honest-after-{case.name}"]
    assert (after.status, after.score, after.scores(), after.flags) == (
        alone.status, alone.score, alone.scores(), alone.flags
    ), (after.reason, after.flags)
    assert diagnostic_output(batch["autograded"](f"honest-after-{case.name}")) == diagnostic_output(
        batch["autograded"]("honest-alone")
    )


def test_no_hidden_test_text_in_any_autograded_output(batch):
    secret = batch["secret"]
    assert secret, "the assignment has hidden tests"
    for student in batch["results"]:
        nb = batch["autograded"](student)
        for i, cell in enumerate(nb.cells):
            for o in cell.get("outputs", []):
                texts = [o.get("text", ""), o.get("evalue", ""), *o.get("traceback", [])]
                texts += [str(v) for k, v in o.get("data", {}).items() if not k.startswith("image/")]
                for text in texts:
                    assert not secret.shows(text), (student, i, text[:500])
