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
import shutil
from pathlib import Path

import pytest
from labserver import (
    EXPLORATION_MOVES,
    STUDENT_DURATIONS,
    lab_server,
    launch_chromium,
    new_context,
    new_run_folder,
)

from autograder.build import build
from autograder.coursedir import CONFIG_FILE, Course, read_notebook
from autograder.nbgrader_cli import autograde
from autograder.synth import fill_in, solution_answers, write_submission
from course.syllabus import ASSIGNMENTS

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # one folder per run inside
KEEP_RUNS = 3  # screenshot folders of older runs are deleted
_run_dir: list[Path] = []  # this run's folder, for the terminal summary
STUDENT = "ada"  # the synthetic student whose submission the instructor grades by hand


def copy_course(dest: Path, *, release: bool) -> Course:
    """The syllabus' assignments in a fresh course: config, source/ and (if asked) the committed
    release/, so the browser opens exactly what students get."""
    repo = Course.repo()
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    (dest / "source").mkdir(parents=True)
    shutil.copy2(repo.root / CONFIG_FILE, dest / CONFIG_FILE)
    shutil.copy2(repo.root / "source" / "header.ipynb", dest / "source" / "header.ipynb")
    for a in ASSIGNMENTS:
        shutil.copytree(repo.root / "source" / a.id, dest / "source" / a.id, ignore=ignore)
        if release:
            shutil.copytree(repo.root / "release" / a.id, dest / "release" / a.id, ignore=ignore)
    return Course(dest)


def manual_grading_assignment():
    """The first assignment with a written answer: its submission is graded by hand."""
    for a in ASSIGNMENTS:
        if a.manual_points > 0:
            return a
    raise AssertionError("no assignment in the syllabus has manually graded points")


def build_and_grade(course: Course, scratch: Path, a) -> None:
    """Give `course` its gradebook, then a submission of `a` autograded by nbgrader.

    `autograder.build` (nbgrader generate_assignment for every assignment) runs in a scratch
    copy, because it also rewrites release/, which the browser is using meanwhile; its
    gradebook.db (names and checksums, no paths) is then moved into the served course.
    The submission is the instructor's solutions, handed in by student `ada`."""
    built = copy_course(scratch, release=False)
    build(built, list(ASSIGNMENTS), log=lambda *_: None)
    shutil.copy2(built.root / "gradebook.db", course.root / "gradebook.db.part")
    os.replace(course.root / "gradebook.db.part", course.root / "gradebook.db")  # atomically
    answers = solution_answers(read_notebook(Course.repo().source_notebook(a)))
    nb = fill_in(read_notebook(Course.repo().release_notebook(a)), answers)
    write_submission(course, a, STUDENT, nb)
    autograde(course.root, a.id, STUDENT)


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """tests/browser/screenshots/<date-time-pid>/: a folder per run."""
    run = new_run_folder(SCREENSHOTS, KEEP_RUNS)
    _run_dir.append(run)
    return run


@pytest.fixture(scope="module")
def lab_course(tmp_path_factory) -> Course:
    """The course the browser works in (no gradebook yet: see graded_submission)."""
    return copy_course(tmp_path_factory.mktemp("lab") / "course", release=True)


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def lab(lab_course, graded_submission, screenshots, tmp_path_factory):
    """Base URL of `make lab` serving the course copy (its log: lab-server.log by the screenshots)."""
    state = tmp_path_factory.mktemp("jupyter-user")
    with lab_server(lab_course, state, screenshots / "lab-server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (missing Chromium fails, never skips)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture(scope="module")
def browser_context(browser):
    context = new_context(browser)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def _tab():
    return {}  # holds the browser tab the tests share while they pass


@pytest.fixture
def page(browser_context, lab, screenshots, request, _tab):
    """The browser tab, shared by the tests one after the other like a student's Lab session:
    loading JupyterLab costs seconds of CPU. A test that fails leaves a screenshot of its tab,
    and the next test starts in a new one. The kernels the tests start keep running (idle)
    until the server stops, which shuts them all down."""
    if "page" not in _tab:
        _tab["page"] = browser_context.new_page()
    pg = _tab["page"]
    try:
        yield pg
    finally:
        if getattr(request.node, "browser_test_failed", True):  # failed, or errored in setup
            name = request.node.name.replace("/", "_").replace("[", "_").rstrip("]")
            with contextlib.suppress(Exception):
                pg.screenshot(path=str(screenshots / f"FAILED_{name}.png"))
            pg.close()
            del _tab["page"]


def pytest_terminal_summary(terminalreporter):
    if STUDENT_DURATIONS:
        times = ", ".join(f"{a} {t:.0f} s" for a, t in sorted(STUDENT_DURATIONS.items()))
        terminalreporter.write_line(f"student paths in the browser: {times}")
    for a, moved in sorted(EXPLORATION_MOVES.items()):
        terminalreporter.write_line(f"exploration of {a}: {moved}")
    for run in _run_dir:
        shots = list(run.rglob("*.png"))
        terminalreporter.write_sep("-", f"browser screenshots ({len(shots)}) and server log: {run}")
