"""What Canvas and Moodle call things: download file names, rosters, and the grade CSVs they import.

Everything here is read from the LMSs' own code and documentation (looked up with the project's
search tool; quoted, not guessed):

**Canvas, "Download Submissions"** (instructure/canvas-lms, ``lib/content_zipper.rb``:
``get_filename``, ``add_upload_submission``, ``sanitize_user_name``). One flat zip; each uploaded
file is named ``<name>[_LATE]_<user id>_<attachment id>_<file name>``: ``<name>`` is the student's
sortable name ("Doe, Jane") lower-cased with everything but letters, digits and ``_`` removed
(``doejane``; ``_<digits>_`` runs are squeezed so the ids stay parseable), ``LATE`` is inserted when
Canvas counts the submission late, ``<user id>`` is the Canvas user id (``anon_<id>`` under
anonymous grading, with no name), ``<attachment id>`` is the uploaded file's id (it only grows, so
a larger one is a later upload), and ``<file name>`` is the name the student's file had in Canvas.
Canvas makes duplicate file names unique with ``-1``, ``-2``... before the extension
(``Attachment.make_unique_filename``: ``creating_variables-1.ipynb``; a UUID after 8 tries). Only
the latest attempt's files are in the zip; text and URL submissions come as ``..._text.html`` and
``..._link.html``.

**Canvas, Gradebook export and import** (``app/models/gradebook_importer.rb``). The export (our
roster) starts ``Student, ID, SIS User ID, SIS Login ID, [Integration ID,] Section``, then one
column per assignment titled ``<title> (<assignment id>)``, then read-only totals; its second row
may be ``Points Possible``. The importer wants a header whose first column contains ``Student``,
second ``ID`` (the Canvas user id it matches on first, then SIS User ID, SIS Login ID, name), then
``SIS User ID``, ``SIS Login ID`` and ``Section`` as the last student column; an assignment column is
matched by the id in ``Title (id)`` (else by exact title, else Canvas creates a new assignment);
a row whose first cell contains ``Points Possible`` sets points possible. An empty cell means "no
score".

**Moodle, "Download all submissions"** (moodle/moodle, ``mod/assign/locallib.php``:
``download_submissions``). Each file is named ``<full name>_<participant id>_assignsubmission_file_
<file name>`` (underscores in the name become spaces; "Participant" instead of the name under blind
marking; ``<group>-`` before it for team submissions). With "Download submissions in folders" (the
default since Moodle 3.1: "each submission is put in a separate folder ... files are not renamed")
the same prefix is a folder: ``<full name>_<participant id>_assignsubmission_file_/<file name>``.
The participant id is per assignment (``get_uniqueid_for_user``), not the user id. Moodle marks no
lateness in file names; duplicate names in a file area become ``name (1).ext``, ``name (2).ext``
(``file_storage::get_unused_filename``); only the latest attempt is downloaded.

**Moodle, grading worksheet** (``mod/assign/feedback/offline``: "Download grading worksheet" /
"Upload grading worksheet", ``importgradeslib.php``). Columns ``Identifier`` ("Participant <id>",
the column Moodle matches on), ``Full name``, the site's identity fields (``Email address`` by
default), ``Status``, ``Grade``, ``Maximum Grade``, ``Grade can be changed``, ``Last modified
(submission)``, ``Last modified (grade)``, ``Feedback comments``. The importer needs
``Identifier``, ``Grade`` and ``Last modified (grade)``; it skips an empty grade (no change), a
grade above the assignment's maximum, and a grade changed in Moodle after the worksheet was
downloaded (unless told otherwise). So the worksheet is both our Moodle roster and the file we
write back, grades scaled to its ``Maximum Grade``.

A roster maps the LMS's identity (Canvas user id, Moodle participant id) to the course's student
id: the value of one roster column (``--id-column``; default Canvas ``SIS Login ID``, Moodle
``Email address``), which names the folder ``submitted/<student>/``.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.coursedir import CourseError

__all__ = [
    "LMS_NAMES",
    "FileName",
    "Roster",
    "check_student_id",
    "file_name_from",
    "parse_file_name",
    "read_roster",
    "write_grades",
]

CANVAS, MOODLE = "canvas", "moodle"
LMS_NAMES = {CANVAS: "Canvas", MOODLE: "Moodle"}

# --- download file names ---------------------------------------------------------------------------

#: Canvas: ``<name>[_LATE]_<user id>_<attachment id>_<file name>`` (flat zip; no name when anonymous).
CANVAS_PATTERN = (
    r"^(?:(?P<name>[^/]*?)_)??(?:(?P<late>LATE)_)?(?P<lms_id>\d+|anon_[^\W_]+)"
    r"_(?P<order>\d+)_(?P<file_id>[^/]+)$"
)
#: Moodle: ``<full name>_<participant id>_assignsubmission_<plugin>_[/]<file name>`` (flat or folders).
MOODLE_PATTERN = (
    r"^(?P<name>[^/_]*)_(?P<lms_id>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_/?(?P<file_id>.+)$"
)
PATTERNS = {CANVAS: CANVAS_PATTERN, MOODLE: MOODLE_PATTERN}

# What each LMS appends to a duplicate file name, before the extension.
_COPY_SUFFIX = {
    CANVAS: re.compile(r"^(?P<stem>.+?)-(?P<n>\d+|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$"),
    MOODLE: re.compile(r"^(?P<stem>.+?) \((?P<n>\d+)\)$"),
}


@dataclass(frozen=True)
class FileName:
    """One downloaded file's name, taken apart."""

    lms_id: str  # Canvas user id ("anon_..." when anonymous) or Moodle participant id
    name: str  # the student's name as the LMS wrote it ("doejane", "Jane Doe")
    file: str  # the file's own name inside the submission ("creating_variables-1.ipynb")
    late: bool = False  # Canvas only
    order: int = 0  # Canvas attachment id: a larger one was uploaded later
    plugin: str = "file"  # Moodle's submission plugin ("file", "onlinetext")


