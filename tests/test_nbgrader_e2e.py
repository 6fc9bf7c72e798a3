"""End to end through stock nbgrader: generate, submit three students, autograde, export."""

from __future__ import annotations

import csv

import pytest

from autograder.coursedir import CourseDir, exercise_of, exercise_points, read_notebook
from autograder.nbgrader_cli import export_grades
from autograder.stock import autograded_score, grade_standard_students
from autograder.synth import standard_profiles


@pytest.fixture(scope="module")
def graded(built_course: CourseDir, request):
    from course.syllabus import ASSIGNMENTS

    return {a.id: grade_standard_students(built_course, a) for a in ASSIGNMENTS}


def test_scores_of_solution_blank_and_typical_mistakes(built_course, graded, assignment):
    points = exercise_points(read_notebook(built_course.source_notebook(assignment)))
    total = sum(points.values())
    profiles = {p.name: p for p in standard_profiles(built_course, assignment)}
    assert profiles["mistakes"].wrong_exercises, "the mistakes student must get something wrong"
    for outcome in graded[assignment.id]:
        cells = autograded_score(built_course.gradebook_url, assignment.id,
                                 f"{assignment.number:02d}-{outcome.student}")
        wrong = profiles[outcome.student].wrong_exercises
        for grade_id, score in cells.items():
            ex = exercise_of(grade_id)
            if outcome.student == "blank" or ex in wrong:
                assert score == 0, f"{outcome.student}: {grade_id} scored {score}, expected 0"
            else:
                assert score > 0, f"{outcome.student}: {grade_id} lost its points (stderr noise?)"
        assert outcome.score == outcome.expected, outcome
    solution = next(o for o in graded[assignment.id] if o.student == "solution")
    assert solution.score == total


def test_export_lists_every_student_with_the_gradebook_score(built_course, graded, tmp_path):
    rows = list(csv.DictReader(export_grades(built_course.root, tmp_path / "grades.csv").open()))
    by_student = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    for assignment_id, outcomes in graded.items():
        for o in outcomes:
            number = assignment_id.split("_")[0]
            assert by_student[(assignment_id, f"{number}-{o.student}")] == o.score
