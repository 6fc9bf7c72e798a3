"""nbgrader's Validator (not `nbgrader validate`, which always exits 0) on every assignment."""

from __future__ import annotations

from nbgrader.validator import Validator

from autograder.coursedir import nbgrader_cells, read_notebook


def test_solution_passes_every_test(repo, assignment):
    results = Validator().validate(str(repo.source_notebook(assignment)))
    assert results == {}, f"the solution fails its own tests: {results}"


def test_release_fails_every_graded_test(repo, assignment):
    path = repo.release_notebook(assignment)
    results = Validator(invert=True).validate(str(path))
    assert "changed" not in results, f"release cells changed: {results}"
    passed = [r["source"].splitlines()[0] for r in results.get("passed", [])]
    assert not passed, f"these tests pass on the blank release (they test nothing): {passed}"
    graded = [c for c in nbgrader_cells(read_notebook(path)) if c.autograded]
    assert graded, "the release has no graded cells"
