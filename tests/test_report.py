"""`report`: CSV = gradebook scores, nbgrader's export format, per-exercise numbers, self-contained HTML."""

from __future__ import annotations

import base64
import csv
import re
import shutil
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from exercises import exercise_of
from nbgrader.api import Gradebook

from autograder.batch import grade_batch
from autograder.coursedir import Course, read_notebook
from autograder.nbgrader_cli import export_grades, run_nbgrader
from autograder.report import STUB_MESSAGE, collect, export_nbgrader_csv, failure_message, write_report
from autograder.synth import CHEAT, fill_in, load_mutants, solution_answers
from course.syllabus import ASSIGNMENTS

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

FIRST = ASSIGNMENTS[0]
EX1_TEST = "ex1_make_bias_test"


def _mutant(course: Course, cell: str, why_contains: str):
    found = [m for m in load_mutants(course.mutants_file(FIRST)) if m.cell == cell and why_contains in m.why]
    assert found, f"no mutant of {cell} whose reason mentions {why_contains!r}"
    return found[0]


@pytest.fixture(scope="module")
def graded(built_course, tmp_path_factory):
    """Assignment 01 handed in by a small class whose per-exercise numbers are known."""
    root = tmp_path_factory.mktemp("report") / "course"
    shutil.copytree(built_course.root, root, ignore=shutil.ignore_patterns("submitted", "autograded"))
    course = Course(root)
    # The session's built course is shared: other tests may have graded students into its
    # gradebook. This class must be exactly the one below.
    with Gradebook(course.db_url) as gb:
        for other in [s.id for s in gb.students]:
            gb.remove_student(other)
    release = read_notebook(course.release_notebook(FIRST))
    solution = solution_answers(read_notebook(course.source_notebook(FIRST)))
    tensor = _mutant(course, "ex1_make_bias", "immutable tensor")  # visible assert fails
    unnamed = _mutant(course, "ex1_make_bias", "forgot the name")  # hidden assert fails
    counter = next(m for m in load_mutants(course.mutants_file(FIRST)) if exercise_of(m.cell) == "ex3")
    late = next(m for m in load_mutants(course.mutants_file(FIRST)) if exercise_of(m.cell) == "ex5")

    def submit(student: str, answers: dict | None = None, raw: str | None = None) -> None:
        path = course.submitted_notebook(FIRST, student)
        path.parent.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            path.write_text(raw)
        else:
            nbformat.write(fill_in(release, answers) if answers is not None else release, path)

    submit("ann", solution)
    submit("bob", {**solution, tensor.cell: tensor.source})
    submit("cat", {**solution, tensor.cell: tensor.source})
    submit("dan", {**solution, unnamed.cell: unnamed.source, counter.cell: counter.source})
    submit("eve")  # the blank release: every exercise unanswered
    submit("fay", {**solution, late.cell: late.source + CHEAT})  # cheats: flagged
    submit("gus", raw='{"cells": [')  # broken file: fails
    summary = grade_batch(Course(root), [FIRST.id], workers=2, progress=False)
    assert len(summary.graded) == 6 and len(summary.failed) == 1 and not summary.errors
    report, paths = write_report(Course(root), [FIRST.id], root / "reports")
    return course, summary, report, paths, tensor


def _gradebook(course: Course) -> dict[str, dict]:
    cd = course.coursedir()
    out = {}
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for sub in gb.find_assignment(FIRST.id).submissions:
            cells = {g.name: (float(g.score), float(g.max_score), g.cell.cell_type) for nb in sub.notebooks
                     for g in nb.grades}
            out[sub.student.id] = {"score": float(sub.score), "max": float(sub.max_score), "cells": cells}
    return out


def test_grades_csv_holds_the_gradebook_scores_and_lists_failed_and_flagged(graded):
    course, summary, _, paths, _ = graded
    gb = _gradebook(course)
    rows = {r["student_id"]: r for r in csv.DictReader(paths["grades"].open())}
    assert set(rows) == set(gb) | {"gus"}
    for student, truth in gb.items():
        row = rows[student]
        assert row["status"] == "graded"
        assert float(row["score"]) == truth["score"] and float(row["max_score"]) == truth["max"]
        code = [(s, m) for s, m, kind in truth["cells"].values() if kind == "code"]
        assert float(row["autograded_score"]) == sum(s for s, _ in code)
        assert float(row["autograded_max"]) == sum(m for _, m in code)
    assert float(rows["ann"]["autograded_score"]) == FIRST.autograded_points
    assert rows["gus"]["status"] == "failed" and "invalid JSON" in rows["gus"]["reason"]
    assert rows["fay"]["flagged"] and "set_custom_exc" in rows["fay"]["flagged"]
    assert not any(rows[s]["flagged"] for s in ("ann", "bob", "cat", "dan", "eve"))

    cells = list(csv.DictReader(paths["cells"].open()))
    assert len(cells) == sum(len(t["cells"]) for t in gb.values())
    for c in cells:
        assert float(c["score"]) == gb[c["student_id"]]["cells"][c["grade_id"]][0]


def test_nbgrader_csv_is_what_nbgrader_export_writes(graded, tmp_path):
    course, _, _, paths, _ = graded
    stock = tmp_path / "stock.csv"
    run_nbgrader(course.root, "export", "--to", str(stock), "--assignment", f"['{FIRST.id}']")
    assert paths["nbgrader"].read_text() == stock.read_text()
    everything = export_nbgrader_csv(course, tmp_path / "all.csv")  # no assignment: all of them
    assert everything.read_text() == export_grades(course.root, tmp_path / "stock-all.csv").read_text()
    header = paths["nbgrader"].read_text().splitlines()[0]
    assert header == "assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score," \
                     "late_submission_penalty,score,max_score"


