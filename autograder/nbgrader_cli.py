"""Run stock nbgrader commands in a course directory, with a clear error when they fail.

nbgrader shells out to `alembic` (on its first touch of a gradebook), so the interpreter's
bin directory must be on PATH even when the caller did not activate the virtualenv.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder.coursedir import CourseError


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def run_nbgrader(course_root: Path, *args: str, timeout: float = 1800) -> str:
    """`nbgrader ARGS` in `course_root`; returns its log, raises CourseError on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(
        cmd,
        cwd=course_root,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    log = proc.stdout + proc.stderr
    # nbgrader logs per-item failures at ERROR but may still exit 0 (generate_assignment does).
    if proc.returncode != 0 or "[ERROR]" in log or "| ERROR]" in log:
        tail = "\n".join(log.strip().splitlines()[-15:])
        raise CourseError(f"`nbgrader {' '.join(args)}` failed in {course_root}:\n{tail}")
    return log


def generate_assignment(course_root: Path, assignment_id: str) -> None:
    run_nbgrader(course_root, "generate_assignment", assignment_id, "--force")


def autograde(course_root: Path, assignment_id: str, student: str | None = None) -> str:
    args = ["autograde", assignment_id, "--force"]
    if student:
        args += ["--student", student]
    return run_nbgrader(course_root, *args)


def export_grades(course_root: Path, to: Path) -> Path:
    run_nbgrader(course_root, "export", "--to", str(to))
    return to
