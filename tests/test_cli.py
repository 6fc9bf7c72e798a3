"""The CLI answers bad input with one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

from autograder.coursedir import REPO_ROOT


def run(*args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def test_unknown_assignment_is_a_clear_error():
    proc = run("build", "99_nope")
    assert proc.returncode == 2
    assert "unknown assignment '99_nope'" in proc.stderr and "01_creating_variables" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_the_commands():
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("build", "demo"):
        assert command in proc.stdout
