"""The course: an nbgrader course directory, its configuration read once, its assignments.

Any nbgrader course works: `Course` knows nothing of this repository's own notebooks. The CLI
builds one `Course` per command and passes it down; nothing below re-reads the configuration.

* Configuration is read the way nbgrader reads it: ``nbgrader_config.py`` (and ``.json``) from
  the Jupyter config path (``/etc/jupyter``, ``<prefix>/etc/jupyter``, ``~/.jupyter`` ...) and
  then the course directory's own file, which wins. The engine's settings live there too, as
  traitlets sections nbgrader ignores (``c.Sandbox``, ``c.Kernels``, ``c.SubmissionFiles``,
  ``c.NotebookRunner``).
* Paths come from nbgrader's ``CourseDirectory.format_path`` (so ``c.CourseDirectory.*_directory``
  settings are honoured).
* Assignments are what nbgrader knows: the folders of ``source/`` holding notebooks, and the
  assignments of the gradebook. An assignment may have several notebooks.
* Exercises (for reports and the authoring gate) are what the notebook marks: an nbgrader
  answer cell and the autograded test cells after it, up to the next answer (`exercises`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "nbgrader_config.py"
_LABEL = re.compile(r"^(ex\d+)_")

__all__ = [
    "Assignment", "CONFIG_FILE", "Course", "CourseError", "Exercise", "GradedCell", "REPO_ROOT",
    "exercise_points", "exercises", "load_config", "nbgrader_cells", "read_notebook",
]  # fmt: skip


class CourseError(Exception):
    """A problem the user can fix; the CLI prints it as one line, without a traceback."""


def load_config(root: Path) -> Config:
    """The course's configuration as nbgrader sees it from `root` (see the module docstring)."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.application import Application

    if not (root / CONFIG_FILE).is_file():
        raise CourseError(f"no {CONFIG_FILE} in {root}: is this an nbgrader course directory?")
    config = Config()
    try:
        for part, _filename in Application._load_config_files(
            "nbgrader_config", path=[str(root), *jupyter_config_path()], raise_config_file_errors=True
        ):
            config.merge(part)
    except Exception as e:  # the file is Python: report any error in it as the user's to fix
        raise CourseError(
            f"cannot load the nbgrader configuration of {root}: {type(e).__name__}: {e}"
        ) from None
    return config


# --- notebooks, cells, exercises ----------------------------------------------------------------


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise CourseError(f"notebook not found: {path}") from None


@dataclass(frozen=True)
class GradedCell:
    """An nbgrader cell: an answer (``solution``), a graded cell (``grade``: points), or both."""

    grade_id: str
    cell_type: str  # "code" or "markdown"
    points: float
    is_solution: bool
    is_test: bool  # graded: carries points

    @property
    def autograded(self) -> bool:
        """Scored by running it: an autograder test (graded code cell that is not an answer)."""
        return self.is_test and not self.is_solution and self.cell_type == "code"

    @property
    def manual(self) -> bool:
        """Scored by a person in formgrader: a graded answer (code or text) or a task."""
        return self.is_test and not self.autograded


def nbgrader_cells(nb: nbformat.NotebookNode) -> list[GradedCell]:
    """The nbgrader cells of a notebook (answers and graded cells), in order."""
    from nbgrader.utils import is_grade, is_solution

    cells = []
    for cell in nb.cells:
        if not (is_solution(cell) or is_grade(cell)):
            continue
        meta = cell.metadata["nbgrader"]
        cells.append(
            GradedCell(
                grade_id=meta["grade_id"],
                cell_type=cell.cell_type,
                points=float(meta.get("points", 0) or 0) if is_grade(cell) else 0.0,
                is_solution=is_solution(cell),
                is_test=is_grade(cell),
            )
        )
    return cells


