"""The gradebook on PostgreSQL: a URL in NBGRADER_DB_URL works unchanged for build, grade, report, feedback.

A throw-away PostgreSQL server (`autograder.pgserver`: Debian package `postgresql`, installed by
.ci/system-deps) is started for the module on a Unix socket only (no TCP port), with its data in a
temporary directory; the course's nbgrader_config.py reads NBGRADER_DB_URL, and nothing else is
configured.
"""

from __future__ import annotations

import pytest
from exercises import exercise_of
from nbgrader.api import Gradebook

from autograder.batch import grade_batch
from autograder.build import build
from autograder.coursedir import CourseError, exercise_points, read_notebook
from autograder.feedback import generate_feedback
from autograder.pgserver import postgres_bindir, throwaway_postgres
from autograder.report import collect
from autograder.synth import fill_in, load_mutants, solution_answers, write_submission
from course.syllabus import ASSIGNMENTS

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

FIRST = ASSIGNMENTS[0]


@pytest.fixture(scope="module")
def postgres_url():
    try:
        postgres_bindir()
    except CourseError as e:  # missing PostgreSQL fails the test, never skips it
        pytest.fail(str(e))
    with throwaway_postgres() as url:
        yield url


def test_build_grade_report_feedback_on_postgresql(repo, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("NBGRADER_DB_URL", postgres_url)  # nbgrader_config.py reads it, as documented
    course = repo.copy_authoring_files(tmp_path / "course")
    build(course, [FIRST], log=lambda *_: None)  # stock nbgrader generate_assignment, in a subprocess
    release = read_notebook(course.release_notebook(FIRST))
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))
    wrong = next(m for m in load_mutants(course.mutants_file(FIRST)) if exercise_of(m.cell) == "ex2")
    write_submission(course, FIRST, "ann", fill_in(release, solution))
    write_submission(course, FIRST, "bob", fill_in(release, {**solution, wrong.cell: wrong.source}))

    summary = grade_batch(course, [FIRST.id], workers=2, progress=False)
    assert len(summary.graded) == 2 and not summary.failed and not summary.errors, summary
    assert not list(course.root.glob("*.db")), "no sqlite gradebook was created"

    points = exercise_points(read_notebook(course.source_notebook(FIRST)))
    expected = {"ann": sum(points.values()), "bob": sum(points.values()) - points["ex2"]}
    with Gradebook(postgres_url, "tf-variables") as gb:
        stored = {s: gb.find_submission(FIRST.id, s).code_score for s in expected}
    assert stored == expected

    report = collect(course, [FIRST.id])
    assert report.db_url.startswith("postgresql+psycopg2://grader@/gradebook")
    assert {s.student: s.auto_score for s in report.assignments[0].submissions} == expected

    written = generate_feedback(course, [FIRST.id]).written
    assert sorted(p.parent.parent.name for p in written) == ["ann", "bob"]
    assert not list(course.root.glob("*.db"))
