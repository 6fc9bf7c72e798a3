"""The student's and the instructor's paths in a real browser: JupyterLab 4 + nbgrader's extension.

Started with the Makefile's `lab` recipe on a temporary copy of the course (see conftest.py).
Screenshots of every step: tests/browser/screenshots/<run>/ (printed at the end of the run).
"""

from __future__ import annotations

import collections
import json
import socket
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from exercises import exercise_of
from labpage import (
    NEWS_PROMPT,
    NOTEBOOK,
    cell_selector,
    cells,
    close_dialog,
    executed,
    in_lab,
    menu,
    move_a_control,
    open_notebook,
    replace_cell_source,
    run_all,
    run_cell,
    run_cells_from,
    save,
    shot,
    validate,
    wait_executed,
    wait_widget_image_changed,
    widget_image_src,
)
from labserver import EXPLORATION_MOVES, STUDENT_DURATIONS

from autograder.coursedir import Course, read_notebook
from autograder.synth import solution_answers
from course.syllabus import ASSIGNMENTS

pytestmark = pytest.mark.slow


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def first_exercise(nb) -> tuple[str, list[int], list[int]]:
    """The exercise of the notebook's first solution cell: (name, its solution cells, its test cells)."""
    first = next(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("solution"))
    ex = exercise_of(nbgrader_meta(nb.cells[first])["grade_id"])
    assert ex, f"cell {first}'s grade id does not name an exercise (exN_...)"
    of_ex = [i for i, c in enumerate(nb.cells) if exercise_of(nbgrader_meta(c).get("grade_id", "")) == ex]
    solutions = [i for i in of_ex if nbgrader_meta(nb.cells[i]).get("solution")]
    tests = [i for i in of_ex if nbgrader_meta(nb.cells[i]).get("grade") and nb.cells[i].cell_type == "code"]
    assert all(nb.cells[i].cell_type == "code" for i in solutions), f"{ex}: expected code answers only"
    assert tests and min(tests) > max(solutions), f"{ex}: expected its test cells after its answers"
    return ex, solutions, tests


