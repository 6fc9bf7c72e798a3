"""The engine grades any nbgrader course, not only this one.

A small course in nbgrader's own layout, unlike this repository's: an assignment with two
notebooks, plain cell names (no ``exN_``), a hand-graded code answer and a written answer, a data
file the notebook reads, no TensorFlow (nothing preloaded). It is driven through the CLI only
(``build``, ``grade``, ``feedback``, ``report``, ``check --course``), and every per-cell score
must equal what stock ``nbgrader autograde`` gives the same submissions.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from other_course import make_course, part_a, submit

from autograder.coursedir import Course, exercises, load_config
from autograder.nbgrader_cli import nbgrader_env, run_nbgrader
from autograder.stock import gradebook_cell_scores

pytestmark = pytest.mark.slow


def cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", *args, "--course", str(course)]
    return subprocess.run(cmd, capture_output=True, text=True, env=nbgrader_env(), timeout=900)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("other") / "stats101")
    r = cli(root, "build")
    assert r.returncode == 0, r.stderr
    answers = {
        "squares": "def squares(n):\n    return [i ** 2 for i in range(n)]",
        "reader": "def mean_of_column(path):\n    import csv\n    with open(path) as f:\n"
        "        xs = [float(r['value']) for r in csv.DictReader(f)]\n    return sum(xs) / len(xs)",
        "words": "def word_count(text):\n    return len(text.split())",
        "describe_by_hand": "def describe(xs):\n    return 'some values'",
    }
    submit(root, "ada", answers)
    submit(root, "bob", {})  # the release as is
    submit(root, "cy", {**answers, "words": "def word_count(text):\n    return len(text.split(' '))"})
    stock = root.parent / "stock"
    shutil.copytree(root, stock)
    run_nbgrader(stock, "autograde", "ps1", "--force")
    r = cli(root, "grade", "--no-progress", "--workers", "2")  # no assignment named: all with submissions
    assert r.returncode == 0, r.stdout + r.stderr
    return root, stock, r


def test_grade_gives_stock_nbgraders_scores_cell_by_cell(graded):
    root, stock, run = graded
    ours = gradebook_cell_scores(Course(root).db_url, "stats101")
    theirs = gradebook_cell_scores(Course(stock).db_url, "stats101")
    assert ours == theirs and len(ours) == 3 * 4, (ours, theirs)  # the code cells with points
    assert ours[("ps1", "cy", "part_b", "check_words")] != ours[("ps1", "ada", "part_b", "check_words")]
    assert "graded 3, failed 0" in run.stdout


def test_feedback_and_report_of_the_other_course(graded):
    root, _, _ = graded
    r = cli(root, "feedback")
    assert r.returncode == 0, r.stdout + r.stderr
    pages = sorted(p.relative_to(root / "feedback") for p in (root / "feedback").rglob("*.html"))
    expected = [f"{s}/ps1/{n}.html" for s in ("ada", "bob", "cy") for n in ("part_a", "part_b")]
    assert [str(p) for p in pages] == expected
    files = [p for p in (root / "feedback").rglob("*") if p.is_file()]
    assert all(p.suffix == ".html" for p in files), "feedback holds only what the grader wrote"
    text = (root / "feedback" / "ada" / "ps1" / "part_a.html").read_text()
    assert "squares(0) is empty" not in text or "assert squares(0)" not in text
    r = cli(root, "report", "--out", str(root / "reports"))
    assert r.returncode == 0, r.stdout + r.stderr
    cells = list(csv.DictReader(open(root / "reports" / "cells.csv")))
    by_hand = [c for c in cells if c["grade_id"] == "describe_by_hand"]
    assert by_hand and all(not c["message"] for c in by_hand), "a hand-graded answer did not 'lose points'"
    exercises_csv = list(csv.DictReader(open(root / "reports" / "exercises.csv")))
    assert {e["exercise"] for e in exercises_csv} >= {"part_a:squares", "part_b:words"}


def test_check_on_the_other_course(graded):
    root, _, _ = graded
    r = cli(root, "check", "--min-mutants", "1", "--min-alternatives", "0", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ps1: solution 5/5 points, release 0/5" in r.stdout, r.stdout
    assert "3/3 (100%) caught" in r.stdout, r.stdout


def test_exercises_are_what_the_notebook_marks():
    labels = [(e.label, e.grade_ids) for e in exercises(part_a())]
    assert labels == [
        ("squares", ("squares", "check_squares")),
        ("reader", ("reader", "check_reader")),
        ("describe_by_hand", ("describe_by_hand",)),
    ]


def test_configuration_is_read_the_way_nbgrader_reads_it(tmp_path, monkeypatch):
    """The user's Jupyter config directory, then the course's own file, which wins."""
    user = tmp_path / "jupyter"
    user.mkdir()
    (user / "nbgrader_config.py").write_text(
        "c = get_config()\nc.Sandbox.cell_timeout = 7\nc.CourseDirectory.course_id = 'from-user-config'\n"
    )
    course = make_course(tmp_path / "c")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(user))
    config = load_config(course)
    assert config.Sandbox.cell_timeout == 7
    assert config.CourseDirectory.course_id == "stats101"
    assert os.environ["JUPYTER_CONFIG_DIR"] == str(user)


def test_the_coordinator_ceiling_replays_what_was_graded_and_records_the_same_scores(graded, tmp_path):
    from autograder.ceiling import measure_ceiling

    root, _, _ = graded
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"  # an empty gradebook: every score is recorded anew
    ceiling = measure_ceiling(Course(root), tmp_path / "replay", db_url=fresh)
    assert ceiling.notebooks == 3 * 2 and ceiling.seconds > 0  # 3 students x 2 notebooks, no kernel
    assert gradebook_cell_scores(fresh, "stats101") == gradebook_cell_scores(Course(root).db_url, "stats101")
