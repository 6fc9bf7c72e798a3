"""A class on JupyterHub (`make hub`), from release to returned feedback, in a real browser.

One test, in the order a class lives it: the hub starts with an instructor and two students (real
local accounts); the instructor releases 01; student A fetches it in JupyterLab's Assignment List,
answers one exercise, validates and submits; student B submits the blank release; the instructor
collects, grades (`python -m autograder grade`), writes feedback and releases it; A fetches the
feedback and reads it (A's score for that exercise, no hidden test); the instructor's Formgrader
opens inside JupyterLab on the hub and lists both submissions; B, from B's own server, can read
none of A's work, nor the course's solutions, and has no Formgrader.
Screenshots of every browser step: tests/hub/screenshots/<run>/ (printed at the end).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import pytest
from exercises import exercise_of
from hubclass import hub_class
from labpage import (
    IDLE,
    cell_selector,
    cells,
    close_dialog,
    in_lab,
    menu,
    open_notebook,
    replace_cell_source,
    run_cells_from,
    save,
    shot,
    validate,
    wait_executed,
)
from labserver import launch_chromium, new_context

from autograder.coursedir import Course, read_notebook
from autograder.synth import solution_answers
from course.syllabus import ASSIGNMENTS

pytestmark = pytest.mark.slow

ASSIGNMENT = ASSIGNMENTS[0]  # 01_creating_variables
TIMEOUT = 180_000  # ms: a server spawn or a list refresh on a busy 2-core machine


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def first_exercise(nb) -> tuple[str, list[int], list[int]]:
    """(name, solution cells, test cells) of the notebook's first exercise."""
    first = next(i for i, c in enumerate(nb.cells) if meta(c).get("solution"))
    ex = exercise_of(meta(nb.cells[first])["grade_id"])
    of_ex = [i for i, c in enumerate(nb.cells) if exercise_of(meta(c).get("grade_id", "")) == ex]
    solutions = [i for i in of_ex if meta(nb.cells[i]).get("solution")]
    tests = [i for i in of_ex if meta(nb.cells[i]).get("grade") and nb.cells[i].cell_type == "code"]
    assert solutions and tests and min(tests) > max(solutions), f"{ex}: answers, then tests"
    return ex, solutions, tests


def hidden_test_lines(source_nb) -> list[str]:
    """Every distinctive line of the source notebook's hidden tests that students never see (a
    line also in a visible test, e.g. the same check on the visible example, is no secret)."""
    hidden, visible = [], set()
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                hidden.append(line.strip())
            else:
                visible.add(line.strip())
    lines = [line for line in hidden if len(line) >= 25 and line not in visible]
    assert lines, "the source notebook has no hidden tests"
    return lines


_pages: dict[str, object] = {}  # user -> page, for a screenshot of each when the test fails


def login(browser, hub, user: str):
    """A browser of its own for `user`: the hub's login form, then the user's JupyterLab."""
    context = new_context(browser)
    page = context.new_page()
    _pages[user] = page
    page.goto(hub.login_url)
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(f"{hub.server_url(user)}/lab**", timeout=TIMEOUT)
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=File", timeout=TIMEOUT)
    return page