@dataclass(frozen=True)
class Exercise:
    """An answer cell and the graded cells that follow it (up to the next answer).

    `label` is a short name for tables: the ``exN`` prefix its cells share (this course names its
    cells ``ex3_make_counter``, ``ex3_make_counter_test``), else the answer cell's grade id.
    """

    label: str
    answer: str | None  # grade id of the answer cell (None: graded cells before any answer)
    cells: tuple[GradedCell, ...]  # every graded cell of the exercise, the answer included

    @property
    def autograded_points(self) -> float:
        return sum(c.points for c in self.cells if c.autograded)

    @property
    def manual_points(self) -> float:
        return sum(c.points for c in self.cells if c.manual)

    @property
    def grade_ids(self) -> tuple[str, ...]:
        return tuple(c.grade_id for c in self.cells)


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The exercises of a notebook, in order (see `Exercise`)."""
    groups: list[list[GradedCell]] = []
    for cell in nbgrader_cells(nb):
        if cell.is_solution or not groups:
            groups.append([cell])
        else:
            groups[-1].append(cell)
    out = []
    for group in groups:
        answer = group[0].grade_id if group[0].is_solution else None
        prefixes = {m.group(1) for c in group if (m := _LABEL.match(c.grade_id))}
        whole = len(prefixes) == 1 and all(_LABEL.match(c.grade_id) for c in group)
        label = prefixes.pop() if whole else (answer or group[0].grade_id)
        out.append(Exercise(label, answer, tuple(group)))
    return [e for e in out if any(c.is_test for c in e.cells)]


def exercise_points(nb: nbformat.NotebookNode, *, autograded_only: bool = True) -> dict[str, float]:
    """Points per exercise label: autograded ones (or all, hand-graded included); exercises
    without any are left out."""
    points = {e.label: e.autograded_points + (0 if autograded_only else e.manual_points)
              for e in exercises(nb)}  # fmt: skip
    return {label: p for label, p in points.items() if p > 0}


# --- the course ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """An nbgrader assignment: its id and the names of its notebooks (``name.ipynb``)."""

    id: str
    notebooks: tuple[str, ...]

    @property
    def notebook(self) -> str:
        """The notebook of a one-notebook assignment (most of them)."""
        if len(self.notebooks) != 1:
            raise CourseError(f"assignment {self.id} has {len(self.notebooks)} notebooks, not one")
        return self.notebooks[0]


class Course:
    """One nbgrader course directory (see the module docstring). `config` is read once."""

    def __init__(self, root: str | Path, config: Config | None = None) -> None:
        self.root = Path(root).resolve()
        self.config = config if config is not None else load_config(self.root)

    @classmethod
    def repo(cls) -> Course:
        """This repository's own course."""
        return cls(REPO_ROOT)

    def __repr__(self) -> str:
        return f"Course({str(self.root)!r})"

    def __reduce__(self):  # workers get the same configuration, not a fresh read
        return (Course, (self.root, self.config))

    # -- nbgrader's view --

    def coursedir(self, assignment: str = "", student: str = "*") -> CourseDirectory:
        """nbgrader's CourseDirectory for this course (the object its converters take)."""
        cd = CourseDirectory(config=self.config, root=str(self.root))
        cd.assignment_id = assignment
        cd.student_id = student
        return cd

    @property
    def db_url(self) -> str:
        return self.coursedir().db_url

    @property
    def course_id(self) -> str:
        return self.coursedir().course_id

    def folder(self, kind: str, student: str = ".", assignment: str = ".") -> Path:
        """``kind``: "source", "release", "submitted", "autograded" or "feedback"."""
        cd = self.coursedir()
        return Path(cd.format_path(getattr(cd, f"{kind}_directory"), student, assignment)).resolve()

    # -- assignments --

    def assignments(self) -> list[Assignment]:
        """Every assignment nbgrader knows: source/ folders with notebooks, then the gradebook's."""
        found: dict[str, tuple[str, ...]] = {}
        source = self.folder("source")
        if source.is_dir():
            for d in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
                names = tuple(sorted(p.name for p in d.glob("*.ipynb")))
                if names:
                    found[d.name] = names
        for aid, names in self._gradebook_assignments().items():
            found.setdefault(aid, names)
        return [Assignment(aid, names) for aid, names in sorted(found.items())]

    def _gradebook_assignments(self) -> dict[str, tuple[str, ...]]:
        from sqlalchemy.engine import make_url

        url = make_url(self.db_url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
            return {}  # opening a missing sqlite gradebook would create it
        from nbgrader.api import Gradebook

        try:
            with Gradebook(self.db_url, self.course_id) as gb:
                return {a.name: tuple(sorted(f"{n.name}.ipynb" for n in a.notebooks)) for a in gb.assignments}
        except Exception:  # an unreachable database: the source folders are all we know
            return {}

    def assignment(self, assignment_id: str) -> Assignment:
        for a in self.assignments():
            if a.id == assignment_id:
                return a
        known = ", ".join(a.id for a in self.assignments()) or "none"
        raise CourseError(f"unknown assignment {assignment_id!r} in {self.root} (known: {known})")

    def resolve(self, ids: list[str] | None) -> list[Assignment]:
        """The assignments named by `ids` (all of them when empty)."""
        if not ids:
            return self.assignments()
        return [self.assignment(i) for i in ids]

    def with_submissions(self) -> list[str]:
        """Ids of the assignments that have at least one submission in submitted/."""
        submitted = self.folder("submitted")
        if not submitted.is_dir():
            return []
        ids = {a.name for s in submitted.iterdir() if s.is_dir() for a in s.iterdir() if a.is_dir()}
        return sorted(i for i in ids if not i.startswith("."))

    # -- files of one assignment --

    def source_notebook(self, a: Assignment, name: str | None = None) -> Path:
        return self.folder("source", ".", a.id) / (name or a.notebook)

    def release_notebook(self, a: Assignment, name: str | None = None) -> Path:
        return self.folder("release", ".", a.id) / (name or a.notebook)

    def submitted_notebook(self, a: Assignment, student: str, name: str | None = None) -> Path:
        return self.folder("submitted", student, a.id) / (name or a.notebook)

    def mutants_file(self, a: Assignment) -> Path:
        return self.folder("source", ".", a.id) / "mutants.py"

    def alternatives_file(self, a: Assignment) -> Path:
        return self.folder("source", ".", a.id) / "alternatives.py"

    def copy_authoring_files(self, dest: Path) -> Course:
        """A fresh course at `dest` with this course's config and source/ (no release, no grades)."""
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.root / CONFIG_FILE, dest / CONFIG_FILE)
        shutil.copytree(
            self.folder("source"),
            dest / "source",
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        return Course(dest)
