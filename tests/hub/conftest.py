"""The hub test drives JupyterLab with the browser tests' helpers (tests/browser/labpage.py).

Screenshots of every browser step, the hub's log and the instructor's commands go to
tests/hub/screenshots/<run>/ (gitignored), printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "browser"))

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
KEEP_RUNS = 3  # folders of older runs are deleted
_runs: list[Path] = []


@pytest.fixture
def screenshots() -> Path:
    """tests/hub/screenshots/<date-time-pid>/: one folder per run."""
    SCREENSHOTS.mkdir(exist_ok=True)
    older = sorted(d for d in SCREENSHOTS.iterdir() if re.fullmatch(r"\d{8}-\d{6}-\d+", d.name))
    for d in older[: max(0, len(older) - (KEEP_RUNS - 1))]:
        shutil.rmtree(d, ignore_errors=True)
    run = SCREENSHOTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    _runs.append(run)
    return run


def pytest_terminal_summary(terminalreporter):
    for run in _runs:
        shots = list(run.rglob("*.png"))
        terminalreporter.write_sep("-", f"hub screenshots ({len(shots)}), hub log, commands: {run}")
