"""Grade the whole adversarial catalogue with `python -m autograder grade` (sandbox and guard on).

One class: an honest student (the instructor's solutions) and one student per case of
tests/adversarial/submissions.py. Besides each case's expected status, score and flag, the
batch must leave the gradebook sound, the honest student's grades as when graded alone, every
file outside the grader's outputs unchanged, and no sandbox process behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adversarial.submissions import ASSIGNMENT, CASES, NOTEBOOK, Case, _nb
from autograder.coursedir import Course, exercise_points, read_notebook
from autograder.engine.sandbox import require_bwrap
from autograder.records import read_record, record_path
from autograder.synth import fill_in, solution_answers
from course.syllabus import assignment

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

HONEST = "honest"


def tree_hash(root: Path, parts: list[str]) -> dict[str, str]:
    out = {}
    for part in parts:
        base = root / part
        paths = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for p in paths:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def grade(course: Course, *students: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--course", str(course.root)]
    args += ["--no-progress", "--workers", "2", "--cell-timeout", "10", "--max-processes", "64", "--force"]
    for s in students:
        args += ["--student", s]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(args, capture_output=True, text=True, timeout=1800, env=env)


def sandbox_processes(course_root: Path) -> list[int]:
    """bwrap processes of this course's sandboxes (their command line names the course root) and
    processes under a sandbox uid whose parent is one of them."""
    mine = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"bwrap") and str(course_root).encode() in cmd:
                mine.append(int(pid))
    return mine


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    require_bwrap()
    root = tmp_path_factory.mktemp("adversarial") / "course"
    shutil.copytree(
        built_course.root, root, ignore=shutil.ignore_patterns("submitted", "autograded", "feedback")
    )
    course = Course(root)
    a = assignment(ASSIGNMENT)
    solution = fill_in(
        read_notebook(course.release_notebook(a)), solution_answers(read_notebook(course.source_notebook(a)))
    )
    honest_dir = root / "submitted" / HONEST / ASSIGNMENT
    honest_dir.mkdir(parents=True)
    (honest_dir / NOTEBOOK).write_bytes(_nb(solution))
    alone = grade(course, HONEST)
    assert alone.returncode == 0, alone.stderr[-3000:]
    for case in CASES:
        folder = root / "submitted" / f"adv_{case.name}" / ASSIGNMENT
        folder.mkdir(parents=True)
        for name, entry in case.build(solution).items():
            if callable(entry):  # a link, a FIFO, a device ... made in place
                entry(folder / name, course)
            else:
                (folder / name).write_bytes(entry)
    protected = ["source", "release", "nbgrader_config.py", f"submitted/{HONEST}"]
    before = tree_hash(root, protected)
    honest_alone = _record(course, HONEST)
    run = grade(course)
    cd_records = {case.name: _record(course, f"adv_{case.name}") for case in CASES}
    return {
        "course": course,
        "run": run,
        "records": cd_records,
        "honest_alone": honest_alone,
        "honest_after": _record(course, HONEST),
        "before": before,
        "after": tree_hash(root, protected),
        "points": exercise_points(read_notebook(course.source_notebook(a))),
    }


def _record(course: Course, student: str):

    cd = course.coursedir()
    return read_record(record_path(cd, ASSIGNMENT, student))


def test_batch_leaves_the_course_sound(graded):
    run = graded["run"]
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    with sqlite3.connect(graded["course"].root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert graded["after"] == graded["before"], "a file outside the grader's outputs changed"
    alone, after = graded["honest_alone"], graded["honest_after"]
    assert alone.scores() == after.scores() and alone.score == after.score
    assert not after.flags
    deadline = time.monotonic() + 20  # the batch has exited; its sandboxes are being torn down
    while sandbox_processes(graded["course"].root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes(graded["course"].root) == []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_gets_its_expected_outcome(graded, case: Case):
    rec = graded["records"][case.name]
    assert rec is not None, f"no record for {case.name}"
    solution = graded["honest_alone"].score
    e = case.expect
    detail = (rec.status, rec.score, rec.reason, rec.flags)
    assert rec.status == e.status, detail
    if e.score == "solution":
        assert rec.score == solution, detail
    elif e.score == "zero":
        assert rec.score == 0, detail
    elif isinstance(e.score, str) and e.score.startswith("solution-minus:"):
        assert rec.score == solution - graded["points"][e.score.split(":")[1]], detail
    else:
        assert rec.score == e.score, detail
    assert bool(rec.flags) == e.flagged, detail
    if e.ignored:
        assert any(e.ignored in why for why in rec.ignored), rec.ignored
    if e.note and e.status == "failed":
        assert e.note in rec.reason, detail
    elif e.note:  # what the notebook showed (its autograded copy) or why it stopped
        nb = graded["course"].root / "autograded" / f"adv_{case.name}" / ASSIGNMENT / NOTEBOOK
        assert e.note in shown(nb) or e.note in rec.reason, detail


def test_only_regular_files_reach_the_autograded_folders(graded):
    """Whatever was beside a notebook, autograded/ holds regular files only (nbgrader copied it
    from the grader's staged copy), and none of them is a copy of a course file."""
    root = graded["course"].root
    secret = (root / "source" / ASSIGNMENT / NOTEBOOK).read_bytes()
    for path in (root / "autograded").rglob("*"):
        st = path.lstat()
        assert stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode), path
        if path.is_file() and path.suffix == ".ipynb":
            assert path.read_bytes() != secret, path


def shown(path: Path) -> str:
    """The notebook's text plus each cell's printed output joined: one print can arrive as several
    stream outputs (ipykernel flushes on a timer, which a loaded machine may hit mid-line)."""
    nb = read_notebook(path)
    printed = [
        "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        for cell in nb.cells
    ]
    return "\n".join([path.read_text(), *printed])
