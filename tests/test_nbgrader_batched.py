"""nbgrader's bookkeeping made per notebook (`autograder.engine.nbgrader_batched`): what it adds
to nbgrader's own behaviour. (That it writes the same scores as nbgrader is proved end to end by
tests/test_other_course.py and tests/test_grade.py, against stock `nbgrader autograde`.)"""

from __future__ import annotations

import nbformat
import pytest
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import SaveAutoGrades

from autograder.engine.nbgrader_batched import BatchedSaveAutoGrades
from autograder.nbgrader_cli import nbgrader_env


def _test_cell(grade_id: str, error: bool = False):
    cell = nbformat.v4.new_code_cell("assert True")
    cell.metadata.nbgrader = {
        "grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 1,
    }  # fmt: skip
    if error:
        cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    return cell


@pytest.fixture
def gradebook(tmp_path, monkeypatch):
    """One assignment, one notebook with two test cells, one student's submission."""
    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])  # a new gradebook runs `alembic`
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("ps1")
        gb.add_notebook("p1", "ps1")
        for name in ("t1", "t2"):
            gb.add_grade_cell(name, "p1", "ps1", max_score=1, cell_type="code")
            gb.add_source_cell(name, "p1", "ps1", cell_type="code", locked=True, source="assert True")
        gb.add_student("alice")
        gb.add_submission("ps1", "alice")
    return url


def _save(preprocessor, url: str, cells) -> None:
    nb = nbformat.v4.new_notebook(cells=cells)
    resources = {"nbgrader": {"notebook": "p1", "assignment": "ps1", "student": "alice", "db_url": url}}
    preprocessor().preprocess(nb, resources)


def _auto_scores(url: str) -> dict[str, float | None]:
    with Gradebook(url) as gb:
        return {name: gb.find_grade(name, "p1", "ps1", "alice").auto_score for name in ("t1", "t2")}


def test_a_notebook_s_grades_are_written_together_or_not_at_all(gradebook, monkeypatch):
    _save(BatchedSaveAutoGrades, gradebook, [_test_cell("t1"), _test_cell("t2", error=True)])
    assert _auto_scores(gradebook) == {"t1": 1.0, "t2": 0.0}

    seen = []

    def fails_on_the_second_cell(cell, log=None):
        seen.append(cell.metadata.nbgrader["grade_id"])
        if len(seen) == 2:
            raise RuntimeError("disk full")
        return 0.5, 1.0  # a score neither cell has yet

    monkeypatch.setattr(utils, "determine_grade", fails_on_the_second_cell)
    with pytest.raises(RuntimeError):
        _save(BatchedSaveAutoGrades, gradebook, [_test_cell("t1"), _test_cell("t2")])
    assert _auto_scores(gradebook) == {"t1": 1.0, "t2": 0.0}  # t1's new 0.5 was not kept

    # nbgrader's own SaveAutoGrades commits cell by cell: the first cell's new score stays.
    seen.clear()
    with pytest.raises(RuntimeError):
        _save(SaveAutoGrades, gradebook, [_test_cell("t1"), _test_cell("t2")])
    assert _auto_scores(gradebook) == {"t1": 0.5, "t2": 0.0}


def test_a_cell_the_gradebook_lacks_fails_as_nbgrader_s_own_lookup_does(gradebook):
    cells = [_test_cell("t1"), _test_cell("not_in_the_gradebook")]
    with pytest.raises(MissingEntry) as stock:
        _save(SaveAutoGrades, gradebook, cells)
    with pytest.raises(MissingEntry) as batched:
        _save(BatchedSaveAutoGrades, gradebook, cells)
    assert str(batched.value) == str(stock.value)
    assert "not_in_the_gradebook" in str(batched.value)
