"""`demo`: a synthetic class graded by the engine; the same seed gives the same grades."""

from __future__ import annotations

import csv

import pytest

from autograder.coursedir import Course, CourseError
from autograder.demo import run_demo
from autograder.synth import BLANK, BROKEN, MISTAKES, SOLUTION, TAMPERED, synthetic_class
from course.syllabus import ASSIGNMENTS

pytestmark = pytest.mark.two_cores

FIRST = ASSIGNMENTS[0]


def test_synthetic_class_is_deterministic_and_mixed(repo):
    a = synthetic_class(repo, list(ASSIGNMENTS), 30, seed=3)
    assert a == synthetic_class(repo, list(ASSIGNMENTS), 30, seed=3)
    assert a != synthetic_class(repo, list(ASSIGNMENTS), 30, seed=4)
    assert len(a) == 30 * len(ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        mine = [s for s in a if s.assignment == assignment.id]
        kinds = [s.kind for s in mine]
        assert kinds.count(TAMPERED) == 1 and kinds.count(BROKEN) == 1
        assert kinds.count(MISTAKES) >= 15 and SOLUTION in kinds
        assert any(len(s.mutants) >= 2 for s in mine), "several wrong answers mixed in one notebook"
        assert all(len({m.cell for m in s.mutants}) == len(s.mutants) for s in mine)
        for s in mine:
            if s.kind == MISTAKES:
                assert s.mutants and s.expected < assignment.autograded_points
            elif s.kind == BLANK:
                assert s.expected == 0 and s.answers is None
    honest = synthetic_class(repo, [FIRST], 30, seed=3, adversarial=False)
    assert not {TAMPERED, BROKEN} & {s.kind for s in honest}


def _without_times(path):
    rows = list(csv.DictReader(path.open()))
    for r in rows:
        r.pop("seconds", None)
    return rows


@pytest.mark.slow
def test_demo_grades_a_small_class_the_same_way_twice(repo, tmp_path):
    runs = []
    for i, workers in enumerate((2, 1)):
        result = run_demo(repo, [FIRST], tmp_path / f"demo{i}", students=5, seed=1, workers=workers,
                          progress=False, log=lambda *_: None)
        assert result.ok, result.problems
        runs.append(result)
    first, second = runs
    assert [s.kind for s in first.submissions].count(TAMPERED) == 1
    assert len(first.summary.flagged) == 1 and len(first.summary.failed) == 1
    for name in ("grades", "cells", "exercises", "nbgrader"):
        assert _without_times(first.paths[name]) == _without_times(second.paths[name]), name
    exported = [r["student_id"] for r in _without_times(first.paths["nbgrader"])]
    assert exported == sorted(exported), "nbgrader export lists students in gradebook order: sorted ids"
    grades = _without_times(first.paths["grades"])
    assert len(grades) == 5 and {r["status"] for r in grades} == {"graded", "failed"}
    assert first.paths["html"].is_file()


def test_demo_refuses_to_wipe_the_repository(repo):
    with pytest.raises(CourseError, match="refusing"):
        run_demo(repo, [FIRST], repo.root, students=5)
    with pytest.raises(CourseError, match="refusing"):
        run_demo(repo, [FIRST], repo.root.parent, students=5)
    assert isinstance(repo, Course) and (repo.root / "source").is_dir()
