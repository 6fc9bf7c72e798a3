"""LMS path: `collect` an LMS's submissions zip, `grade`, `report --lms` the CSV the LMS imports.

Fast tests use a tiny course (config and one released notebook; collect needs no gradebook): file
names, rosters, awkward archives, refused archives. The end-to-end test grades a handful of the
demo class's notebooks once: the Canvas archive is collected, graded and reported; the Moodle
archive of the same class is collected over it (byte-identical submissions, so `grade` has nothing
to redo) and reported.
"""

from __future__ import annotations

import csv
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from lms_fixtures import (
    CANVAS_COLUMN,
    CLASS,
    LATE,
    MOODLE_COLUMNS,
    ROSTER,
    canvas_name,
    canvas_roster,
    moodle_name,
    moodle_worksheet,
    special_member,
    write_zip,
)

from autograder.collect import collect_from_lms, format_outcome
from autograder.coursedir import REPO_ROOT, Course, CourseError
from autograder.lms import CANVAS, MOODLE, notebook_name, parse_file_name, read_roster, write_grades
from autograder.nbgrader_cli import nbgrader_env
from autograder.records import ERROR, read_record, record_path, write_record
from course.syllabus import ASSIGNMENTS

FIRST = ASSIGNMENTS[0]
NB = FIRST.notebook  # creating_variables.ipynb


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO_ROOT, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    """A course with the course's config and one released notebook; temp files in tmp_path/tmp."""
    course = tmp_path / "course"
    (course / "release" / FIRST.id).mkdir(parents=True)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "release" / FIRST.id / NB).write_text('{"released": true}')
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return course


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


# --- file names --------------------------------------------------------------------------------------


def test_canvas_and_moodle_file_names_are_taken_apart():
    """Each LMS's documented download names (sources in autograder/lms.py)."""
    f = parse_file_name(CANVAS, "doeann_1001_502_creating_variables-1.ipynb")
    assert (f.name, f.lms_id, f.order, f.late) == ("doeann", "1001", 502, False)
    assert f.file == "creating_variables-1.ipynb"
    f = parse_file_name(CANVAS, "roebob_LATE_1002_503_creating_variables.ipynb")
    assert (f.name, f.lms_id, f.late) == ("roebob", "1002", True)
    f = parse_file_name(CANVAS, "o_brienpat_1006_9_my_work_1_2.ipynb")  # '_' in name and file
    assert (f.name, f.lms_id, f.order, f.file) == ("o_brienpat", "1006", 9, "my_work_1_2.ipynb")
    f = parse_file_name(CANVAS, "LATE_anon_x7Yz2_77_creating_variables.ipynb")  # anonymous grading
    assert (f.name, f.lms_id, f.late) == ("", "anon_x7Yz2", True)
    assert parse_file_name(CANVAS, "creating_variables.ipynb") is None

    f = parse_file_name(MOODLE, "Ann Doe_7001_assignsubmission_file_/creating_variables (1).ipynb")
    assert (f.name, f.lms_id, f.plugin, f.file) == ("Ann Doe", "7001", "file", "creating_variables (1).ipynb")
    f = parse_file_name(MOODLE, "Bob Roe_7002_assignsubmission_file_creating_variables.ipynb")  # flat
    assert (f.lms_id, f.file) == ("7002", "creating_variables.ipynb")
    f = parse_file_name(MOODLE, "Participant_7003_assignsubmission_onlinetext_onlinetext.html")  # blind
    assert (f.name, f.plugin) == ("Participant", "onlinetext")

    released = [NB, "lab-1.ipynb"]
    assert notebook_name(CANVAS, "creating_variables-2.ipynb", released) == (NB, 2)
    assert notebook_name(CANVAS, "lab-1.ipynb", released) == ("lab-1.ipynb", 0)  # its own name is never cut
    assert notebook_name(MOODLE, "creating_variables (3).ipynb", released) == (NB, 3)
    assert notebook_name(MOODLE, "creating_variables-2.ipynb", released) == (None, 0)


