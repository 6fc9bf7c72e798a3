"""nbgrader's per-cell bookkeeping, done per notebook: the same rows written, fewer round trips.

For every notebook it grades, nbgrader's `OverwriteCells` looks up each cell in the gradebook
(``find_source_cell`` and, for a graded cell, ``find_graded_cell``: ~28 queries for this course's
notebooks) and `SaveAutoGrades` finds each grade and comment (~19 queries) and commits after each
one (~19 transactions). On PostgreSQL each is a round trip, and each commit a flush to disk: this
bounds how many notebooks one coordinator can record per second (`autograder.ceiling`).

`BatchedOverwriteCells` and `BatchedSaveAutoGrades` are those preprocessors, unchanged in what they
decide and write (their own ``preprocess_cell`` runs on every cell); only their gradebook answers
``find_*`` for the notebook at hand from one query per kind of row, and `BatchedSaveAutoGrades`
writes the notebook's grades and comments in one transaction instead of one per cell (all or
nothing: a failure half-way leaves none of them). A lookup the prefetch does not answer (a cell
the gradebook lacks) goes to nbgrader's own ``find_*``, which raises its own `MissingEntry`.

How, without copying nbgrader's code: nbgrader's ``preprocess`` opens the gradebook and then calls
``super(OverwriteCells, self).preprocess``, the cell loop. The mixins below sit right after
nbgrader's class in the method resolution order, so that call reaches them: they wrap the open
gradebook for the loop, and commit after it.

`OwnedNotebookExporter`: nbconvert deep-copies a notebook twice per conversion (the caller might
still hold it); nbgrader converts each notebook twice, each time from a file it has just read,
so nobody else holds that notebook: ~13 % of the coordinator's time went to the copies.
"""

from __future__ import annotations

from typing import Any

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat import NotebookNode
from nbgrader.api import (
    Assignment,
    BaseCell,
    Comment,
    Grade,
    GradeCell,
    Notebook,
    SourceCell,
    SubmittedAssignment,
    SubmittedNotebook,
    TaskCell,
)
from nbgrader.preprocessors import NbGraderPreprocessor, OverwriteCells, SaveAutoGrades

__all__ = ["BatchedOverwriteCells", "BatchedSaveAutoGrades", "OwnedNotebookExporter", "batched"]


class _Lookups:
    """A `Gradebook` (every attribute is the real one's) with some ``find_*`` answered from a dict."""

    def __init__(self, gradebook, key: tuple[str, ...]) -> None:
        self._gradebook = gradebook
        self._key = key  # the arguments after the name that identify this wrapper's notebook
        self._found: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gradebook, name)

    def _lookup(self, kind: str, fetch, real, name: str, *where):
        """`real(name, *where)` (nbgrader's own find_*), answered from `fetch()` (made once) when
        `where` is this wrapper's notebook and the name is found there."""
        if where != self._key:
            return real(name, *where)
        found = self._found.get(kind)
        if found is None:
            found = self._found[kind] = fetch()
        hit = found.get(name)
        return hit if hit is not None else real(name, *where)


def _by_name(rows, preferred: str) -> dict[str, Any]:
    """{cell name: object}; where two cells share a name, the one of type `preferred` wins (as in
    nbgrader's lookups, which try that kind of cell first)."""
    out: dict[str, Any] = {}
    for obj, name, kind in rows:
        if name not in out or kind == preferred:
            out[name] = obj
    return out


class NotebookCells(_Lookups):
    """``find_source_cell`` and ``find_graded_cell`` of one source notebook, from two queries."""

    def __init__(self, gradebook, notebook: str, assignment: str) -> None:
        super().__init__(gradebook, (notebook, assignment))

    def _cells(self, model, *columns):
        return (
            self._gradebook.db.query(model, model.name, *columns)
            .join(Notebook, Notebook.id == model.notebook_id)
            .join(Assignment, Assignment.id == Notebook.assignment_id)
            .filter(Notebook.name == self._key[0], Assignment.name == self._key[1])
        )

    def find_source_cell(self, name: str, notebook: str, assignment: str):
        fetch = lambda: {name: cell for cell, name in self._cells(SourceCell)}  # noqa: E731
        return self._lookup("source", fetch, self._gradebook.find_source_cell, name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str):
        def fetch():
            graded = [*self._cells(TaskCell, TaskCell.type), *self._cells(GradeCell, GradeCell.type)]
            return _by_name(graded, "GradeCell")

        return self._lookup("graded", fetch, self._gradebook.find_graded_cell, name, notebook, assignment)