def parse_file_name(lms: str, rel: str, pattern: str | None = None) -> FileName | None:
    """Take a file's path inside the archive apart; None if the LMS does not name files like this."""
    m = re.match(pattern or PATTERNS[lms], rel)
    return file_name_from(m.groupdict()) if m else None


def file_name_from(g: dict) -> FileName:
    """A FileName from the named groups of a pattern's match (nbgrader's collector returns them)."""
    return FileName(
        lms_id=g["lms_id"],
        name=g.get("name") or "",
        file=g["file_id"],
        late=bool(g.get("late")),
        order=int(g["order"]) if g.get("order") else 0,
        plugin=g.get("plugin") or "file",
    )


def notebook_name(lms: str, file: str, released: list[str]) -> tuple[str | None, int]:
    """(the released notebook `file` is, copy number the LMS added) or (None, 0) for a wrong name.

    ``creating_variables-1.ipynb`` (Canvas) and ``creating_variables (1).ipynb`` (Moodle) are
    creating_variables.ipynb; a released notebook's own name is never cut.
    """
    if file in released:
        return file, 0
    stem, dot, ext = file.rpartition(".")
    m = _COPY_SUFFIX[lms].match(stem) if dot else None
    if m and f"{m['stem']}.{ext}" in released:
        n = m["n"]
        return f"{m['stem']}.{ext}", int(n) if n.isdigit() else 1 << 30  # Canvas' UUID: after the numbers
    return None, 0


# --- rosters ---------------------------------------------------------------------------------------

DEFAULT_ID_COLUMN = {CANVAS: "SIS Login ID", MOODLE: "Email address"}
_LMS_KEY = {CANVAS: "ID", MOODLE: "Identifier"}


def check_student_id(student: str) -> str | None:
    """Why `student` cannot name the folder ``submitted/<student>/`` (None if it can)."""
    if not student:
        return "is empty"
    if student in (".", "..") or student.startswith("."):
        return "starts with a dot"
    if "/" in student or "\\" in student:
        return "contains a slash"
    if any(ord(c) < 32 or ord(c) == 127 for c in student):
        return "contains a control character"
    if student != student.strip():
        return "has leading or trailing spaces"
    return None


