"""The hub test drives JupyterLab with the browser tests' helpers (tests/browser/labpage.py).

Screenshots of every browser step, the hub's log and the instructor's commands go to
tests/hub/screenshots/<run>/ (gitignored), printed at the end of the run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "browser"))

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
KEEP_RUNS = 3  # folders of older runs are deleted
_runs: list[Path] = []


@pytest.fixture
def screenshots() -> Path:
    """tests/hub/screenshots/<date-time-pid>/: one folder per run."""
    from labserver import new_run_folder  # tests/browser, on the path since this file's start

    run = new_run_folder(SCREENSHOTS, KEEP_RUNS)
    _runs.append(run)
    return run


def pytest_terminal_summary(terminalreporter):
    for run in _runs:
        shots = list(run.rglob("*.png"))
        terminalreporter.write_sep("-", f"hub screenshots ({len(shots)}), hub log, commands: {run}")