def test_rosters_in_each_lms_export_format(tmp_path):
    canvas = read_roster(CANVAS, canvas_roster(tmp_path / "canvas.csv"))
    assert canvas.points_row
    assert [canvas.lms_id(r) for r in canvas.rows] == ["1001", "1002", "1003", "1004", "1005", "1099"]
    assert canvas.student_for("1002") == ("bob", "")
    assert canvas.student_for("1099")[1] == "Canvas user 1099: the roster's 'SIS Login ID' '' is empty"
    assert "is not in the roster" in canvas.student_for("4242")[1]
    moodle = read_roster(MOODLE, moodle_worksheet(tmp_path / "moodle.csv"), "Username")
    assert moodle.student_for("7005") == ("eve", "")
    assert read_roster(MOODLE, tmp_path / "moodle.csv").student_for("7001") == ("ann@example.edu", "")
    with pytest.raises(CourseError, match="no column 'Identifier'.*grading worksheet"):
        read_roster(MOODLE, tmp_path / "canvas.csv")
    with pytest.raises(CourseError, match="no column 'Login'.*--id-column"):
        read_roster(CANVAS, tmp_path / "canvas.csv", "Login")


# --- collect: awkward archives ---------------------------------------------------------------------------


def test_every_file_that_cannot_be_placed_is_reported_and_the_rest_collected(tiny, tmp_path):
    ann, bob, cat, dan = (ROSTER[s] for s in ("ann", "bob", "cat", "dan"))
    archive = write_zip(tmp_path / "canvas.zip", [
        (canvas_name(ann, 501, NB), b'{"ann": 1}'),
        (canvas_name(ann, 502, "creating_variables-1.ipynb"), b'{"ann": 2}'),  # re-uploaded: later
        (canvas_name(bob, 503, NB, late=True), b'{"bob": 1}'),
        (canvas_name(cat, 504, "notes.pdf"), b"%PDF"),
        (canvas_name(dan, 505, "homework.ipynb"), b"{}"),
        ("zedzed_9999_506_creating_variables.ipynb", b"{}"),
        ("studenttest_1099_507_creating_variables.ipynb", b"{}"),
        ("README.txt", b"not from Canvas"),
    ])  # fmt: skip
    roster = canvas_roster(tmp_path / "canvas.csv")
    outcome = collect_from_lms(Course(tiny), FIRST.id, archive, CANVAS, roster)
    sub = tiny / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["ann", "bob"]
    assert (sub / "ann" / FIRST.id / NB).read_bytes() == b'{"ann": 2}'
    assert sorted(os.listdir(sub / "bob" / FIRST.id)) == [NB]  # no timestamp.txt: the zip has no times
    assert outcome.late == ["bob"]
    later = canvas_name(ann, 502, "creating_variables-1.ipynb")
    assert outcome.older == [("ann", canvas_name(ann, 501, NB), later)]
    assert dict(outcome.skipped) == {
        canvas_name(cat, 504, "notes.pdf"): "not a notebook",
        canvas_name(dan, 505, "homework.ipynb"): f"dan: wrong notebook name 'homework.ipynb' (expected {NB})",
        "zedzed_9999_506_creating_variables.ipynb":
            "unknown student: Canvas user 9999 is not in the roster canvas.csv",
        "studenttest_1099_507_creating_variables.ipynb":
            "Canvas user 1099: the roster's 'SIS Login ID' '' is empty",
        "README.txt": "not a notebook",
    }
    text = "\n".join(format_outcome(outcome))
    assert "2 student(s) placed" in text and "not placed (5)" in text
    assert "late (marked by Canvas): bob" in text
    assert "two versions of ann's notebook: kept the later doeann_1001_502_creating_variables-1.ipynb" in text
    assert os.listdir(tmp_path / "tmp") == []  # the private extraction folder is gone

    # Again: students already collected are kept unless --force; with --force they are replaced.
    again = collect_from_lms(Course(tiny), FIRST.id, archive, CANVAS, roster)
    assert again.kept_existing == ["ann", "bob"] and not again.placed
    (sub / "ann" / FIRST.id / "stale.txt").write_text("from an earlier download")
    forced = collect_from_lms(Course(tiny), FIRST.id, archive, CANVAS, roster, force=True)
    assert forced.replaced == ["ann", "bob"] and os.listdir(sub / "ann" / FIRST.id) == [NB]
    assert sorted(p.name for p in sub.iterdir()) == ["ann", "bob"]  # no hidden work folder left