class _CommitLater:
    """A session whose ``commit`` does nothing: the caller commits once, at the end (which
    flushes everything; a query before that autoflushes, as nbgrader's session does)."""

    def __init__(self, session) -> None:
        self._session = session

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def commit(self) -> None:
        pass


class SubmissionGrades(_Lookups):
    """``find_grade`` and ``find_comment`` of one submitted notebook, from one query each; its
    ``db.commit()`` waits for the one at the end."""

    def __init__(self, gradebook, notebook: str, assignment: str, student: str) -> None:
        super().__init__(gradebook, (notebook, assignment, student))
        self.db = _CommitLater(gradebook.db)

    def _rows(self, model):
        notebook, assignment, student = self._key
        return (
            self._gradebook.db.query(model, BaseCell.name, BaseCell.type)
            .join(BaseCell, BaseCell.id == model.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == model.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .filter(
                Notebook.name == notebook,
                Assignment.name == assignment,
                SubmittedAssignment.student_id == student,
            )
            .all()
        )

    # (nbgrader makes a submission's grades for its grade and task cells, its comments for its
    # solution and task cells: the rows below hold nothing else.)
    def find_grade(self, grade_cell: str, notebook: str, assignment: str, student: str):
        fetch = lambda: _by_name(self._rows(Grade), "GradeCell")  # noqa: E731
        real = self._gradebook.find_grade
        return self._lookup("grade", fetch, real, grade_cell, notebook, assignment, student)

    def find_comment(self, solution_cell: str, notebook: str, assignment: str, student: str):
        fetch = lambda: _by_name(self._rows(Comment), "SolutionCell")  # noqa: E731
        real = self._gradebook.find_comment
        return self._lookup("comment", fetch, real, solution_cell, notebook, assignment, student)


class _NotebookCellsLoop(NbGraderPreprocessor):
    """The cell loop of `OverwriteCells`, on `NotebookCells` (see the module docstring)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        gradebook = self.gradebook
        self.gradebook = NotebookCells(gradebook, self.notebook_id, self.assignment_id)
        try:
            return super().preprocess(nb, resources)
        finally:
            self.gradebook = gradebook  # nbgrader's add_missing_* and close() use the real one


class _OneTransactionLoop(NbGraderPreprocessor):
    """The cell loop of `SaveAutoGrades`, on `SubmissionGrades`, then one commit."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        gradebook = self.gradebook
        self.gradebook = SubmissionGrades(gradebook, self.notebook_id, self.assignment_id, self.student_id)
        try:
            result = super().preprocess(nb, resources)
        finally:
            self.gradebook = gradebook
        gradebook.db.commit()  # (an exception above: nbgrader's close() rolls everything back)
        return result


class BatchedOverwriteCells(OverwriteCells, _NotebookCellsLoop):
    """nbgrader's `OverwriteCells` (``c.OverwriteCells.*`` applies), one query per kind of cell."""


class BatchedSaveAutoGrades(SaveAutoGrades, _OneTransactionLoop):
    """nbgrader's `SaveAutoGrades` (``c.SaveAutoGrades.*`` applies), one query per kind of row and
    one transaction per notebook."""


_BATCHED = {OverwriteCells: BatchedOverwriteCells, SaveAutoGrades: BatchedSaveAutoGrades}


def batched(preprocessor):
    """The batched version of nbgrader's own preprocessor class, anything else unchanged (an
    instructor's subclass is theirs)."""
    return _BATCHED.get(preprocessor, preprocessor) if isinstance(preprocessor, type) else preprocessor


class _Owned(NotebookNode):
    """A notebook read from a file a moment ago: nobody else holds it, a deep copy is itself."""

    def __deepcopy__(self, memo: dict) -> NotebookNode:
        return self


class OwnedNotebookExporter(NotebookExporter):
    """nbconvert's `NotebookExporter` that skips its two deep copies of a notebook it has just
    read from a file (the preprocessors still get a notebook nobody else sees)."""

    def from_file(self, file_stream, resources=None, **kw):
        nb = nbformat.read(file_stream, as_version=4)
        return self.from_notebook_node(_Owned(nb), resources=resources, **kw)
