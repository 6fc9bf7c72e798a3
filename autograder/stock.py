"""Grading with STOCK nbgrader (`nbgrader autograde` as a subprocess), for comparisons and tests.

The engine (`autograder.grading`) must give the same scores as stock nbgrader; the end-to-end
test (tests/test_nbgrader_e2e.py) and the benchmark (`autograder.bench`) grade with stock
nbgrader through these helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbgrader.api import Gradebook

from autograder.coursedir import CourseDir, exercise_points, read_notebook
from autograder.nbgrader_cli import autograde, generate_assignment
from autograder.synth import fill_in, standard_profiles, write_submission
from course.syllabus import Assignment


@dataclass(frozen=True)
class Outcome:
    assignment: str
    student: str
    score: float  # autograded points earned
    expected: float
    max_score: float


def autograded_score(gradebook_url: str, assignment_id: str, student: str) -> dict[str, float]:
    """grade_id -> points of every autograded cell, as nbgrader stored them."""
    with Gradebook(gradebook_url) as gb:
        sub = gb.find_submission(assignment_id, student)
        return {
            g.name: g.score
            for nb in sub.notebooks
            for g in nb.grades
            if g.cell.cell_type == "code"
        }


def gradebook_cell_scores(gradebook_url: str, course_id: str | None = None) -> dict[tuple, float | None]:
    """(assignment, student, notebook, grade_id) -> auto score of every autograded code cell."""
    out: dict[tuple, float | None] = {}
    args = (gradebook_url, course_id) if course_id else (gradebook_url,)
    with Gradebook(*args) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        if g.cell.cell_type == "code":
                            out[(a.name, sub.student.id, nb.name, g.name)] = g.auto_score
    return out


def grade_standard_students(course: CourseDir, a: Assignment) -> list[Outcome]:
    """Release `a`, submit the solution/blank/mistakes students, autograde them with stock nbgrader."""
    generate_assignment(course.root, a.id)
    release = read_notebook(course.release_notebook(a))
    per_exercise = exercise_points(read_notebook(course.source_notebook(a)))
    total = sum(per_exercise.values())
    outcomes = []
    for p in standard_profiles(course, a):
        student = f"{a.number:02d}-{p.name}"
        write_submission(course, a, student, fill_in(release, p.answers))
        autograde(course.root, a.id, student)
        scores = autograded_score(course.gradebook_url, a.id, student)
        expected = 0.0 if p.blank else total - sum(per_exercise[e] for e in p.wrong_exercises)
        outcomes.append(Outcome(a.id, p.name, sum(scores.values()), expected, total))
    return outcomes