def test_each_students_files_come_in_under_the_submission_bounds(tiny, tmp_path):
    """intake's rule (c.SubmissionFiles) applies per student: one too large is refused, reported,
    and the others are collected; without a roster Canvas user ids are the student ids."""
    with open(tiny / "nbgrader_config.py", "a") as f:
        f.write("\nc.SubmissionFiles.max_total_mb = 0.001\n")  # 1000 bytes
    ann, bob = ROSTER["ann"], ROSTER["bob"]
    archive = write_zip(tmp_path / "canvas.zip", [
        (canvas_name(ann, 1, NB), b"{}"),
        (canvas_name(bob, 2, NB), b"{" + b" " * 2000 + b"}"),
    ])  # fmt: skip
    outcome = collect_from_lms(Course(tiny), FIRST.id, archive, CANVAS)
    assert list(outcome.placed) == ["1001"]
    [(student, why)] = outcome.refused
    assert student == "1002" and why.endswith("(at creating_variables.ipynb): over the limit of 0.001 MB")
    assert sorted(os.listdir(tiny / "submitted")) == ["1001"]


# --- collect: refused archives ---------------------------------------------------------------------------

MB = 1_000_000
BAD_ARCHIVES = {
    "traversal": ([("../evil.ipynb", b"{}")], "points outside the archive ('..' path traversal)"),
    "traversal-in-folder": ([(moodle_name(ROSTER["ann"], "../../../evil.ipynb"), b"{}")], "path traversal"),
    "backslash-traversal": ([("..\\evil.ipynb", b"{}")], "path traversal"),
    "absolute": ([("/tmp/evil.ipynb", b"{}")], "has an absolute path"),
    "symlink": ([special_member(canvas_name(ROSTER["ann"], 1, NB), stat.S_IFLNK | 0o777, b"/etc/passwd")],
                "is a symbolic link"),
    "fifo": ([special_member("pipe", stat.S_IFIFO | 0o644)], "is a special file"),
    "bomb-ratio": ([(canvas_name(ROSTER["ann"], 1, NB), b"\0" * (3 * MB))], "a decompression bomb"),
    "bomb-total": ([(f"doeann_1001_{i}_x.bin", os.urandom(600_000)) for i in range(4)],
                   "expand to more than 2 MB"),
    "duplicate": ([("a.ipynb", b"{}"), ("a.ipynb", b"{}")], "appears twice"),
    "not-a-zip": (None, "not a zip archive"),
}  # fmt: skip


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", list(BAD_ARCHIVES))
def test_a_bad_archive_is_refused_and_nothing_is_written(tiny, tmp_path, case):
    members, why = BAD_ARCHIVES[case]
    if case == "bomb-total":
        with open(tiny / "nbgrader_config.py", "a") as f:
            f.write("\nc.LmsArchive.max_total_mb = 2\n")
    archive = tmp_path / "download.zip"
    if members is None:
        archive.write_text("Student,ID\n")
    else:
        write_zip(archive, members)
    lms, roster = (MOODLE, moodle_worksheet(tmp_path / "ws.csv")) if "folder" in case else (CANVAS, None)
    before = tree(tmp_path)
    with pytest.raises(CourseError) as e:
        collect_from_lms(Course(tiny), FIRST.id, archive, lms, roster)
    message = str(e.value)
    assert why in message and message.startswith("refused download.zip: ") and "\n" not in message
    assert message.endswith("nothing was collected")
    assert tree(tmp_path) == before  # nothing written anywhere: no submitted/, no evil.ipynb, no temp folder
    assert not (tiny / "submitted").exists() and os.listdir(tmp_path / "tmp") == []


def test_cli_refuses_a_bad_archive_in_one_line_and_usage_errors_exit_2(tiny, tmp_path):
    archive = write_zip(tmp_path / "download.zip", [("../../evil.ipynb", b"{}")])
    proc = cli("collect", FIRST.id, str(archive), "--lms", "canvas", "--course", str(tiny))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: refused download.zip: member '../../evil.ipynb' points outside")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tiny / "submitted").exists() and not (tmp_path / "evil.ipynb").exists()
    assert cli("collect", FIRST.id, str(archive)).returncode == 2  # no --lms: argparse's usage error
    proc = cli("report", "--lms", "canvas", "--course", str(tiny))
    assert proc.returncode == 2
    assert proc.stderr == "error: --lms canvas needs --roster FILE (the LMS's roster export)\n"