def failing_before_answers(nb, solved: str) -> collections.Counter:
    """Sources of the cells nbgrader's Validator must report when only exercise `solved` is done:
    every autograded test and every written answer of the other exercises."""
    return collections.Counter(
        c.source.strip()
        for c in nb.cells
        if nbgrader_meta(c).get("grade")
        and (c.cell_type == "code" or nbgrader_meta(c).get("solution"))
        and exercise_of(nbgrader_meta(c)["grade_id"]) != solved
    )


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port` (Linux /proc/net)."""
    found = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if fields[3] != "0A" or int(hexport, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(addr)
            if sys.byteorder == "little":  # the kernel prints 32-bit words in host byte order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def test_make_lab_serves_without_token_on_loopback_only(lab):
    # The REST API answers a client that has no token, no cookie, no password.
    with urllib.request.urlopen(f"{lab}/api/contents/release", timeout=30) as r:
        listing = json.load(r)
    assert {a.id for a in ASSIGNMENTS} <= {item["name"] for item in listing["content"]}
    # ... which is only safe because nothing but the loopback interface can reach it.
    port = int(lab.rsplit(":", 1)[1])
    if Path("/proc/net/tcp").exists():
        assert listening_addresses(port) == {"127.0.0.1"}
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # UDP: picks the outward interface, sends nothing
        outward = probe.getsockname()[0]
    except OSError:
        outward = None
    finally:
        probe.close()
    if outward and not outward.startswith("127."):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outward, port), timeout=10).close()
    # The project's settings override: Lab never asks about fetching Jupyter news.
    url = f"{lab}/lab/api/settings/@jupyterlab/apputils-extension:notification"
    with urllib.request.urlopen(url, timeout=30) as r:
        schema = json.load(r)["schema"]
    assert schema["properties"]["fetchNews"]["default"] == "false"


def test_student_path(assignment, lab, lab_course, page, screenshots):
    """Open, Run All (stops at the first stub), answer one exercise, pass its test, Validate."""
    a = assignment
    out = screenshots / a.id
    start = time.monotonic()
    repo = Course.repo()
    release = read_notebook(repo.release_notebook(a))
    answers = solution_answers(read_notebook(repo.source_notebook(a)))
    ex, solution_cells, test_cells = first_exercise(release)
    saved = lab_course.release_notebook(a)  # the file the browser edits and saves

    # 1. Open the notebook: every cell rendered, nbgrader's Validate button in the toolbar.
    open_notebook(page, lab, f"release/{a.id}/{a.notebook}", len(release.cells))
    assert len(cells(page)) == len(release.cells)
    assert page.locator(f"{NOTEBOOK} jp-button.validate-button").is_visible()
    shot(page, out / "1_opened.png")

    # 2. Run > Run All Cells: it stops at the first unanswered exercise with NotImplementedError.
    run_all(page)
    shown = cells(page)
    failed = [c for c in shown if c["errors"]]
    assert failed, "Run All showed no error, yet the release has unanswered exercises"
    stop = failed[0]["index"]
    shot(page, out / "2_run_all_stops_at_first_stub.png", page.locator(cell_selector(stop)))
    assert "NotImplementedError" in failed[0]["errors"][0], failed[0]["errors"][0][-800:]
    assert solution_cells[0] <= stop <= test_cells[-1], (
        f"Run All stopped at cell {stop}, outside exercise {ex} (cells {solution_cells[0]}-{test_cells[-1]})"
    )
    for c in shown:
        if c["code"] and c["index"] < stop:
            assert executed(c["prompt"]), f"cell {c['index']} before the stub did not run: {c['prompt']}"
        if c["code"] and c["index"] > stop:
            assert not executed(c["prompt"]), f"cell {c['index']} ran after the error"
    # The notebook's model agrees with the page: saved, the first error output is that cell's.
    save(page)
    nb = nbformat.read(saved, as_version=4)
    errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]  # fmt: skip
    assert errors and errors[0][0] == stop and errors[0][1].ename == "NotImplementedError"

    # 3. Type the answer to that exercise, run it, its try-it cell and its visible test.
    for i in solution_cells:
        answer = answers[nbgrader_meta(release.cells[i])["grade_id"]]
        assert replace_cell_source(page, i, answer) == answer.splitlines()
    run_cells_from(page, solution_cells[0], test_cells[-1])
    ran = [i for i in range(solution_cells[0], test_cells[-1] + 1) if release.cells[i].cell_type == "code"]
    wait_executed(page, ran)
    by_index = {c["index"]: c for c in cells(page)}
    shot(page, out / f"3_{ex}_test_passes.png", page.locator(cell_selector(test_cells[-1])))
    for i in ran:
        assert not by_index[i]["errors"], f"cell {i} failed after typing the answer:\n{by_index[i]['errors']}"

    # 4. Validate: nbgrader saves, runs the whole notebook and lists what still fails.
    result = validate(page)
    shot(page, out / "4_validate_result.png")
    assert result["title"] == "Validation Results", result
    assert result["kind"] == "validation-failed", result["text"][:2000]
    reported = collections.Counter(src.strip() for src in result["failed"])
    assert reported == failing_before_answers(release, ex), (
        f"Validate should list every graded cell except {ex}'s; it listed:\n{result['text'][:3000]}"
    )
    close_dialog(page)
    nb = nbformat.read(saved, as_version=4)
    for i in solution_cells:
        assert nb.cells[i].source == answers[nbgrader_meta(release.cells[i])["grade_id"]]
    for i in test_cells:
        assert nb.cells[i].execution_count, f"test cell {i} was not saved as executed"
        assert not [o for o in nb.cells[i].outputs if o.output_type == "error"], f"test cell {i} failed"
    assert page.get_by_text(NEWS_PROMPT).count() == 0, "the Jupyter news prompt popped up"
    STUDENT_DURATIONS[a.id] = time.monotonic() - start


EXPLORATION = "# Exploration (not graded)"  # how the notebooks start their exploration cell


def differing_pixels(before: Path, after: Path) -> float:
    """Fraction of the pixels that differ between two screenshots (1.0 if their sizes differ)."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(before).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(after).convert("RGB"), dtype=np.int16)
    if a.shape != b.shape:
        return 1.0
    return float(np.mean(np.any(np.abs(a - b) > 8, axis=-1)))


def test_exploration_redraws_when_a_control_moves(assignment, lab, page, screenshots):
    """The setup cell and the exploration alone (it needs nothing else), then one control moved:
    the picture the widget shows must change (compared pixel by pixel, before and after)."""
    a = assignment
    out = screenshots / a.id
    release = read_notebook(Course.repo().release_notebook(a))
    code = [i for i, c in enumerate(release.cells) if c.cell_type == "code"]
    setup = next(i for i in code if release.cells[i].metadata.get("nbgrader", {}).get("grade_id") == "setup")
    exploration = next(i for i in code if release.cells[i].source.startswith(EXPLORATION))

    open_notebook(page, lab, f"release/{a.id}/{a.notebook}", len(release.cells))
    run_cell(page, setup)
    wait_executed(page, [setup])
    run_cell(page, exploration)
    wait_executed(page, [exploration])
    by_index = {c["index"]: c for c in cells(page)}
    assert not by_index[setup]["errors"] and not by_index[exploration]["errors"], (
        f"setup: {by_index[setup]['errors']}\nexploration: {by_index[exploration]['errors']}"
    )
    image = page.locator(cell_selector(exploration)).locator("img.widget-image").first
    old_src = widget_image_src(page, exploration)
    before = shot(page, out / "5_exploration_before.png", image)
    pictures = out / "5_exploration_before_picture.png", out / "6_exploration_after_picture.png"
    image.screenshot(path=str(pictures[0]))

    moved = move_a_control(page, exploration)
    wait_widget_image_changed(page, exploration, old_src)
    after = shot(page, out / "6_exploration_after.png", image)
    image.screenshot(path=str(pictures[1]))
    changed = differing_pixels(*pictures)
    assert changed > 0.002, f"moved the {moved}, yet the picture stayed ({changed:.2%} of its pixels differ)"
    assert before.exists() and after.exists()
    EXPLORATION_MOVES[a.id] = f"{moved}: {changed:.1%} of the picture's pixels changed"
    by_index = {c["index"]: c for c in cells(page)}
    assert not by_index[exploration]["errors"], f"the redraw failed: {by_index[exploration]['errors']}"


def test_formgrader_lists_the_assignments(lab, page, graded_submission, screenshots):
    graded, _ = graded_submission()
    in_lab(page, lab)
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe[src*='formgrader']")
    frame.locator("#main-table td.name").first.wait_for()
    shot(page, screenshots / "formgrader" / "1_manage_assignments.png")
    rows = {
        name.strip(): subs.strip()
        for name, subs in zip(
            frame.locator("#main-table td.name").all_inner_texts(),
            frame.locator("#main-table td.num-submissions").all_inner_texts(),
            strict=True,
        )
    }
    assert sorted(rows) == sorted(a.id for a in ASSIGNMENTS)
    assert rows[graded.id] == "1", rows


def test_formgrader_opens_a_written_answer_for_manual_grading(
    lab, lab_course, page, graded_submission, screenshots
):
    a, student = graded_submission()
    source = read_notebook(Course.repo().source_notebook(a))
    answers = solution_answers(source)
    written = [
        (nbgrader_meta(c)["grade_id"], float(nbgrader_meta(c)["points"]))
        for c in source.cells
        if c.cell_type == "markdown" and nbgrader_meta(c).get("grade") and nbgrader_meta(c).get("solution")
    ]
    assert written, f"{a.id} has manual points but no written-answer cell"
    out = screenshots / "formgrader"

    # Formgrader's own page (the test above opened it from Lab's Nbgrader menu).
    page.goto(f"{lab}/formgrader")
    # Manual Grading > assignment > notebook > the (anonymised) submission, page by page.
    for link in ("Manual Grading", a.id, Path(a.notebook).stem, "Submission #1"):
        page.get_by_role("link", name=link, exact=True).click()
    grade_id, points = written[0]
    box = page.locator(f"input.score#{grade_id}")
    box.wait_for(timeout=120_000)
    cell = box.locator("xpath=ancestor::div[contains(@class, 'nbgrader_cell')]").first
    first_words = " ".join(answers[grade_id].split()[:6])
    assert first_words in " ".join(cell.inner_text().split()), "the student's written answer is not shown"
    shot(page, out / "2_manual_grading_view.png", box)

    # Give the points and leave the box: formgrader saves the grade to the gradebook.
    box.fill(f"{points:g}")
    box.press("Enter")
    deadline = time.monotonic() + 60
    while (grade := manual_grade(lab_course, a, student, grade_id)) != (points, False):
        assert time.monotonic() < deadline, f"gradebook has (manual score, needs grading) = {grade}"
        time.sleep(0.5)
    shot(page, out / "3_manual_grade_saved.png", box)


def manual_grade(course: Course, a, student: str, grade_id: str) -> tuple[float | None, bool]:
    from nbgrader.api import Gradebook

    with Gradebook(course.db_url) as gb:
        grade = gb.find_grade(grade_id, Path(a.notebook).stem, a.id, student)
        return grade.manual_score, grade.needs_manual_grade