def nbgrader_menu(page) -> list[str]:
    """The items the Nbgrader menu shows (commands of disabled plugins show no label)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    labels = [t.strip() for t in page.locator(".lm-Menu-itemLabel").all_inner_texts() if t.strip()]
    page.keyboard.press("Escape")
    return labels


def assignment_list(page):
    """Nbgrader > Assignment List (or its tab, refreshed): the lists as the student sees them."""
    tab = page.locator(".lm-TabBar-tab", has_text="Assignments")
    if tab.count():
        tab.first.click()
        page.locator("#refresh_assignments_list").click()
    else:
        menu(page, "Nbgrader", "Assignment List")
    for name in ("released", "fetched", "submitted"):
        page.locator(f"#{name}_assignments_list_loading").wait_for(state="hidden", timeout=TIMEOUT)


def row(page, listing: str, assignment: str):
    """The row of `assignment` in the released/fetched/submitted list, once it is there."""
    r = page.locator(f"#{listing}_assignments_list > .list_item", has_text=assignment).first
    r.wait_for(timeout=TIMEOUT)
    return r


def fetch_and_submit_blank(page, a, out: Path) -> None:
    assignment_list(page)
    row(page, "released", a.id).locator(".item_status button", has_text="Fetch").click()
    submit = row(page, "fetched", a.id).locator(".item_status button", has_text="Submit")
    shot(page, out / "1_fetched.png")
    submit.click()
    row(page, "submitted", a.id)
    shot(page, out / "2_submitted_blank.png")


def test_a_class_on_the_hub(screenshots):
    from playwright.sync_api import sync_playwright

    start = time.monotonic()
    timings: dict[str, float] = {}
    _pages.clear()
    with hub_class(2, screenshots) as hub, sync_playwright() as pw:
        timings["1 hub started"] = time.monotonic() - start
        browser = launch_chromium(pw)
        try:
            run_the_class(hub, browser, screenshots, timings, start)
        except BaseException:
            for user, page in _pages.items():
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(screenshots / f"FAILED_{user}.png"))
            raise
        finally:
            browser.close()
    timings["stopped, removed"] = time.monotonic() - start
    print("\nhub test steps (s since start): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


def run_the_class(hub, browser, screenshots: Path, timings: dict, start: float) -> None:
    a = ASSIGNMENT
    repo = Course.repo()
    release = read_notebook(repo.release_notebook(a))
    source = read_notebook(repo.source_notebook(a))
    answers = solution_answers(source)
    ex, solution_cells, test_cells = first_exercise(release)
    ex_points = sum(float(meta(release.cells[i])["points"]) for i in test_cells)
    assert ex_points > 0

    student_a, student_b = hub.students

    # 2. The instructor (a terminal in the course) builds the gradebook and releases 01.
    hub.run_as(hub.instructor, "python", "-m", "autograder", "build", a.id, cwd=hub.course)
    hub.run_as(hub.instructor, "nbgrader", "release_assignment", a.id, cwd=hub.course)
    timings["2 released"] = time.monotonic() - start

    # 3. Student A: Assignment List, Fetch, answer one exercise, Validate, Submit.
    out = screenshots / "3_student_a"
    page_a = login(browser, hub, student_a)
    assert nbgrader_menu(page_a) == ["Assignment List"], "a student sees only the Assignment List"
    assignment_list(page_a)
    fetch = row(page_a, "released", a.id).locator(".item_status button", has_text="Fetch")
    shot(page_a, out / "1_assignment_list_shows_01.png")
    fetch.click()
    row(page_a, "fetched", a.id)
    shot(page_a, out / "2_fetched.png")
    assert (hub.home(student_a) / a.id / a.notebook).exists()
    open_notebook(page_a, hub.server_url(student_a), f"{a.id}/{a.notebook}", len(release.cells))
    for i in solution_cells:
        answer = answers[meta(release.cells[i])["grade_id"]]
        assert replace_cell_source(page_a, i, answer) == answer.splitlines()
    run_cells_from(page_a, 0, test_cells[-1])  # the setup cell and everything up to ex's tests
    ran = [i for i in range(test_cells[-1] + 1) if release.cells[i].cell_type == "code"]
    wait_executed(page_a, ran)
    shot(page_a, out / f"3_{ex}_test_passes.png", page_a.locator(cell_selector(test_cells[-1])))
    shown = {c["index"]: c for c in cells(page_a)}
    for i in ran:
        assert not shown[i]["errors"], f"cell {i} failed after typing the answer: {shown[i]['errors']}"
    save(page_a)
    result = validate(page_a)
    shot(page_a, out / "4_validate.png")
    assert result["title"] == "Validation Results", result
    assert result["kind"] == "validation-failed", result["text"][:2000]  # the other exercises
    failed = "\n".join(result["failed"])
    for i in test_cells:
        assert release.cells[i].source.strip() not in failed, f"Validate lists {ex}'s test as failing"
    close_dialog(page_a)
    assignment_list(page_a)
    row(page_a, "fetched", a.id).locator(".item_status button", has_text="Submit").click()
    row(page_a, "submitted", a.id)
    shot(page_a, out / "5_submitted.png")
    timings["3 A submitted"] = time.monotonic() - start

    # 4. Student B submits the release as fetched, without an answer.
    page_b = login(browser, hub, student_b)
    fetch_and_submit_blank(page_b, a, screenshots / "4_student_b")
    timings["4 B submitted"] = time.monotonic() - start

    # 5. The instructor: collect, grade, feedback (hidden tests removed), release the feedback.
    course = hub.course
    collected = hub.run_as(hub.instructor, "nbgrader", "collect", a.id, cwd=course)
    for s in (student_a, student_b):
        assert (course / "submitted" / s / a.id / a.notebook).exists(), collected
    graded = hub.run_as(hub.instructor, "python", "-m", "autograder", "grade", a.id, cwd=course)
    hub.run_as(hub.instructor, "python", "-m", "autograder", "feedback", a.id, cwd=course)
    hub.run_as(hub.instructor, "nbgrader", "release_feedback", a.id, cwd=course)
    scores = exercise_scores(course, a, ex, test_cells, release)
    assert scores == {student_a: ex_points, student_b: 0.0}, f"{scores}\n{graded[-3000:]}"
    timings["5 graded, feedback released"] = time.monotonic() - start

    # 6. Student A fetches the feedback and opens it: A's score for ex, no hidden test.
    out = screenshots / "6_feedback"
    assignment_list(page_a)
    row(page_a, "submitted", a.id).locator("button", has_text="Fetch Feedback").click()
    view = page_a.locator("#submitted_assignments_list a", has_text="view feedback").first
    view.wait_for(timeout=TIMEOUT)
    shot(page_a, out / "1_feedback_fetched.png")
    view.click()
    html_name = Path(a.notebook).with_suffix(".html").name
    listed = page_a.locator(".jp-DirListing-item", has_text=html_name).first
    listed.wait_for(timeout=TIMEOUT)
    listed.dblclick()
    frame = page_a.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe")
    body = frame.locator("body")
    body.wait_for(timeout=TIMEOUT)
    shot(page_a, out / f"2_{ex}_score_in_feedback.png")
    check_feedback(frame, source, release, test_cells)
    timings["6 A read feedback"] = time.monotonic() - start

    # 7. The instructor's Formgrader inside JupyterLab on the hub: both submissions.
    out = screenshots / "7_formgrader"
    page_i = login(browser, hub, hub.instructor)
    assert "Formgrader" in nbgrader_menu(page_i)
    menu(page_i, "Nbgrader", "Formgrader")
    fg = page_i.frame_locator("iframe[src*='formgrader']")
    fg.locator("#main-table td.name").first.wait_for(timeout=TIMEOUT)
    subs = fg.locator("#main-table tr", has_text=a.id).locator("td.num-submissions")
    assert subs.inner_text().strip() == "2"
    shot(page_i, out / "1_manage_assignments.png")
    subs.locator("a").click()
    for s in (student_a, student_b):
        fg.locator("#main-table td", has_text=s).first.wait_for(timeout=TIMEOUT)
    shot(page_i, out / "2_both_submissions.png")
    # The fix: only the instructor's own origin may frame it; every other server forbids framing.
    fg_url = f"{hub.server_url(hub.instructor)}/formgrader"
    assert csp_of(page_i, fg_url) == "frame-ancestors 'self'"
    assert csp_of(page_b, f"{hub.server_url(student_b)}/lab") == "frame-ancestors 'none'"
    timings["7 formgrader"] = time.monotonic() - start

    # 8. From B's own server: no Formgrader, nothing of A's, no solutions.
    out = screenshots / "8_student_b_security"
    response = page_b.goto(f"{hub.server_url(student_b)}/formgrader")
    assert response.status == 404, f"a student's /formgrader answered {response.status}"
    shot(page_b, out / "1_no_formgrader.png")
    report = probe_from_server(page_b, hub, student_b, student_a, a)
    shot(page_b, out / "2_cannot_read.png", page_b.locator(cell_selector(0)))
    for what, outcome in report.items():
        assert outcome in ("PermissionError", "FileNotFoundError"), f"B could read {what}: {outcome}"
    timings["8 security"] = time.monotonic() - start


def csp_of(page, url: str) -> str | None:
    """The Content-Security-Policy `url` answers with, opened in a new tab of the page's browser
    (only the browser resolves the users' *.localhost names, and it sends the user's cookies)."""
    tab = page.context.new_page()
    try:
        return tab.goto(url).headers.get("content-security-policy")
    finally:
        tab.close()


def exercise_scores(course: Path, a, ex: str, test_cells: list[int], release) -> dict[str, float]:
    """Each student's autograded score for exercise `ex`, from the instructor's gradebook."""
    from nbgrader.api import Gradebook

    ids = [meta(release.cells[i])["grade_id"] for i in test_cells]
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", Course(course).course_id) as gb:
        for sub in gb.assignment_submissions(a.id):
            nb = Path(a.notebook).stem
            scores[sub.student_id] = sum(gb.find_grade(g, nb, a.id, sub.student_id).score for g in ids)
    return scores


def check_feedback(frame, source, release, test_cells: list[int]) -> None:
    """The feedback gives each of the exercise's tests its full points, and shows no hidden-test code."""
    text = " ".join(frame.locator("body").inner_text().split())
    for line in hidden_test_lines(source):
        assert " ".join(line.split()) not in text, f"the feedback shows hidden-test code: {line}"
    for i in test_cells:
        grade_id = meta(release.cells[i])["grade_id"]
        points = round(float(meta(release.cells[i])["points"]), 2)
        entry = frame.locator(f"li:has(> a[href='#{grade_id}'])").inner_text()  # its table of contents
        assert f"Score: {points} / {points}" in entry, f"{grade_id} in the feedback: {entry}"