def test_per_exercise_numbers(graded):
    course, _, report, paths, tensor = graded
    gb = _gradebook(course)
    per_ex: dict[str, list[float]] = defaultdict(list)
    points: dict[str, float] = defaultdict(float)
    for student, truth in gb.items():
        mine: dict[str, float] = defaultdict(float)
        for grade_id, (score, max_score, _) in truth["cells"].items():
            mine[exercise_of(grade_id)] += score
            if student == "ann":
                points[exercise_of(grade_id)] += max_score
        for ex, s in mine.items():
            per_ex[ex].append(s)
    rows = {r["exercise"]: r for r in csv.DictReader(paths["exercises"].open())}
    assert set(rows) == set(per_ex)
    for ex, scores in per_ex.items():
        assert float(rows[ex]["points"]) == points[ex]
        assert float(rows[ex]["mean_score"]) == pytest.approx(sum(scores) / len(scores), abs=1e-4)
        full = sum(1 for s in scores if s >= points[ex]) / len(scores)
        assert float(rows[ex]["full_marks_share"]) == pytest.approx(full, abs=1e-4)
        assert int(rows[ex]["students"]) == 6

    # ex1: bob and cat wrote the same wrong answer, dan another, eve left the stub; fay cheated
    # elsewhere. Full marks: ann and fay only.
    ex1 = rows["ex1"]
    assert float(ex1["full_marks_share"]) == pytest.approx(2 / 6, abs=1e-4)
    assert int(ex1["students_losing_points"]) == 4 and int(ex1["unanswered"]) == 1
    assert int(ex1["most_common_failure_count"]) == 2
    bob = nbformat.read(course.root / "autograded" / "bob" / FIRST.id / FIRST.notebook, as_version=4)
    bob_ex1 = next(c for c in bob.cells if c.metadata.get("nbgrader", {}).get("grade_id") == EX1_TEST)
    top = ex1["most_common_failure"]
    assert top == failure_message(bob_ex1)
    assert top.startswith("AssertionError: ") and "tf.Variable" in top
    assert int(rows["ex3"]["students_losing_points"]) == 2  # dan's wrong answer and eve's stub
    written = [r for r in rows.values() if r["written"] == "1"]
    assert written and all(int(r["to_grade_by_hand"]) == 5 for r in written)  # all but the blank

    a = report.assignments[0]
    assert len(a.submissions) == 7 and len(a.graded) == 6 and [s.student for s in a.failed] == ["gus"]
    assert [s.student for s in a.flagged] == ["fay"] and a.full_marks == 1
    assert STUB_MESSAGE not in {e.top_message for e in a.exercises}


def test_html_is_self_contained_with_embedded_png_charts(graded):
    _, _, _, paths, _ = graded
    page = paths["html"].read_text()
    assert page.startswith("<!DOCTYPE html>")
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert len(images) == 2, "a grade histogram and a per-exercise bar chart"
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r'(src|href)="(https?:)?//', page), "nothing loaded from elsewhere"
    assert "<link" not in page and "<script" not in page
    assert "alt=\"grade histogram of" in page and "alt=\"per-exercise scores of" in page
    flagged = page.split("Flagged for review", 1)[1].split("</ul>", 1)[0]
    assert "fay" in flagged and "set_custom_exc" in flagged
    failed = page.split("Could not be graded", 1)[1].split("</ul>", 1)[0]
    assert "gus" in failed and "invalid JSON" in failed


def test_report_reads_the_gradebook_named_by_nbgrader_db_url(graded, tmp_path, monkeypatch):
    course, _, report, _, _ = graded
    moved = tmp_path / "elsewhere.db"
    shutil.copy2(course.root / "gradebook.db", moved)
    hidden = course.root / "gradebook.db.away"
    (course.root / "gradebook.db").rename(hidden)
    try:
        monkeypatch.setenv("NBGRADER_DB_URL", f"sqlite:///{moved}")
        again = collect(Course(course.root), [FIRST.id])  # a command reads the configuration at start
        assert str(moved) in again.db_url
        def scores(r):
            return {s.student: (s.status, s.score, s.auto_score) for s in r.assignments[0].submissions}

        assert scores(again) == scores(report)
        monkeypatch.setenv("NBGRADER_DB_URL", f"sqlite:///{tmp_path / 'missing.db'}")
        from autograder.coursedir import CourseError

        with pytest.raises(CourseError, match="no gradebook"):
            collect(Course(course.root), [FIRST.id])
    finally:
        hidden.rename(course.root / "gradebook.db")


def test_cli_report_prints_the_table(graded, tmp_path):
    import subprocess
    import sys

    from autograder.nbgrader_cli import nbgrader_env

    course = graded[0]
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "report", "--course", str(course.root), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=nbgrader_env(),
    )
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith(FIRST.id))
    # students 7, mean/min/max autograded, of 12, full marks 1, failed 1, flagged 1
    fields = line.split()
    assert fields[1] == "7" and fields[5] == f"{FIRST.autograded_points:g}"
    assert fields[6:9] == ["1", "1", "1"], line
    assert (tmp_path / "report.html").is_file() and Path(tmp_path / "grades.csv").is_file()