# --- end to end: collect -> grade -> report ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_class(built_course, tmp_path_factory):
    """The demo class's notebooks of assignment 01, as bytes: ann the solution, bob one wrong
    answer (ex1), cat the blank release, eve a broken file."""
    from autograder.coursedir import exercise_points, read_notebook
    from autograder.synth import fill_in, load_mutants, solution_answers

    release = read_notebook(built_course.release_notebook(FIRST))
    source = read_notebook(built_course.source_notebook(FIRST))
    solution = solution_answers(source)
    from exercises import exercise_of

    mutants = load_mutants(built_course.mutants_file(FIRST))
    wrong = next(m for m in mutants if exercise_of(m.cell) == "ex1")
    nbs = {
        "ann": fill_in(release, solution),
        "bob": fill_in(release, {**solution, wrong.cell: wrong.source}),
        "cat": release,
    }
    files = {k: nbformat.writes(v).encode() for k, v in nbs.items()}
    files["eve"] = b'{"cells": ['
    return files, exercise_points(source)["ex1"]


@pytest.fixture(scope="module")
def lms_course(built_course, tmp_path_factory):
    from nbgrader.api import Gradebook
    from standard_class import copy_course

    course = copy_course(built_course, tmp_path_factory.mktemp("lms") / "course")
    with Gradebook(course.db_url) as gb:  # the session's course is shared: start with no students
        for other in [s.id for s in gb.students]:
            gb.remove_student(other)
    return course


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(newline="", encoding="utf-8")))


