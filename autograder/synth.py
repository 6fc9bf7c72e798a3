"""Synthetic submissions: what a student would hand in, made from the course's own notebooks.

A submission starts from the *release* notebook (so nbgrader's checksums and cell ids are the
ones students get) and fills solution cells with answers: the instructor's solutions, nothing
(the blank release), or the wrong answers listed in `source/<assignment>/mutants.py`.
"""

from __future__ import annotations

import copy
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.coursedir import CourseDir, CourseError, exercise_of, read_notebook
from course.syllabus import Assignment

_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


@dataclass(frozen=True)
class Mutant:
    """A wrong answer students really write: `source` replaces solution cell `cell`."""

    cell: str
    why: str
    source: str

    @property
    def exercise(self) -> str | None:
        return exercise_of(self.cell)


def strip_markers(source: str) -> str:
    """The solution as a student would have typed it: the code without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def solution_answers(source_nb: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> the instructor's answer, for every solution cell of a source notebook."""
    answers = {}
    for cell in source_nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            answers[meta["grade_id"]] = strip_markers(cell.source)
    return answers


def fill_in(release_nb: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the release notebook with the given solution cells answered."""
    nb = copy.deepcopy(release_nb)
    unknown = set(answers)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
            unknown.discard(grade_id)
    if unknown:
        raise CourseError(f"no solution cell with grade id {sorted(unknown)} in the release")
    return nb


def load_mutants(path: Path) -> list[Mutant]:
    """The wrong answers listed in an assignment's mutants.py (a list of dicts named MUTANTS)."""
    if not path.exists():
        return []
    try:
        entries = runpy.run_path(str(path))["MUTANTS"]
        return [Mutant(e["cell"], e["why"], e["source"].strip("\n")) for e in entries]
    except (KeyError, TypeError, SyntaxError) as e:
        raise CourseError(f"{path}: expected MUTANTS = [dict(cell=, why=, source=), ...] ({e})") from None


@dataclass(frozen=True)
class Profile:
    """One synthetic student: which answers they give and which exercises they get wrong."""

    name: str
    answers: dict[str, str]
    wrong_exercises: frozenset[str]
    blank: bool = False


def standard_profiles(course: CourseDir, a: Assignment) -> list[Profile]:
    """The three students of the end-to-end check: solution, blank, typical mistakes.

    The mistakes student makes the first listed wrong answer in every other exercise, so the
    points it loses are exactly those exercises' points if the exercises are independent.
    """
    solution = solution_answers(read_notebook(course.source_notebook(a)))
    mutants = load_mutants(course.mutants_file(a))
    first_per_exercise: dict[str, Mutant] = {}
    for m in mutants:
        first_per_exercise.setdefault(m.exercise, m)
    chosen = list(first_per_exercise.values())[::2]
    mistakes = dict(solution)
    mistakes.update({m.cell: m.source for m in chosen})
    return [
        Profile("solution", solution, frozenset()),
        Profile("blank", {}, frozenset(), blank=True),
        Profile("mistakes", mistakes, frozenset(m.exercise for m in chosen)),
    ]


def write_submission(course: CourseDir, a: Assignment, student: str, nb) -> Path:
    path = course.submitted_notebook(a, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
