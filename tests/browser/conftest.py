"""Fixtures for the browser tests: a copy of the course, `make lab` serving it, headless Chromium.

The server is started through the Makefile's own `lab` recipe (with LAB_ROOT pointing at a
temporary copy of the course), so these tests check what `make lab` gives a student: no token,
loopback only, no news prompt, nbgrader's extension. Chromium is Debian's (`.ci/system-deps`
installs it); Playwright only drives it, nothing is downloaded. Screenshots of every step and the
server's log go to tests/browser/screenshots/<run>/ (gitignored), printed at the end of the run.
"""

from __future__ import annotations

import concurrent.futures
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

from autograder.build import build
from autograder.coursedir import CONFIG_FILE, REPO_ROOT, CourseDir, read_notebook
from autograder.nbgrader_cli import autograde
from autograder.synth import fill_in, solution_answers, write_submission
from course.syllabus import ASSIGNMENTS

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
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # one folder per run inside
KEEP_RUNS = 3  # screenshot folders of older runs are deleted
_run_dir: list[Path] = []  # this run's folder, for the terminal summary
SERVER_START_TIMEOUT = 120  # s: a CPU-starved machine can take a while to import everything
STUDENT = "ada"  # the synthetic student whose submission the instructor grades by hand


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path, *, release: bool) -> CourseDir:
    """The syllabus' assignments in a fresh course: config, source/ and (if asked) the committed
    release/, so the browser opens exactly what students get."""
    repo = CourseDir.repo()
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    (dest / "source").mkdir(parents=True)
    shutil.copy2(repo.root / CONFIG_FILE, dest / CONFIG_FILE)
    shutil.copy2(repo.root / "source" / "header.ipynb", dest / "source" / "header.ipynb")
    for a in ASSIGNMENTS:
        shutil.copytree(repo.root / "source" / a.id, dest / "source" / a.id, ignore=ignore)
        if release:
            shutil.copytree(repo.root / "release" / a.id, dest / "release" / a.id, ignore=ignore)
    return CourseDir(dest)


def manual_grading_assignment():
    """The first assignment with a written answer: its submission is graded by hand."""
    for a in ASSIGNMENTS:
        if a.manual_points > 0:
            return a
    raise AssertionError("no assignment in the syllabus has manually graded points")


def build_and_grade(course: CourseDir, scratch: Path, a) -> None:
    """Give `course` its gradebook, then a submission of `a` autograded by nbgrader.

    `autograder.build` (nbgrader generate_assignment for every assignment) runs in a scratch
    copy, because it also rewrites release/, which the browser is using meanwhile; its
    gradebook.db (names and checksums, no paths) is then moved into the served course.
    The submission is the instructor's solutions, handed in by student `ada`."""
    built = copy_course(scratch, release=False)
    build(built, list(ASSIGNMENTS), log=lambda *_: None)
    shutil.copy2(built.root / "gradebook.db", course.root / "gradebook.db.part")
    os.replace(course.root / "gradebook.db.part", course.root / "gradebook.db")  # atomically
    answers = solution_answers(read_notebook(CourseDir.repo().source_notebook(a)))
    nb = fill_in(read_notebook(CourseDir.repo().release_notebook(a)), answers)
    write_submission(course, a, STUDENT, nb)
    autograde(course.root, a.id, STUDENT)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """tests/browser/screenshots/<date-time-pid>/: a folder per run, so runs at the same time
    (several people or agents on one checkout) never mix or delete each other's pictures."""
    SCREENSHOTS.mkdir(exist_ok=True)
    older = sorted(d for d in SCREENSHOTS.iterdir() if re.fullmatch(r"\d{8}-\d{6}-\d+", d.name))
    for d in older[: max(0, len(older) - (KEEP_RUNS - 1))]:
        shutil.rmtree(d, ignore_errors=True)
    run = SCREENSHOTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    _run_dir.append(run)
    return run


@pytest.fixture(scope="session")
def lab_course(tmp_path_factory) -> CourseDir:
    """The course the browser works in (no gradebook yet: see graded_submission)."""
    return copy_course(tmp_path_factory.mktemp("lab") / "course", release=True)


@pytest.fixture(scope="session")
def graded_submission(lab_course, tmp_path_factory):
    """A function returning (assignment, student) once the gradebook is built and that student's
    submission autograded. The work starts at once, in the background, so that it overlaps the
    student tests (which need no gradebook); the instructor tests wait for it."""
    a = manual_grading_assignment()
    scratch = tmp_path_factory.mktemp("build") / "course"
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(build_and_grade, lab_course, scratch, a)

        def wait():
            future.result(timeout=900)  # re-raises nbgrader's error, if any
            return a, STUDENT

        yield wait


@pytest.fixture(scope="session")
def lab(lab_course, graded_submission, screenshots, tmp_path_factory):
    """Base URL of `make lab` serving the course copy on a free loopback port.

    Jupyter's per-user state (config, lab settings, workspaces, runtime files, kernelspecs)
    goes to a temporary directory, so neither the user's settings nor an earlier run leak in.
    """
    state = tmp_path_factory.mktemp("jupyter-user")
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
        "lab", f"LAB_ROOT={lab_course.root}",
        f"LAB_ARGS=--no-browser --ServerApp.port={port} --ServerApp.port_retries=0",
    ]  # fmt: skip
    log_path = screenshots / "lab-server.log"
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


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless. Missing Chromium is a failure, not a skip."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash .ci/system-deps` as root (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture(scope="session")
def browser_context(browser):
    """One context for the session: its HTTP and code caches spare every test from parsing
    JupyterLab's JavaScript anew (seconds of CPU). Each test opens Lab with ?reset."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context, lab, screenshots, request):
    """A new tab per test; on failure its last state is saved as a screenshot. The kernels it
    started keep running (idle) until the server stops, which shuts them all down: shutting
    each one down here would cost seconds per test."""
    pg = browser_context.new_page()
    try:
        yield pg
    finally:
        if getattr(request.node, "browser_test_failed", False):
            name = request.node.name.replace("/", "_").replace("[", "_").rstrip("]")
            pg.screenshot(path=str(screenshots / f"FAILED_{name}.png"))
        pg.close()


def pytest_terminal_summary(terminalreporter):
    for run in _run_dir:
        shots = list(run.rglob("*.png"))
        terminalreporter.write_sep("-", f"browser screenshots ({len(shots)}) and server log: {run}")