@dataclass
class Roster:
    """An LMS roster file: its rows as the LMS wrote them, and who is who."""

    lms: str
    path: Path
    columns: list[str]
    rows: list[dict[str, str]]  # student rows only, in file order
    id_column: str
    points_row: dict[str, str] | None = None  # Canvas' "Points Possible" row
    by_lms_id: dict[str, dict[str, str]] = field(default_factory=dict)

    def lms_id(self, row: dict[str, str]) -> str:
        """The identity the LMS puts in file names: Canvas user id, Moodle participant id."""
        value = (row.get(_LMS_KEY[self.lms]) or "").strip()
        if self.lms == MOODLE:  # "Participant 123456" (the word is translated; the number is not)
            m = re.search(r"(\d+)\s*$", value)
            return m.group(1) if m else ""
        return value

    def student(self, row: dict[str, str]) -> str:
        return (row.get(self.id_column) or "").strip()

    def student_for(self, lms_id: str) -> tuple[str | None, str]:
        """(course student id, '') or (None, why it cannot be placed)."""
        who = "Canvas user" if self.lms == CANVAS else "Moodle participant"
        if lms_id.startswith("anon_"):
            return None, (f"anonymous grading is on in Canvas ({lms_id}): the file name carries no "
                          "user id; turn anonymity off before downloading")  # fmt: skip
        row = self.by_lms_id.get(lms_id)
        if row is None:
            return None, f"unknown student: {who} {lms_id} is not in the roster {self.path.name}"
        student = self.student(row)
        why = check_student_id(student)
        if why:
            return None, f"{who} {lms_id}: the roster's {self.id_column!r} {student!r} {why}"
        return student, ""


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise CourseError(f"no roster file {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CourseError(f"roster {path}: cannot read it as UTF-8 CSV ({e})") from None
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    return columns, [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]


def read_roster(lms: str, path: str | Path, id_column: str | None = None) -> Roster:
    """An LMS's own roster export: Canvas' Gradebook export, Moodle's grading worksheet."""
    path = Path(path)
    columns, rows = _read_csv(path)
    if lms == CANVAS:
        need = ["Student", "ID"]
        what = "Canvas' Gradebook export (Grades > Export)"
    else:
        need = ["Identifier", "Grade", "Maximum Grade", "Last modified (grade)"]
        what = "Moodle's grading worksheet (the assignment's 'Download grading worksheet')"
    missing = [c for c in need if c not in columns]
    if missing:
        raise CourseError(f"roster {path}: no column {', '.join(map(repr, missing))}: expected {what}")
    id_column = id_column or DEFAULT_ID_COLUMN[lms]
    if id_column not in columns:
        raise CourseError(
            f"roster {path}: no column {id_column!r} to take the course's student ids from "
            f"(--id-column; its columns: {', '.join(columns)})"
        )
    roster = Roster(lms, path, columns, [], id_column)
    for row in rows:
        first = (row.get(columns[0]) or "").strip()
        if lms == CANVAS and "Points Possible" in first:
            roster.points_row = row
            continue
        if not any(v.strip() for v in row.values()):
            continue
        key = roster.lms_id(row)
        if not key:  # Canvas' "Manual Posting" row and the like
            continue
        if key in roster.by_lms_id:
            raise CourseError(f"roster {path}: {_LMS_KEY[lms]} {key} appears twice")
        roster.by_lms_id[key] = row
        roster.rows.append(row)
    if not roster.rows:
        raise CourseError(f"roster {path}: no students in it")
    return roster


# --- grades out -------------------------------------------------------------------------------------

CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
_CANVAS_COLUMN = re.compile(r"^(?P<title>.*?)\s+\((?P<id>\d+)\)$")
_CANVAS_TOTALS = re.compile(r"Current|Final|Unposted|Override")


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", " ", text.lower()).strip()


def canvas_column(roster: Roster, assignment: str, given: str | None = None) -> tuple[str, bool]:
    """(the Canvas column for `assignment`, whether it is one of the roster's columns).

    A column of the Gradebook export matches when its title, without Canvas' ``(id)``, equals the
    assignment id, or the id without its number (``01_creating_variables`` matches "01 Creating
    variables (4321)" and "Creating variables (4321)"), ignoring case and punctuation. Without one,
    the assignment id itself: Canvas then creates a new assignment of that name on import.
    """
    if given:
        return given, given in roster.columns
    wanted = {_norm(assignment), _norm(re.sub(r"^\d+[_\- ]*", "", assignment))}
    found = []
    for col in roster.columns:
        m = _CANVAS_COLUMN.match(col)
        if m and not _CANVAS_TOTALS.search(col) and _norm(m["title"]) in wanted:
            found.append(col)
    if len(found) > 1:
        raise CourseError(
            f"roster {roster.path}: columns {', '.join(map(repr, found))} all match {assignment}: "
            f"choose one with --canvas-column {assignment}='<column>'"
        )
    return (found[0], True) if found else (assignment, False)


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.2f}".rstrip("0")


@dataclass
class LmsGrades:
    """What `write_grades` wrote, for the summary."""

    path: Path
    lines: list[str]
    rows: int


