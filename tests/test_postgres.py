"""The gradebook on PostgreSQL: a URL in NBGRADER_DB_URL works unchanged for build, grade, report, feedback.

A throw-away PostgreSQL server (Debian package `postgresql`, installed by .ci/system-deps) is
started for the module on a Unix socket only (no TCP port), with its data in a temporary
directory; the course's nbgrader_config.py reads NBGRADER_DB_URL, and nothing else is configured.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from exercises import exercise_of
from nbgrader.api import Gradebook

from autograder.batch import grade_batch
from autograder.build import build
from autograder.coursedir import exercise_points, read_notebook
from autograder.feedback import generate_feedback
from autograder.report import collect
from autograder.synth import fill_in, load_mutants, solution_answers, write_submission
from course.syllabus import ASSIGNMENTS

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

FIRST = ASSIGNMENTS[0]


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("no PostgreSQL server binaries: install the Debian package `postgresql` (.ci/system-deps)")


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: use the package's system user
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")

    def pg(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120, cwd=base)

    pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8", "--no-sync")
    options = f"-k {sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "start")
    try:
        pg(str(bindir / "createdb"), "-h", str(sock), "-U", "grader", "gradebook")
        yield f"postgresql+psycopg2://grader@/gradebook?host={sock}"
    finally:
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_build_grade_report_feedback_on_postgresql(repo, tmp_path, postgres_url, monkeypatch):
    monkeypatch.setenv("NBGRADER_DB_URL", postgres_url)  # nbgrader_config.py reads it, as documented
    course = repo.copy_authoring_files(tmp_path / "course")
    build(course, [FIRST], log=lambda *_: None)  # stock nbgrader generate_assignment, in a subprocess
    release = read_notebook(course.release_notebook(FIRST))
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))
    wrong = next(m for m in load_mutants(course.mutants_file(FIRST)) if exercise_of(m.cell) == "ex2")
    write_submission(course, FIRST, "ann", fill_in(release, solution))
    write_submission(course, FIRST, "bob", fill_in(release, {**solution, wrong.cell: wrong.source}))

    summary = grade_batch(course, [FIRST.id], workers=2, progress=False)
    assert len(summary.graded) == 2 and not summary.failed and not summary.errors, summary
    assert not list(course.root.glob("*.db")), "no sqlite gradebook was created"

    points = exercise_points(read_notebook(course.source_notebook(FIRST)))
    expected = {"ann": sum(points.values()), "bob": sum(points.values()) - points["ex2"]}
    with Gradebook(postgres_url, "tf-variables") as gb:
        stored = {s: gb.find_submission(FIRST.id, s).code_score for s in expected}
    assert stored == expected

    report = collect(course, [FIRST.id])
    assert report.db_url.startswith("postgresql+psycopg2://grader@/gradebook")
    assert {s.student: s.auto_score for s in report.assignments[0].submissions} == expected

    written = generate_feedback(course, [FIRST.id]).written
    assert sorted(p.parent.parent.name for p in written) == ["ann", "bob"]
    assert not list(course.root.glob("*.db"))
