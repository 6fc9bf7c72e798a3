"""Canvas and Moodle downloads and rosters, made up for the tests (never real student data).

Formats as documented in autograder/lms.py: Canvas' "Download Submissions" zip and Gradebook
export, Moodle's "Download all submissions" zip (flat and in folders) and grading worksheet.
"""

from __future__ import annotations

import csv
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

EARLY = (2026, 3, 2, 9, 0, 0)
LATE = (2026, 3, 9, 18, 30, 0)


@dataclass(frozen=True)
class Person:
    student: str  # the course's student id (Canvas SIS Login ID, Moodle Username)
    first: str
    last: str
    canvas_id: int
    participant: int  # Moodle's participant id for this assignment


CLASS = [
    Person("ann", "Ann", "Doe", 1001, 7001),
    Person("bob", "Bob", "Roe", 1002, 7002),
    Person("cat", "Cat", "Poe", 1003, 7003),
    Person("dan", "Dan", "Loe", 1004, 7004),
    Person("eve", "Eve", "Moe", 1005, 7005),
]
ROSTER = {p.student: p for p in CLASS}
CANVAS_COLUMN = "01 Creating variables (4321)"


def canvas_roster(path: Path, people=CLASS, points: str = "15.00") -> Path:
    """Canvas' Gradebook export: student columns, one column per assignment, read-only totals,
    a "Points Possible" row, and Canvas' Test Student (who has no SIS Login ID)."""
    header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section",
              "Lab 0 (4000)", CANVAS_COLUMN, "Current Points", "Final Points", "Current Score",
              "Final Score"]  # fmt: skip
    rows = [["    Points Possible", "", "", "", "", "", "10.00", points] + ["(read only)"] * 4]
    for p in people:
        graded = "5.00" if p.student == "dan" else ""  # dan handed in on paper: graded in Canvas by hand
        rows.append([f"{p.last}, {p.first}", str(p.canvas_id), f"S{p.canvas_id}", p.student, "",
                     "Section A", "9.00", graded, "9.00", "9.00", "90.00", "36.00"])  # fmt: skip
    rows.append(["Student, Test", "1099", "", "", "", "Section A", "", "", "", "", "", ""])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode())  # Canvas writes a BOM
    return path


MOODLE_COLUMNS = ["Identifier", "Full name", "Username", "Email address", "Status", "Grade",
                  "Maximum Grade", "Grade can be changed", "Last modified (submission)",
                  "Last modified (grade)", "Feedback comments"]  # fmt: skip


def moodle_worksheet(path: Path, people=CLASS) -> Path:
    """Moodle's grading worksheet for one assignment (this site shows usernames too)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(MOODLE_COLUMNS)
    for p in people:
        w.writerow([f"Participant {p.participant}", f"{p.first} {p.last}", p.student,
                    f"{p.student}@example.edu", "Submitted for grading", "", "100.00", "Yes",
                    "Monday, 9 March 2026, 6:30 PM", "-", ""])  # fmt: skip
    path.write_text(buf.getvalue())
    return path


def canvas_name(p: Person, attachment: int, file: str, late: bool = False) -> str:
    """Canvas' zip member name (lib/content_zipper.rb)."""
    return "_".join([f"{p.last}{p.first}".lower()] + (["LATE"] if late else []) + [str(p.canvas_id)]) \
        + f"_{attachment}_{file}"


def moodle_name(p: Person, file: str, folders: bool = True, plugin: str = "file") -> str:
    """Moodle's zip member name (mod/assign/locallib.php, download_submissions)."""
    prefix = f"{p.first} {p.last}_{p.participant}_assignsubmission_{plugin}_"
    return f"{prefix}/{file}" if folders else f"{prefix}{file}"


def write_zip(path: Path, members: list[tuple], compression=zipfile.ZIP_DEFLATED) -> Path:
    """members: (name, bytes) or (name, bytes, date_time) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for member in members:
            name, data = member[0], member[1]
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
                continue
            info = zipfile.ZipInfo(name, member[2] if len(member) > 2 else EARLY)
            info.compress_type = compression
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
    return path


def special_member(name: str, mode: int, data: bytes = b"") -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name, EARLY)
    info.create_system = 3
    info.external_attr = mode << 16
    return info, data
