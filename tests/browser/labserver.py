"""Start `make lab` on a course and Debian's Chromium, for the browser tests (any thread)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from autograder.coursedir import REPO_ROOT, Course

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STUDENT_DURATIONS: dict[str, float] = {}  # assignment id -> seconds its student path took
EXPLORATION_MOVES: dict[str, str] = {}  # assignment id -> the control moved, how much of the picture changed
SERVER_START_TIMEOUT = 120  # s: a CPU-starved machine can take a while to import everything


def new_run_folder(root: Path, keep: int = 3) -> Path:
    """root/<date-time-pid>/ for this run's screenshots and logs, so runs at the same time (several
    people or agents on one checkout) never mix or delete each other's files; only the newest
    `keep` run folders are kept."""
    root.mkdir(exist_ok=True)
    older = sorted(d for d in root.iterdir() if re.fullmatch(r"\d{8}-\d{6}-\d+", d.name))
    for d in older[: max(0, len(older) - (keep - 1))]:
        shutil.rmtree(d, ignore_errors=True)
    run = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    return run


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(course: Course, state: Path, log_path: Path):
    """`make lab` serving `course` on a free loopback port; yields its base URL.

    Jupyter's per-user state (config, lab settings, workspaces, runtime files, kernelspecs)
    goes to `state`, so neither the user's settings nor an earlier run leak in. On exit, the
    process group of the `make` started here gets SIGTERM (Jupyter then stops its kernels)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
    )
    port = free_port()
    cmd = [
        "make", "--no-print-directory", "-C", str(REPO_ROOT),
        "-o", ".venv/.installed-stamp",  # never reinstall from inside a test
        "lab", f"LAB_ROOT={course.root}",
        f"LAB_ARGS=--no-browser --ServerApp.port={port} --ServerApp.port_retries=0",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(proc, url, log_path)
        yield url
    finally:
        _stop(proc)


def _wait_until_serving(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`make lab` exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/api/status", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"`make lab` did not serve {url} within {SERVER_START_TIMEOUT} s; see {log_path}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group of the `make` we started: Jupyter shuts its kernels down."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return  # make and the server are both gone already
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # The server (exec'd by make's shell) may outlive make by a moment while it stops kernels.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def launch_chromium(pw):
    """Debian's Chromium, headless. Missing Chromium is a failure, not a skip."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/system-deps` as root (apt-get install chromium)")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def new_context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    return context