def write_grades(
    lms: str,
    roster: Roster,
    assignments: list,  # autograder.report.AssignmentReport
    out_dir: str | Path,
    *,
    canvas_columns: dict[str, str] | None = None,
) -> LmsGrades:
    """The grades CSV `lms` imports, for every roster student; returns the file and a summary.

    A student's grade is the gradebook's total (manual grades from formgrader included). A student
    without a graded submission (none, or one that could not be graded) gets an empty cell: "no
    grade", never 0.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if lms == MOODLE and len(assignments) != 1:
        raise CourseError("a Moodle grading worksheet belongs to one assignment: name exactly one")
    lines: list[str] = []
    if lms == CANVAS:
        path = out_dir / "canvas_grades.csv"
        header = list(CANVAS_STUDENT_COLUMNS)
        points = ["Points Possible", "", "", "", ""]
        for a in assignments:
            col, existing = canvas_column(roster, a.id, (canvas_columns or {}).get(a.id))
            header.append(col)
            points.append(_num(a.max_score))
            if existing:
                lines.append(f"{a.id}: column {col!r} of the roster, {_num(a.max_score)} points possible")
            else:
                lines.append(
                    f"{a.id}: no column of {roster.path.name} matches it: wrote a new column {col!r} "
                    f"(Canvas creates a new assignment on import; to grade an existing one: "
                    f"--canvas-column {a.id}='<its column in the Gradebook export>')"
                )
        body = []
        cleared: list[str] = []  # a grade already in Canvas that an empty cell would remove
        for row in roster.rows:
            out = [row.get(c, "") for c in CANVAS_STUDENT_COLUMNS]
            for a, col in zip(assignments, header[len(CANVAS_STUDENT_COLUMNS) :], strict=True):
                out.append(_score(a, roster.student(row), lambda s, a=a: _num(s.score)))
                if not out[-1] and (row.get(col) or "").strip() not in ("", "-"):
                    cleared.append(f"{row.get('Student', '')} ({a.id}: {row[col].strip()})")
            body.append(out)
        if cleared:
            lines.append(
                "  careful: Canvas already has a grade this file leaves empty, and its import counts an "
                f"empty cell as a change (it would remove the grade): {'; '.join(cleared)}"
            )
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerow(points)
            w.writerows(body)
    else:
        a = assignments[0]
        path = out_dir / f"moodle_{a.id}.csv"
        scaled = []

        def grade(s, row) -> str:
            try:
                top = float((row.get("Maximum Grade") or "").replace(",", "."))
            except ValueError:
                top = a.max_score
            value = s.score
            if abs(top - a.max_score) >= 1e-9 and a.max_score:
                value = s.score * top / a.max_score
                scaled.append(top)
            return f"{value:.2f}"

        body = []
        for row in roster.rows:
            out = dict(row)
            out["Grade"] = _score(a, roster.student(row), lambda s, row=row: grade(s, row))
            body.append(out)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=roster.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(body)
        if scaled:
            tops = sorted(set(scaled))
            lines.append(
                f"{a.id}: grades scaled from {_num(a.max_score)} points to the worksheet's Maximum Grade "
                f"{', '.join(_num(t) for t in tops)} (Moodle skips a grade above its maximum)"
            )
    lines[:0] = [f"wrote {path} ({LMS_NAMES[lms]} import, {len(roster.rows)} students of {roster.path.name})"]
    lines += _summary(roster, assignments)
    return LmsGrades(path, lines, len(roster.rows))


def _score(a, student: str, fmt) -> str:
    s = next((s for s in a.submissions if s.student == student), None)
    return fmt(s) if s is not None and s.graded else ""


def _summary(roster: Roster, assignments: list) -> list[str]:
    listed = {roster.student(r) for r in roster.rows}
    lines = []
    for a in assignments:
        graded = [s for s in a.submissions if s.graded and s.student in listed]
        failed = [s for s in a.submissions if not s.graded and s.student in listed]
        handed = {s.student for s in a.submissions}
        missing = sorted(st for st in listed if st and st not in handed)
        lines.append(
            f"{a.id}: {len(graded)} graded; left empty: {len(missing)} without a submission in the gradebook"
            + (f", {len(failed)} submitted but could not be graded" if failed else "")
        )
        for s in failed:
            what = "the grader failed (grade again)" if s.status == "error" else "could not be graded"
            lines.append(f"  {what}: {s.student}: {s.reason}")
        pending = [s.student for s in graded if s.needs_manual]
        if pending:
            lines.append(
                f"  still to grade by hand in formgrader (their written answers count 0 until then): "
                f"{', '.join(pending)}"
            )
        flagged = [s.student for s in graded if s.flags]
        if flagged:
            lines.append(f"  flagged for review (tampering; those tests scored 0): {', '.join(flagged)}")
        outside = sorted(s.student for s in a.submissions if s.student not in listed)
        if outside:
            lines.append(f"  in the gradebook but not in the roster (not written): {', '.join(outside)}")
    nameless = [r.get(roster.columns[0], "") for r in roster.rows if not roster.student(r)]
    if nameless:
        lines.append(f"roster rows without a {roster.id_column!r} (left empty): {'; '.join(nameless)}")
    return lines
