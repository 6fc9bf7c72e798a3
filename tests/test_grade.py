"""`python -m autograder grade`: the same scores as stock nbgrader, bad submissions isolated, resumable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from exercises import exercise_of
from nbgrader.api import Gradebook
from standard_class import copy_course, gradebook_scores, submit_standard_class

from autograder.batch import grade_batch
from autograder.coursedir import (
    Course,
    exercise_points,
    nbgrader_cells,
    read_notebook,
)
from autograder.nbgrader_cli import nbgrader_env
from autograder.records import FAILED, GRADED, read_record, record_path
from autograder.synth import fill_in, solution_answers, standard_profiles, write_submission
from course.syllabus import ASSIGNMENTS

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

FIRST = ASSIGNMENTS[0]


def cli(course: Course, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--course", str(course.root), "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nbgrader_env(),
    )


# --- the same scores as stock nbgrader --------------------------------------------------------


@pytest.fixture(scope="module")
def stock_and_fast(standard_class, built_course, tmp_path_factory):
    """The standard class graded by stock nbgrader, and the same class graded by the engine."""
    fast = copy_course(built_course, tmp_path_factory.mktemp("grade-compare") / "fast")
    submit_standard_class(fast)
    summary = grade_batch(fast, [a.id for a in ASSIGNMENTS], workers=2, progress=False)
    return standard_class.course, fast, standard_class.expected, summary


def test_parallel_grading_gives_the_same_cell_scores_as_stock_nbgrader(stock_and_fast):
    stock, fast, expected, summary = stock_and_fast
    assert summary.workers == 2
    assert len(summary.graded) == 3 * len(ASSIGNMENTS) and not summary.failed and not summary.errors
    stock_scores, fast_scores = gradebook_scores(stock), gradebook_scores(fast)
    assert len(stock_scores) >= 3 * len(ASSIGNMENTS) * 2
    assert fast_scores == stock_scores
    for r in summary.graded:  # and both are what the synthetic students deserve
        auto = sum(s for s in r.scores().values())
        assert auto == expected[r.assignment][r.student], (r.assignment, r.student, r.scores())
        assert r.needs_manual == (r.student != "blank")  # blank written answers are graded 0


def test_results_and_autograded_notebooks_are_where_nbgrader_puts_them(stock_and_fast):
    _, fast, _, summary = stock_and_fast
    for r in summary.graded:
        a = next(a for a in ASSIGNMENTS if a.id == r.assignment)
        autograded = fast.root / "autograded" / r.student / a.id / a.notebook
        nb = nbformat.read(autograded, as_version=4)
        hidden = [c for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source]
        assert hidden, "the hidden tests came back from the gradebook (OverwriteCells)"
        ran = [c for c in r.cell_runs if c.is_test]
        assert ran and all(c.seconds >= 0 for c in r.cell_runs)
        assert r.kernel_seconds is not None and r.seconds > 0
        assert {c.grade_id for c in r.cells} == {c.grade_id for c in nbgrader_cells(nb) if c.is_test}


def _plots(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_autograded_notebooks_keep_the_plots_the_notebook_draws(stock_and_fast):
    """Kernels in the sandbox use the inline backend: the instructor sees what the student saw."""
    _, fast, _, summary = stock_and_fast
    drawn = {}
    for a in ASSIGNMENTS:
        expected = _plots(nbformat.read(fast.source_notebook(a), as_version=4))
        found = [
            _plots(nbformat.read(fast.root / "autograded" / r.student / a.id / a.notebook, as_version=4))
            for r in summary.graded
            if r.assignment == a.id
        ]
        assert found and max(found) == expected, (a.id, expected, found)
        drawn[a.id] = expected
    # 04 draws only into its exploration's image widget (no inline output); the others plot inline.
    assert sum(drawn.values()) >= 3, drawn


def test_rerun_skips_what_is_graded_and_regrades_a_changed_submission(stock_and_fast):
    _, fast, expected, _ = stock_and_fast
    path = fast.submitted_notebook(FIRST, "blank")
    release = read_notebook(fast.release_notebook(FIRST))
    write_submission(
        fast, FIRST, "blank", fill_in(release, solution_answers(read_notebook(fast.source_notebook(FIRST))))
    )
    assert path.exists()
    again = grade_batch(fast, [a.id for a in ASSIGNMENTS], workers=1, progress=False)
    assert [(r.assignment, r.student) for r in again.results] == [(FIRST.id, "blank")]
    assert len(again.skipped) == 3 * len(ASSIGNMENTS) - 1
    assert sum(again.results[0].scores().values()) == expected[FIRST.id]["solution"]


def test_the_largest_submissions_are_graded_first(built_course, tmp_path):
    """A big notebook started last would be graded alone while the other workers wait."""
    from autograder.batch import plan

    course = copy_course(built_course, tmp_path / "course")
    release = read_notebook(course.release_notebook(FIRST))
    for student, extra in (("a-small", 0), ("b-large", 400), ("c-medium", 40)):
        nb = nbformat.from_dict(nbformat.reads(nbformat.writes(release), as_version=4))
        nb.cells.extend(nbformat.v4.new_code_cell(f"x_{i} = {i}") for i in range(extra))
        write_submission(course, FIRST, student, nb)
    todo, done = plan(course, [FIRST.id])
    assert [job.student for job in todo] == ["b-large", "c-medium", "a-small"] and not done


# --- bad submissions ------------------------------------------------------------------------------


def _bad_cell_and_tests(course: Course):
    """A solution cell in the middle of the first assignment, and the test cells before/after it."""
    release = read_notebook(course.release_notebook(FIRST))
    index = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(release.cells)}
    cells = nbgrader_cells(release)
    solutions = [c for c in cells if c.is_solution and c.cell_type == "code"]
    bad = solutions[len(solutions) // 2]
    tests = [c for c in cells if c.autograded]
    before = {c.grade_id for c in tests if index[c.grade_id] < index[bad.grade_id]}
    return release, bad.grade_id, before, {c.grade_id for c in tests}


def test_bad_submissions_are_isolated_and_explained(built_course, tmp_path):
    course = copy_course(
        built_course,
        tmp_path / "course",
        extra_config="c.Execute.timeout = 5\nc.NotebookRunner.interrupt_grace = 2\n",
    )
    release, bad, before, tests = _bad_cell_and_tests(course)
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))

    def raw(student: str, text: str, name: str = FIRST.notebook) -> None:
        path = course.submitted_notebook(FIRST, student).with_name(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    raw("invalid-json", '{"cells": [')
    raw("empty", "")
    raw("renamed", nbformat.writes(fill_in(release, solution)), name="my_copy.ipynb")
    raw("nbformat3", nbformat.writes(nbformat.convert(fill_in(release, solution), 3)))
    write_submission(course, FIRST, "good", fill_in(release, solution))
    for student, code in {
        "exits": "import os\nos._exit(1)",
        "hangs": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "loops": "import time\nwhile True:\n    time.sleep(0.1)",
    }.items():
        write_submission(course, FIRST, student, fill_in(release, {**solution, bad: code}))

    proc = cli(course, FIRST.id, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "graded 5, failed 3, grader errors 0" in proc.stdout, proc.stdout

    def rec(student):
        r = read_record(record_path_of(course, student))
        assert r is not None, student
        return r

    assert rec("invalid-json").status == FAILED and "invalid JSON" in rec("invalid-json").reason
    assert rec("empty").status == FAILED and "empty file" in rec("empty").reason
    assert rec("renamed").status == FAILED
    assert rec("renamed").reason == f"missing notebook {FIRST.notebook} (found: my_copy.ipynb)"
    for student in ("invalid-json", "empty", "renamed"):
        assert f"{student}: {rec(student).reason}" in proc.stdout

    full = rec("good").scores()
    assert rec("good").status == GRADED and all(v > 0 for v in full.values())
    assert rec("nbformat3").status == GRADED and rec("nbformat3").scores() == full
    assert "converted from notebook format 3" in rec("nbformat3").reason

    for student, how in (("exits", "exited with status 1"), ("hangs", "did not stop when interrupted")):
        r = rec(student)
        assert r.status == GRADED and how in r.reason, r.reason
        assert {g for g, s in r.scores().items() if s} == before, "points before the kernel died are kept"
    loops = rec("loops")
    assert loops.status == GRADED and "interrupted" in loops.reason
    lost = {g for g, s in loops.scores().items() if not s}
    assert lost == {g for g in tests if exercise_of(g) == exercise_of(bad)}, "only its own exercise"

    scores = gradebook_scores(course)
    assert not any(k[1] in ("invalid-json", "empty", "renamed") for k in scores)
    assert {k[3]: v[0] for k, v in scores.items() if k[1] == "exits" and k[3] in tests} == rec(
        "exits"
    ).scores()


def record_path_of(course: Course, student: str) -> Path:

    return record_path(course.coursedir(), FIRST.id, student)


# --- interrupted runs ------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_then_rerun_loses_nothing_and_grades_only_what_is_missing(built_course, tmp_path):
    course = copy_course(built_course, tmp_path / "course")
    release = read_notebook(course.release_notebook(FIRST))
    points = exercise_points(read_notebook(course.source_notebook(FIRST)))
    expected = {}
    for p in standard_profiles(course, FIRST):
        for i in range(3):
            write_submission(course, FIRST, f"{p.name}{i}", fill_in(release, p.answers))
            expected[f"{p.name}{i}"] = (
                0 if p.blank else sum(points.values()) - sum(points[e] for e in p.wrong_exercises)
            )
    records = record_path_of(course, "x").parent

    cmd = [
        sys.executable,
        "-m",
        "autograder",
        "grade",
        FIRST.id,
        "--course",
        str(course.root),
        "--workers",
        "2",
        "--no-progress",
    ]
    grader = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=nbgrader_env(), start_new_session=True
    )
    tree: set[int] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and grader.poll() is None:
        tree |= _descendants(grader.pid)
        done = list(records.glob("*.json")) if records.is_dir() else []
        if len(done) >= 2:
            break
        time.sleep(0.05)
    assert grader.poll() is None, "the grader finished before it could be killed"
    tree |= _descendants(grader.pid)
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    graded_before = {p.stem for p in records.glob("*.json")}
    assert 2 <= len(graded_before) < len(expected)
    assert tree, "workers, fork servers and kernels were seen"
    for _ in range(200):
        if not any(_running(p) for p in tree):
            break
        time.sleep(0.1)
    assert not [p for p in tree if _running(p)], "processes outlived the killed grader"

    proc = cli(course, FIRST.id, "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    skipped = int(re.search(r"already graded and unchanged: (\d+)", proc.stdout).group(1))
    graded = int(re.search(r"graded (\d+), failed 0, grader errors 0", proc.stdout).group(1))
    assert skipped == len(graded_before) and graded == len(expected) - len(graded_before), proc.stdout
    for student, score in expected.items():
        r = read_record(records / f"{student}.json")
        assert r is not None and r.status == GRADED
        assert sum(r.scores().values()) == score, (student, r.scores())
    with Gradebook(course.db_url, "tf-variables") as gb:
        for student, score in expected.items():
            assert gb.find_submission(FIRST.id, student).code_score == score


# --- clear errors ------------------------------------------------------------------------------------


def test_unknown_assignment_no_submissions_and_missing_gradebook_are_one_line_errors(built_course, tmp_path):
    course = copy_course(built_course, tmp_path / "course")
    proc = cli(course, "99_nope")
    assert proc.returncode == 2 and "unknown assignment '99_nope'" in proc.stderr

    proc = cli(course, FIRST.id)
    assert proc.returncode == 2 and "no submissions" in proc.stderr, proc.stderr

    bare = copy_course(built_course, tmp_path / "bare", gradebook=False)
    write_submission(bare, FIRST, "someone", read_notebook(bare.release_notebook(FIRST)))
    proc = cli(bare, FIRST.id)
    assert proc.returncode == 2 and "no gradebook" in proc.stderr, proc.stderr
    assert not (bare.root / "gradebook.db").exists(), "checking must not create an empty gradebook"
    for p in (proc,):
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_submission_that_kills_its_worker_does_not_stop_the_class(built_course, tmp_path):
    """Without the sandbox a kernel can kill the grader's worker process: the batch finds which
    submission did it (graded alone), reports it, and grades the others."""
    course = copy_course(built_course, tmp_path / "course")
    release = read_notebook(course.release_notebook(FIRST))
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))
    _, bad, _, _ = _bad_cell_and_tests(course)
    killer = (
        "import os, signal\n"
        "with open(f'/proc/{os.getppid()}/stat') as f:  # the fork server's parent: the worker\n"
        "    os.kill(int(f.read().rsplit(')', 1)[1].split()[1]), signal.SIGKILL)"
    )
    write_submission(course, FIRST, "a-killer", fill_in(release, {**solution, bad: killer}))
    for i in range(3):
        write_submission(course, FIRST, f"good{i}", fill_in(release, solution))

    proc = cli(course, FIRST.id, "--workers", "2", "--no-sandbox")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the grader failed on one submission
    assert "graded 3, failed 0, grader errors 1" in proc.stdout, proc.stdout
    killed = read_record(record_path_of(course, "a-killer"))
    assert killed.status == "error" and "killed the grader's worker" in killed.reason
    for i in range(3):
        r = read_record(record_path_of(course, f"good{i}"))
        assert r.status == GRADED and all(v > 0 for v in r.scores().values())
