"""The standard class: the solution, blank and mistakes students of every assignment.

Graded once per test session by stock `nbgrader autograde` (the `standard_class` fixture of
conftest.py): the end-to-end test asserts its scores and export, the engine's tests compare
their own grades with it.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook

from autograder.coursedir import Course, CourseError, exercise_points, read_notebook
from autograder.nbgrader_cli import autograde
from autograder.synth import fill_in, standard_profiles, write_submission
from course.syllabus import ASSIGNMENTS


def copy_course(built: Course, dest: Path, *, gradebook: bool = True, extra_config: str = "") -> Course:
    """A copy of the built course (config, source, release, gradebook) without any submission."""
    ignore = ["submitted", "autograded", "feedback"] + ([] if gradebook else ["gradebook.db"])
    shutil.copytree(built.root, dest, ignore=shutil.ignore_patterns(*ignore))
    if extra_config:
        with open(dest / "nbgrader_config.py", "a") as f:
            f.write("\n" + extra_config)
    return Course(dest)


def submit_standard_class(course: Course) -> dict[str, dict[str, float]]:
    """Every assignment submitted by solution/blank/mistakes students; returns expected scores."""
    expected: dict[str, dict[str, float]] = {}
    for a in ASSIGNMENTS:
        release = read_notebook(course.release_notebook(a))
        points = exercise_points(read_notebook(course.source_notebook(a)))
        for p in standard_profiles(course, a):
            write_submission(course, a, p.name, fill_in(release, p.answers))
            lost = sum(points.values()) if p.blank else sum(points[e] for e in p.wrong_exercises)
            expected.setdefault(a.id, {})[p.name] = sum(points.values()) - lost
    return expected


def gradebook_scores(course: Course) -> dict[tuple, tuple]:
    """(assignment, student, notebook, grade_id) -> (auto_score, max_score, needs_manual_grade)."""
    out = {}
    with Gradebook(course.db_url, "tf-variables") as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        out[(a.name, sub.student.id, nb.name, g.name)] = (
                            g.auto_score,
                            g.max_score,
                            g.needs_manual_grade,
                        )
    return out


@dataclass(frozen=True)
class StandardClass:
    course: Course  # graded by stock nbgrader: gradebook, autograded/
    expected: dict[str, dict[str, float]]  # assignment -> student -> autograded points deserved


def grade_with_stock_nbgrader(built: Course, dest: Path) -> StandardClass:
    """Submit the standard class to a copy of `built` and run `nbgrader autograde` on it."""
    course = copy_course(built, dest)
    expected = submit_standard_class(course)

    def stock_autograde(a):
        try:
            autograde(course.root, a.id)
            return None
        except CourseError as e:
            return a, e

    # One assignment per nbgrader process, two at once. Stock nbgrader sometimes fails on a loaded
    # machine (two processes on one sqlite file, a slow kernel start): retry those alone.
    with ThreadPoolExecutor(2) as pool:
        failed = [f for f in pool.map(stock_autograde, ASSIGNMENTS) if f]
    for a, _ in failed:
        autograde(course.root, a.id)
    return StandardClass(course, expected)
