"""End to end through stock nbgrader: the built course, three students submit every assignment,
`nbgrader autograde`, `nbgrader export` (the `standard_class` fixture of conftest.py)."""

from __future__ import annotations

import csv

import pytest
from exercises import exercise_of

from autograder.coursedir import exercise_points, read_notebook
from autograder.nbgrader_cli import export_grades
from autograder.stock import autograded_score
from autograder.synth import standard_profiles

pytestmark = pytest.mark.two_cores


def test_scores_of_solution_blank_and_typical_mistakes(standard_class, assignment):
    course = standard_class.course
    points = exercise_points(read_notebook(course.source_notebook(assignment)))
    profiles = standard_profiles(course, assignment)
    assert {p.name for p in profiles} == {"solution", "blank", "mistakes"}
    for p in profiles:
        cells = autograded_score(course.db_url, assignment.id, p.name)
        assert {exercise_of(g) for g in cells} == set(points), f"{p.name}: not every test was graded"
        for grade_id, score in cells.items():
            if p.blank or exercise_of(grade_id) in p.wrong_exercises:
                assert score == 0, f"{p.name}: {grade_id} scored {score}, expected 0"
            else:
                assert score > 0, f"{p.name}: {grade_id} lost its points (stderr noise?)"
        expected = standard_class.expected[assignment.id][p.name]
        assert sum(cells.values()) == expected, p.name
        if p.blank:
            assert expected == 0
        if p.name == "solution":
            assert expected == sum(points.values()) == assignment.autograded_points
        if p.name == "mistakes":
            assert p.wrong_exercises and 0 < expected < sum(points.values())


def test_export_lists_every_student_with_the_gradebook_score(standard_class, tmp_path):
    course = standard_class.course
    rows = list(csv.DictReader(export_grades(course.root, tmp_path / "grades.csv").open()))
    by_student = {(r["assignment"], r["student_id"]): float(r["score"]) for r in rows}
    expected = {
        (a, student): sum(autograded_score(course.db_url, a, student).values())
        for a, students in standard_class.expected.items()
        for student in students
    }
    assert expected and set(by_student) == set(expected)
    for key, score in expected.items():
        assert by_student[key] == score, key  # written answers are ungraded: the export is auto points
