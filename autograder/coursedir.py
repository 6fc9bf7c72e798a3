"""The course directory: where nbgrader_config.py, source/ and release/ live, and what is in them.

Everything that needs an assignment's name or a notebook's graded cells asks this module, which
reads the assignment list from `course.syllabus` and the cells from the notebooks themselves.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:  # the course's syllabus is read only where assignments are named (not in kernels)
    from course.syllabus import Assignment

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "nbgrader_config.py"
_EXERCISE = re.compile(r"^(ex\d+)_")


class CourseError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""


def exercise_of(grade_id: str) -> str | None:
    """`ex3_make_counter_test` -> `ex3`; cells outside exercises (setup) -> None."""
    m = _EXERCISE.match(grade_id)
    return m.group(1) if m else None


@dataclass(frozen=True)
class GradedCell:
    grade_id: str
    cell_type: str  # "code" or "markdown"
    points: float
    is_solution: bool
    is_test: bool  # graded: carries points

    @property
    def exercise(self) -> str | None:
        return exercise_of(self.grade_id)

    @property
    def autograded(self) -> bool:
        return self.is_test and self.cell_type == "code"


def nbgrader_cells(nb: nbformat.NotebookNode) -> list[GradedCell]:
    """The nbgrader cells of a notebook (solution and/or graded), in order."""
    cells = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("solution") or meta.get("grade")):
            continue
        cells.append(
            GradedCell(
                grade_id=meta["grade_id"],
                cell_type=cell.cell_type,
                points=float(meta.get("points", 0) or 0),
                is_solution=bool(meta.get("solution")),
                is_test=bool(meta.get("grade")),
            )
        )
    return cells


def exercise_points(nb: nbformat.NotebookNode, *, autograded_only: bool = True) -> dict[str, float]:
    """Points per exercise (`ex1` -> 1.0), from the notebook's graded cells."""
    points: dict[str, float] = {}
    for cell in nbgrader_cells(nb):
        if cell.is_test and (cell.autograded or not autograded_only) and cell.exercise:
            points[cell.exercise] = points.get(cell.exercise, 0.0) + cell.points
    return points


@dataclass(frozen=True)
class CourseDir:
    """A course root: the repository itself, or a temporary copy of it."""

    root: Path

    @classmethod
    def repo(cls) -> CourseDir:
        return cls(REPO_ROOT)

    def source_notebook(self, a: Assignment) -> Path:
        return self.root / "source" / a.id / a.notebook

    def release_notebook(self, a: Assignment) -> Path:
        return self.root / "release" / a.id / a.notebook

    def submitted_notebook(self, a: Assignment, student: str) -> Path:
        return self.root / "submitted" / student / a.id / a.notebook

    def mutants_file(self, a: Assignment) -> Path:
        return self.root / "source" / a.id / "mutants.py"

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def copy_authoring_files(self, dest: Path) -> CourseDir:
        """A fresh course at `dest` with this course's config and source/ (no release, no grades)."""
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.root / CONFIG_FILE, dest / CONFIG_FILE)
        shutil.copytree(
            self.root / "source",
            dest / "source",
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        return CourseDir(dest)


def resolve_assignments(ids: list[str] | None) -> list[Assignment]:
    """The syllabus assignments named by `ids` (all of them when empty), or a CourseError."""
    from course.syllabus import ASSIGNMENTS, assignment

    if not ids:
        return list(ASSIGNMENTS)
    try:
        return [assignment(i) for i in ids]
    except KeyError as e:
        raise CourseError(e.args[0]) from None


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise CourseError(f"notebook not found: {path}") from None