@pytest.mark.slow
def test_canvas_then_moodle_archive_collect_grade_report(lms_course, demo_class, tmp_path):
    from nbgrader.api import Gradebook

    from autograder.batch import grade_batch, plan
    from autograder.report import write_report

    files, ex1 = demo_class
    root = lms_course.root
    ann, bob, cat, dan, eve = CLASS
    full = FIRST.autograded_points + FIRST.manual_points

    # Canvas: ann re-uploaded (the blank release first, then her answers), bob late, dan's file misnamed.
    canvas_zip = write_zip(tmp_path / "canvas.zip", [
        (canvas_name(ann, 501, NB), files["cat"]),
        (canvas_name(ann, 502, "creating_variables-1.ipynb"), files["ann"]),
        (canvas_name(bob, 503, NB, late=True), files["bob"]),
        (canvas_name(cat, 504, NB), files["cat"]),
        (canvas_name(dan, 505, "Creating Variables.ipynb"), files["ann"]),
        (canvas_name(eve, 506, NB), files["eve"]),
    ])  # fmt: skip
    roster = canvas_roster(tmp_path / "canvas.csv")
    proc = cli("collect", FIRST.id, str(canvas_zip), "--lms", "canvas", "--roster", str(roster),
               "--course", str(root), "--no-progress")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4 student(s) placed" in proc.stdout and "late (marked by Canvas): bob" in proc.stdout
    assert "dan: wrong notebook name 'Creating Variables.ipynb'" in proc.stdout

    summary = grade_batch(Course(root), [FIRST.id], workers=1, progress=False)
    assert len(summary.graded) == 3 and [r.student for r in summary.failed] == ["eve"]
    with Gradebook(lms_course.db_url) as gb:  # formgrader: ann's written answers get full marks
        for nb in gb.find_submission(FIRST.id, "ann").notebooks:
            for grade in nb.grades:
                if grade.cell.cell_type == "markdown":
                    grade.manual_score, grade.needs_manual_grade = grade.max_score, False
        gb.db.commit()

    out = tmp_path / "reports"
    proc = cli("report", FIRST.id, "--course", str(root), "--out", str(out), "--brief",
               "--lms", "canvas", "--roster", str(roster))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bob_score = f"{FIRST.autograded_points - ex1:g}"
    assert _rows(out / "canvas_grades.csv") == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", CANVAS_COLUMN],
        ["Points Possible", "", "", "", "", f"{full:g}"],
        ["Doe, Ann", "1001", "S1001", "ann", "Section A", f"{full:g}"],  # manual grade included
        ["Roe, Bob", "1002", "S1002", "bob", "Section A", bob_score],
        ["Poe, Cat", "1003", "S1003", "cat", "Section A", "0"],
        ["Loe, Dan", "1004", "S1004", "dan", "Section A", ""],  # no submission: empty, not 0
        ["Moe, Eve", "1005", "S1005", "eve", "Section A", ""],  # could not be graded: empty
        ["Student, Test", "1099", "", "", "Section A", ""],
    ]
    assert f"{FIRST.id}: column '{CANVAS_COLUMN}' of the roster, {full:g} points possible" in proc.stdout
    assert f"{FIRST.id}: 3 graded; left empty: 1 without a submission in the gradebook, 1 submitted but " \
        "could not be graded" in proc.stdout
    assert "roster rows without a 'SIS Login ID' (left empty): Student, Test" in proc.stdout
    assert "it would remove the grade): Loe, Dan (01_creating_variables: 5.00)" in proc.stdout
    assert "still to grade by hand in formgrader (their written answers count 0 until then): bob" \
        in proc.stdout

    # Moodle, the same class: folders and flat names, ann's re-upload "(1)", an online text.
    moodle_zip = write_zip(tmp_path / "moodle.zip", [
        (moodle_name(ann, NB), files["cat"]),
        (moodle_name(ann, "creating_variables (1).ipynb"), files["ann"], LATE),
        (moodle_name(bob, NB, folders=False), files["bob"]),
        (moodle_name(cat, NB), files["cat"]),
        (moodle_name(cat, "onlinetext.html", plugin="onlinetext"), b"<p>hi</p>"),
        (moodle_name(eve, NB), files["eve"]),
        ("Zed Zed_7999_assignsubmission_file_/" + NB, files["ann"]),
    ])  # fmt: skip
    worksheet = moodle_worksheet(tmp_path / "worksheet.csv")
    # In process from here (the CLI is proved above); the site shows usernames: --id-column Username.
    outcome = collect_from_lms(Course(root), FIRST.id, moodle_zip, MOODLE, worksheet, id_column="Username",
                               force=True)  # fmt: skip
    text = "\n".join(format_outcome(outcome))
    assert "4 student(s) placed" in text and "4 of them replacing an earlier collection" in text
    assert "unknown student: Moodle participant 7999 is not in the roster worksheet.csv" in text
    assert "kept the later Ann Doe_7001_assignsubmission_file_/creating_variables (1).ipynb" in text
    assert "Cat Poe_7003_assignsubmission_onlinetext_/onlinetext.html: not a notebook" in text

    # `grade` has nothing to redo: byte-identical to the Canvas collection (what failed is always retried)
    todo, done = plan(Course(root), [FIRST.id])
    assert [j.student for j in todo] == ["eve"] and sorted(j.student for j in done) == ["ann", "bob", "cat"]

    report, _ = write_report(Course(root), [FIRST.id], out)
    written = write_grades(MOODLE, read_roster(MOODLE, worksheet, "Username"), report.assignments, out)
    rows = _rows(out / f"moodle_{FIRST.id}.csv")
    assert rows[0] == MOODLE_COLUMNS
    grades = {r[0]: r[5] for r in rows[1:]}
    assert grades == {
        "Participant 7001": "100.00",  # scaled to the worksheet's Maximum Grade
        "Participant 7002": f"{(FIRST.autograded_points - ex1) * 100 / full:.2f}",
        "Participant 7003": "0.00",
        "Participant 7004": "",
        "Participant 7005": "",
    }
    assert all(r[:5] + r[6:] == w[:5] + w[6:] for r, w in zip(rows, _rows(worksheet), strict=True))
    assert f"{FIRST.id}: grades scaled from {full:g} points to the worksheet's Maximum Grade 100 " \
        "(Moodle skips a grade above its maximum)" in written.lines

    # A grader failure after nbgrader created the gradebook entry (zeros) is no grade either.
    cd = Course(root).coursedir()
    cat_record = read_record(record_path(cd, FIRST.id, "cat"))
    write_record(cd, replace(cat_record, status=ERROR, reason="fork server ended"))
    report, _ = write_report(Course(root), [FIRST.id], out)
    written = write_grades(CANVAS, read_roster(CANVAS, roster), report.assignments, out)
    assert _rows(out / "canvas_grades.csv")[4] == ["Poe, Cat", "1003", "S1003", "cat", "Section A", ""]
    assert "  the grader failed (grade again): cat: fork server ended" in written.lines
