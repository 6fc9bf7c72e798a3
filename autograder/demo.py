"""`demo`: the instructor's job end to end on synthetic students, with stock nbgrader.

Builds a throw-away course in `.demo/` (never committed), submits the three standard students
(solution, blank release, typical mistakes) for every assignment, autogrades with nbgrader and
prints each student's autograded score next to the score it should have.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.coursedir import CourseDir, exercise_points, read_notebook
from autograder.nbgrader_cli import autograde, export_grades, generate_assignment
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


def grade_standard_students(course: CourseDir, a: Assignment) -> list[Outcome]:
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


def run_demo(repo: CourseDir, assignments: list[Assignment], workdir: Path, log=print) -> bool:
    if workdir.exists():
        shutil.rmtree(workdir)
    course = repo.copy_authoring_files(workdir)
    ok = True
    log(f"{'assignment':28s} {'student':10s} {'score':>7s} {'expected':>9s}")
    for a in assignments:
        for o in grade_standard_students(course, a):
            mark = "ok" if abs(o.score - o.expected) < 1e-9 else "MISMATCH"
            ok &= mark == "ok"
            log(
                f"{o.assignment:28s} {o.student:10s} {o.score:>7g} {o.expected:>9g}"
                f"  of {o.max_score:g} {mark}"
            )
    grades = export_grades(course.root, workdir / "grades.csv")
    log(f"gradebook: {workdir / 'gradebook.db'}   export: {grades}")
    return ok