PROBE = """\
import json, os
results = {}
def attempt(what, action):
    try:
        action()
        results[what] = "READ"
    except OSError as e:
        results[what] = type(e).__name__
attempt("A's home", lambda: os.listdir(%(a_home)r))
attempt("A's notebook", lambda: open(%(a_notebook)r).read())
attempt("A's feedback", lambda: os.listdir(%(a_feedback)r))
attempt("the exchange's inbound", lambda: os.listdir(%(inbound)r))
attempt("A's submission, without its random suffix", lambda: os.listdir(%(a_submission_guess)r))
attempt("the exchange's feedback", lambda: os.listdir(%(feedback)r))
attempt("the course's source/", lambda: os.listdir(%(source)r))
attempt("the course's source notebook", lambda: open(%(source_nb)r).read())
attempt("the gradebook", lambda: open(%(gradebook)r, "rb").read())
print(json.dumps(results))
"""


def probe_from_server(page, hub, me: str, other: str, a) -> dict[str, str]:
    """Run, in a notebook on `me`'s own server, attempts to read `other`'s work and the course."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    submission = next((hub.exchange / "tf-variables" / "inbound").glob(f"{other}+{a.id}+*"))
    guess = "+".join(submission.name.split("+")[:3])  # what B could guess: no random suffix
    paths = {
        "a_home": str(hub.home(other)),
        "a_notebook": str(hub.home(other) / a.id / a.notebook),
        "a_feedback": str(hub.home(other) / a.id / "feedback"),
        "inbound": str(hub.exchange / "tf-variables" / "inbound"),
        "a_submission_guess": str(submission.with_name(guess)),
        "feedback": str(hub.exchange / "tf-variables" / "feedback"),
        "source": str(hub.course / "source"),
        "source_nb": str(hub.course / "source" / a.id / a.notebook),
        "gradebook": str(hub.course / "gradebook.db"),
    }
    # A new notebook from the Launcher, as a student makes one: the session and its kernel are
    # started by JupyterLab itself (a notebook file written into B's home from outside never got one).
    in_lab(page, hub.server_url(me))
    menu(page, "File", "New Launcher")
    page.locator(".jp-LauncherCard[data-category='Notebook']:visible").first.click()  # the new tab's
    page.wait_for_selector(f"{cell_selector(0)} .cm-content", timeout=TIMEOUT)
    page.wait_for_selector(IDLE, timeout=TIMEOUT)
    assert replace_cell_source(page, 0, PROBE % paths) == (PROBE % paths).split("\n")
    # A brand-new notebook's kernel may still be connecting, although its indicator says idle: Lab
    # then drops the run silently (the prompt stays [ ]). Run again until the cell starts (the
    # probe only reads, so running it twice is harmless).
    deadline = time.monotonic() + TIMEOUT / 1000
    while True:
        run_cells_from(page, 0, 0)
        try:
            page.wait_for_function(
                "sel => /\\[(\\*|\\d+)\\]/"
                ".test(document.querySelector(sel + ' .jp-InputPrompt').textContent)",
                arg=cell_selector(0),
                timeout=15_000,
            )
            break
        except PlaywrightTimeoutError:
            assert time.monotonic() < deadline, "the probe cell never started in B's new notebook"
    wait_executed(page, [0])
    output = page.locator(cell_selector(0)).locator(".jp-OutputArea-output").first.inner_text()
    return json.loads(output.strip().splitlines()[-1])
