"""`report`: what a class scored, from the gradebook: CSV files, a per-exercise table, an HTML page.

Scores come from nbgrader's gradebook (the course's ``CourseDirectory.db_url``, so
``NBGRADER_DB_URL`` or a PostgreSQL URL in nbgrader_config.py is honoured), exactly as nbgrader
stores them: a written answer graded in formgrader counts with its manual score. The grader's
records (``autograded/.autograder/<assignment>/<student>.json``) add what the gradebook does not
know: submissions that could not be graded (and why), submissions the guard flagged for
tampering, grading times. The autograded notebooks add why a test cell failed (its error
message, as the student sees it).

`write_report(course, assignments, out_dir)` writes into `out_dir`:

* ``grades.csv``: one row per submission (graded or failed): scores, status, flags, reason;
* ``cells.csv``: one row per graded cell of every graded submission, with its failing message;
* ``exercises.csv``: the per-exercise table (mean score, share with full marks, pending
  written answers, how many lost points and how many of those left the code stub unanswered,
  the most common failing message of the attempted answers and how many students got it);
* ``nbgrader_grades.csv``: ``nbgrader export``'s CSV (nbgrader's own CsvExportPlugin);
* ``report.html``: one self-contained page (inline CSS, PNG charts embedded as data: URIs): per
  assignment a summary, a histogram of autograded scores, a per-exercise bar chart and table,
  the flagged submissions and the failed ones with their reasons.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.coursedir import Course, CourseError, exercises, read_notebook
from autograder.records import GRADED, RECORD_DIR, GradeResult, read_record

__all__ = [
    "AssignmentReport",
    "ClassReport",
    "ExerciseRow",
    "SubmissionRow",
    "collect",
    "failure_message",
    "format_table",
    "write_report",
]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# What a test cell shows when the student left nbgrader's code stub (`raise NotImplementedError()`).
STUB_MESSAGE = "NotImplementedError"


@dataclass
class CellRow:
    notebook: str
    grade_id: str
    cell_type: str  # "code" or "markdown"
    score: float  # what nbgrader counts: manual score if any, else auto score
    auto_score: float | None
    max_score: float
    needs_manual_grade: bool
    message: str | None = None  # why an autograded cell lost points, as the student sees it
    autograded: bool = True  # an autograder test (False: a hand-graded answer or task)
    exercise: str = ""  # autograder.coursedir.exercises: the answer and the tests after it


@dataclass
class SubmissionRow:
    assignment: str
    student: str
    status: str  # "graded", "failed" (cannot be graded) or "error" (the grader failed)
    score: float = 0.0  # gradebook total (manual scores included)
    max_score: float = 0.0
    auto_score: float = 0.0  # autograded (code) cells only
    auto_max: float = 0.0
    needs_manual: bool = False
    flags: list[str] = field(default_factory=list)
    reason: str = ""
    seconds: float | None = None  # grading wall time (from the record)
    started: float | None = None
    finished: float | None = None
    cells: list[CellRow] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        return self.status == GRADED


@dataclass
class ExerciseRow:
    assignment: str
    exercise: str
    cells: list[str]
    written: bool  # graded by hand in formgrader (a written answer, a hand-graded code answer)
    points: float
    students: int  # graded submissions
    mean: float
    full_share: float  # share of graded submissions with full marks on this exercise
    pending: int  # written answers not graded by hand yet
    failing: int  # submissions that lost points here
    unanswered: int  # of which left the code stub (NotImplementedError, no message): not attempted
    top_message: str | None  # the most common failing message of the attempted answers
    top_count: int


@dataclass
class AssignmentReport:
    id: str
    submissions: list[SubmissionRow]
    exercises: list[ExerciseRow]
    auto_max: float
    max_score: float

    @property
    def graded(self) -> list[SubmissionRow]:
        return [s for s in self.submissions if s.graded]

    @property
    def failed(self) -> list[SubmissionRow]:
        return [s for s in self.submissions if not s.graded]

    @property
    def flagged(self) -> list[SubmissionRow]:
        return [s for s in self.graded if s.flags]

    @property
    def pending(self) -> int:
        return sum(1 for s in self.graded if s.needs_manual)

    def auto_scores(self) -> list[float]:
        return [s.auto_score for s in self.graded]

    @property
    def mean(self) -> float | None:
        scores = self.auto_scores()
        return sum(scores) / len(scores) if scores else None

    @property
    def full_marks(self) -> int:
        return sum(1 for s in self.graded if s.auto_score >= self.auto_max > 0)

    @property
    def seconds(self) -> float | None:
        """Grading time: the sum of each submission's grading wall time (grading records).

        Meaningful however many runs (resumes, regrades) the grading took; with N workers the
        wall clock was about this divided by N.
        """
        times = [s.seconds for s in self.submissions if s.seconds is not None]
        return sum(times) if times else None


@dataclass
class ClassReport:
    course_id: str
    db_url: str  # password hidden
    assignments: list[AssignmentReport]
    created: float = field(default_factory=time.time)


# --- collecting -----------------------------------------------------------------------------------


def failure_message(cell) -> str | None:
    """Why an executed test cell failed, as the student sees it: 'AssertionError: message'."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            ename, evalue = out.get("ename", "Error"), _ANSI.sub("", str(out.get("evalue", "")))
            text = f"{ename}: {evalue}" if evalue.strip() else ename
            return _shorten(text)
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            first = next((ln for ln in _ANSI.sub("", out.get("text", "")).splitlines() if ln.strip()), "")
            return _shorten(f"wrote to stderr (nbgrader scores 0): {first}")
    return None


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _messages(path: Path) -> dict[str, str]:
    """grade_id -> failing message of every test cell of an autograded notebook that failed."""
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            msg = failure_message(cell)
            if msg:
                out[meta["grade_id"]] = msg
    return out


def _hide_password(db_url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", db_url)


def _exercise_key(exercise: str) -> tuple:
    m = re.match(r"ex(\d+)$", exercise)
    return (0, int(m.group(1)), "") if m else (1, 0, exercise)


def _exercise_labels(course: Course, aid: str, notebook: str) -> dict[str, str]:
    """grade id -> exercise label, from the source notebook (else the release): what it marks."""
    for kind in ("source", "release"):
        path = course.folder(kind, ".", aid) / f"{notebook}.ipynb"
        if path.is_file():
            return {gid: ex.label for ex in exercises(read_notebook(path)) for gid in ex.grade_ids}
    return {}


def collect(course: Course, assignments: list[str] | None = None) -> ClassReport:
    """Read the gradebook, the grading records and the autograded notebooks of a course."""
    from nbgrader.api import Gradebook, MissingEntry

    cd = course.coursedir()
    db_url = cd.db_url
    _check_gradebook(db_url)
    reports = []
    labels: dict[tuple[str, str], dict[str, str]] = {}
    with Gradebook(db_url, cd.course_id) as gb:
        ids = assignments if assignments else [a.name for a in gb.assignments]
        for aid in ids:
            try:
                assignment = gb.find_assignment(aid)
            except MissingEntry:
                raise CourseError(
                    f"assignment {aid} is not in the gradebook {_hide_password(db_url)}: "
                    f"run `python -m autograder build {aid}` first"
                ) from None
            records = _records(Path(cd.format_path(cd.autograded_directory, RECORD_DIR, aid)))
            rows: dict[str, SubmissionRow] = {}
            for sub in assignment.submissions:
                row = SubmissionRow(aid, sub.student.id, GRADED)
                row.score, row.max_score = float(sub.score), float(sub.max_score)
                row.needs_manual = bool(sub.needs_manual_grade)
                autograded = Path(cd.format_path(cd.autograded_directory, sub.student.id, aid))
                for nb in sub.notebooks:
                    messages = _messages(autograded / f"{nb.name}.ipynb")
                    if (aid, nb.name) not in labels:
                        labels[(aid, nb.name)] = _exercise_labels(course, aid, nb.name)
                    answers = {c.name for c in nb.notebook.solution_cells}  # graded answers: by hand
                    for g in nb.grades:
                        auto = None if g.auto_score is None else float(g.auto_score)
                        cell = CellRow(
                            nb.name,
                            g.name,
                            g.cell.cell_type,
                            float(g.score),
                            auto,
                            float(g.max_score),
                            bool(g.needs_manual_grade),
                            autograded=g.cell.cell_type == "code" and g.name not in answers,
                            exercise=labels[(aid, nb.name)].get(g.name, g.name),
                        )
                        if len(sub.notebooks) > 1:
                            cell.exercise = f"{nb.name}:{cell.exercise}"
                        if cell.autograded and cell.score < cell.max_score:
                            cell.message = messages.get(g.name, "lost points without an error message")
                        row.cells.append(cell)
                row.cells.sort(key=lambda c: (c.notebook, _exercise_key(c.exercise), c.grade_id))
                row.auto_score = sum(c.score for c in row.cells if c.autograded)
                row.auto_max = sum(c.max_score for c in row.cells if c.autograded)
                rec = records.get(sub.student.id)
                if rec is not None and rec.status == GRADED:
                    row.flags, row.reason = list(rec.flags), rec.reason
                    _timing(row, rec)
                elif rec is not None:  # its last grading failed after nbgrader created the entry (zeros)
                    row.status, row.reason = rec.status, rec.reason
                    _timing(row, rec)
                rows[sub.student.id] = row
            for student, rec in records.items():
                if rec.status != GRADED and student not in rows:
                    row = SubmissionRow(aid, student, rec.status, reason=rec.reason)
                    _timing(row, rec)
                    rows[student] = row
            subs = [rows[s] for s in sorted(rows)]
            auto_max, max_score = _max_scores(assignment)
            reports.append(AssignmentReport(aid, subs, _exercises(aid, subs), auto_max, max_score))
    return ClassReport(cd.course_id, _hide_password(db_url), reports)


def _check_gradebook(db_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            raise CourseError(f"no gradebook at {url.database}: run `python -m autograder build` first")


def _max_scores(assignment) -> tuple[float, float]:
    auto = total = 0.0
    for nb in assignment.notebooks:
        answers = {c.name for c in nb.solution_cells}
        for gc in nb.grade_cells:
            total += float(gc.max_score)
            if gc.cell_type == "code" and gc.name not in answers:
                auto += float(gc.max_score)
    return auto, total


def _records(folder: Path) -> dict[str, GradeResult]:
    out = {}
    if folder.is_dir():
        for p in sorted(folder.glob("*.json")):
            rec = read_record(p)
            if rec is not None:
                out[rec.student] = rec
    return out


def _timing(row: SubmissionRow, rec: GradeResult) -> None:
    row.seconds = rec.seconds
    if rec.finished_at:
        row.finished = rec.finished_at
        row.started = rec.finished_at - rec.seconds


def _exercises(aid: str, subs: list[SubmissionRow]) -> list[ExerciseRow]:
    graded = [s for s in subs if s.graded]
    groups: dict[str, list[CellRow]] = {}
    for s in graded:
        for c in s.cells:
            groups.setdefault(c.exercise, [])
    rows = []
    for ex in sorted(groups, key=_exercise_key):
        totals, full, pending, failing, unanswered, messages = [], 0, 0, 0, 0, Counter()
        cells: list[str] = []
        points = 0.0
        written = False
        for s in graded:
            mine = [c for c in s.cells if c.exercise == ex]
            if not mine:
                continue
            if not cells:
                cells = sorted({c.grade_id for c in mine})
                points = sum(c.max_score for c in mine)
                written = not any(c.autograded for c in mine)  # graded by hand (text or code)
            score = sum(c.score for c in mine)
            totals.append(score)
            full += score >= points
            waiting = any(c.needs_manual_grade for c in mine)
            pending += waiting
            failing += score < points and not waiting
            lost = [c.message for c in mine if c.message]
            if lost and lost[0] == STUB_MESSAGE:
                unanswered += 1
            elif lost:
                messages[lost[0]] += 1
        top = messages.most_common(1)
        rows.append(
            ExerciseRow(
                assignment=aid,
                exercise=ex,
                cells=cells,
                written=written,
                points=points,
                students=len(totals),
                mean=sum(totals) / len(totals) if totals else 0.0,
                full_share=full / len(totals) if totals else 0.0,
                pending=pending,
                failing=failing,
                unanswered=unanswered,
                top_message=top[0][0] if top else None,
                top_count=top[0][1] if top else 0,
            )
        )
    return rows


# --- the terminal table ----------------------------------------------------------------------------


def format_table(report: ClassReport, seconds: dict[str, float] | None = None) -> list[str]:
    """Per assignment: students, mean/min/max autograded points, full marks, failed, flagged, time.

    `seconds`: assignment -> wall time of its grading, shown as "time" (the demo measures it);
    without it the column is "grading", the sum of the submissions' grading times.
    """
    label = "time" if seconds is not None else "grading"
    head = (
        f"{'assignment':28s} {'students':>8s} {'mean':>6s} {'min':>5s} {'max':>5s} {'of':>4s} "
        f"{'full marks':>10s} {'failed':>6s} {'flagged':>7s} {'to grade by hand':>16s} {label:>8s}"
    )
    lines = [head]
    for a in report.assignments:
        scores = a.auto_scores()
        t = (seconds or {}).get(a.id, a.seconds)
        lines.append(
            f"{a.id:28s} {len(a.submissions):8d} "
            f"{_num(a.mean):>6s} {_num(min(scores) if scores else None):>5s} "
            f"{_num(max(scores) if scores else None):>5s} {_num(a.auto_max):>4s} "
            f"{a.full_marks:10d} {len(a.failed):6d} {len(a.flagged):7d} {a.pending:16d} "
            f"{(f'{t:.1f} s' if t is not None else '-'):>8s}"
        )
    return lines


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if abs(x - round(x)) > 1e-9 else f"{x:.0f}"


def format_exercises(report: ClassReport) -> list[str]:
    lines = []
    for a in report.assignments:
        lines.append(f"{a.id}: per exercise (mean of {len(a.graded)} graded submissions)")
        for e in a.exercises:
            if e.written:
                what = f"written answer, {e.pending} to grade by hand"
            else:
                what = f"{e.top_count}x {e.top_message}" if e.top_message else ""
            lines.append(
                f"  {e.exercise:5s} {_num(e.mean):>4s}/{_num(e.points):<3s} "
                f"full marks {e.full_share:4.0%}  lost {e.failing:3d} (unanswered {e.unanswered:3d})  {what}"
            )
    return lines


# --- files ----------------------------------------------------------------------------------------


def write_report(
    course: Course,
    assignments: list[str] | None,
    out_dir: str | Path,
    *,
    seconds: dict[str, float] | None = None,
    title: str | None = None,
) -> tuple[ClassReport, dict[str, Path]]:
    """Collect and write every file (see the module docstring); returns the report and the paths."""
    report = collect(course, assignments)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "grades": out / "grades.csv",
        "cells": out / "cells.csv",
        "exercises": out / "exercises.csv",
        "nbgrader": out / "nbgrader_grades.csv",
        "html": out / "report.html",
    }
    _write_grades_csv(report, paths["grades"])
    _write_cells_csv(report, paths["cells"])
    _write_exercises_csv(report, paths["exercises"])
    export_nbgrader_csv(course, paths["nbgrader"], [a.id for a in report.assignments])
    paths["html"].write_text(render_html(report, seconds=seconds, title=title))
    return report, paths


def _write_grades_csv(report: ClassReport, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "assignment", "student_id", "status", "score", "max_score", "autograded_score",
                "autograded_max", "needs_manual_grade", "flagged", "reason", "seconds",
            ]
        )  # fmt: skip
        for a in report.assignments:
            for s in a.submissions:
                w.writerow(
                    [
                        a.id, s.student, s.status, _csv(s.score if s.graded else None),
                        _csv(s.max_score if s.graded else a.max_score),
                        _csv(s.auto_score if s.graded else None),
                        _csv(a.auto_max), int(s.needs_manual), " | ".join(s.flags), s.reason,
                        "" if s.seconds is None else f"{s.seconds:.2f}",
                    ]
                )  # fmt: skip


def _write_cells_csv(report: ClassReport, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "assignment", "student_id", "notebook", "grade_id", "exercise", "cell_type", "score",
                "auto_score", "max_score", "needs_manual_grade", "message",
            ]
        )  # fmt: skip
        for a in report.assignments:
            for s in a.graded:
                for c in s.cells:
                    w.writerow(
                        [
                            a.id, s.student, c.notebook, c.grade_id, c.exercise, c.cell_type, _csv(c.score),
                            _csv(c.auto_score), _csv(c.max_score), int(c.needs_manual_grade), c.message or "",
                        ]
                    )  # fmt: skip


def _write_exercises_csv(report: ClassReport, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "assignment", "exercise", "cells", "written", "points", "students", "mean_score",
                "full_marks_share", "to_grade_by_hand", "students_losing_points", "unanswered",
                "most_common_failure", "most_common_failure_count",
            ]
        )  # fmt: skip
        for a in report.assignments:
            for e in a.exercises:
                w.writerow(
                    [
                        a.id, e.exercise, " ".join(e.cells), int(e.written), _csv(e.points), e.students,
                        f"{e.mean:.4f}", f"{e.full_share:.4f}", e.pending, e.failing, e.unanswered,
                        e.top_message or "", e.top_count,
                    ]
                )  # fmt: skip


def _csv(x: float | None) -> str:
    return "" if x is None else _num(x) if abs(x - round(x)) < 1e-9 else f"{x:.4f}"


def export_nbgrader_csv(course: Course, to: Path, assignments: list[str] | None = None) -> Path:
    """What ``nbgrader export --to FILE`` writes, by nbgrader's own CsvExportPlugin (in process)."""
    import logging

    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    cd = course.coursedir()
    plugin = CsvExportPlugin(config=course.config, log=logging.getLogger("autograder.report.export"))
    plugin.to = str(to)
    plugin.assignment = list(assignments or [])
    with Gradebook(cd.db_url, cd.course_id) as gb:
        plugin.export(gb)
    return to


# --- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#a40}.fail{color:#b00}.muted{color:#777}.charts img{max-width:49%;height:auto}
code{background:#f4f4f4;padding:0 .2em}
"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def histogram_png(a: AssignmentReport) -> str:
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 3.2))
    ax = fig.add_subplot()
    scores = a.auto_scores()
    top = max(a.auto_max, max(scores, default=0.0))
    bins = np.arange(0, np.floor(top) + 2) - 0.5 if top <= 40 else 20
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"autograded points (of {_num(a.auto_max)})")
    ax.set_ylabel("students")
    ax.set_title(f"{a.id}: grade histogram ({len(scores)} graded)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def exercise_chart_png(a: AssignmentReport) -> str:
    import numpy as np
    from matplotlib.figure import Figure

    rows = [e for e in a.exercises if not e.written]
    fig = Figure(figsize=(5.6, 3.2))
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    mean_pct = [100 * e.mean / e.points if e.points else 0 for e in rows]
    full_pct = [100 * e.full_share for e in rows]
    ax.bar(x - 0.2, mean_pct, 0.4, label="mean score (% of points)", color="#4c72b0")
    ax.bar(x + 0.2, full_pct, 0.4, label="students with full marks (%)", color="#55a868")
    ax.set_xticks(x, [e.exercise for e in rows])
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.set_title(f"{a.id}: per exercise")
    ax.legend(fontsize="small", loc="lower left")
    return _png(fig)


def render_html(
    report: ClassReport, *, seconds: dict[str, float] | None = None, title: str | None = None
) -> str:
    e = html.escape
    title = title or f"Grades of {report.course_id}"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(report.created))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">Gradebook <code>{e(report.db_url)}</code>, {when}. Scores are nbgrader\'s '
        "(manual grades from formgrader included); mean/min/max count the autograded cells.</p>",
        "<table><tr><th>assignment</th><th>students</th><th>mean</th><th>min</th><th>max</th><th>of</th>"
        "<th>full marks</th><th>failed</th><th>flagged</th><th>to grade by hand</th>"
        f"<th>{'time' if seconds is not None else 'grading time (sum over submissions)'}</th></tr>",
    ]
    for a in report.assignments:
        scores = a.auto_scores()
        t = (seconds or {}).get(a.id, a.seconds)
        parts.append(
            f'<tr><td><a href="#{e(a.id)}">{e(a.id)}</a></td><td class="n">{len(a.submissions)}</td>'
            f'<td class="n">{_num(a.mean)}</td><td class="n">{_num(min(scores, default=None))}</td>'
            f'<td class="n">{_num(max(scores, default=None))}</td><td class="n">{_num(a.auto_max)}</td>'
            f'<td class="n">{a.full_marks}</td><td class="n">{len(a.failed)}</td>'
            f'<td class="n">{len(a.flagged)}</td><td class="n">{a.pending}</td>'
            f'<td class="n">{"-" if t is None else f"{t:.1f} s"}</td></tr>'
        )
    parts.append("</table>")
    for a in report.assignments:
        parts.append(f'<h2 id="{e(a.id)}">{e(a.id)}</h2>')
        parts.append(
            f"<p>{len(a.submissions)} submissions: {len(a.graded)} graded, {len(a.failed)} could not be "
            f"graded, {len(a.flagged)} flagged for review, {a.pending} with written answers to grade in "
            f"formgrader. Autograded points: {_num(a.auto_max)}; "
            f"with written answers: {_num(a.max_score)}.</p>"
        )
        if a.graded:
            parts.append(
                f'<p class="charts"><img alt="grade histogram of {e(a.id)}" src="{histogram_png(a)}"> '
                f'<img alt="per-exercise scores of {e(a.id)}" src="{exercise_chart_png(a)}"></p>'
            )
        parts.append(
            "<table><tr><th>exercise</th><th>points</th><th>mean</th><th>full marks</th>"
            "<th>lost points</th><th>of which unanswered</th>"
            "<th>most common failing message (attempted answers)</th></tr>"
        )
        for x in a.exercises:
            if x.written:
                msg = f'<span class="muted">written answer: {x.pending} to grade by hand</span>'
            elif x.top_message:
                msg = f"<code>{e(x.top_message)}</code> ({x.top_count} of {x.failing - x.unanswered})"
            else:
                msg = ""
            parts.append(
                f"<tr><td>{e(x.exercise)}</td><td class='n'>{_num(x.points)}</td>"
                f"<td class='n'>{x.mean:.2f}</td><td class='n'>{x.full_share:.0%}</td>"
                f"<td class='n'>{x.failing}</td><td class='n'>{'' if x.written else x.unanswered}</td>"
                f"<td>{msg}</td></tr>"
            )
        parts.append("</table>")
        if a.flagged:
            parts.append(
                '<h3 class="flag">Flagged for review (tampering with tests; those tests score 0)</h3><ul>'
            )
            for s in a.flagged:
                parts.append(f"<li><b>{e(s.student)}</b>: {e(' | '.join(s.flags))}</li>")
            parts.append("</ul>")
        if a.failed:
            parts.append('<h3 class="fail">Could not be graded</h3><ul>')
            for s in a.failed:
                parts.append(f"<li><b>{e(s.student)}</b> ({e(s.status)}): {e(s.reason)}</li>")
            parts.append("</ul>")
        parts.append(
            "<details><summary>Every submission</summary><table><tr><th>student</th><th>status</th>"
            "<th>autograded</th><th>total</th><th>notes</th></tr>"
        )
        for s in a.submissions:
            notes = " | ".join(s.flags) or s.reason
            if s.graded and s.needs_manual:
                notes = "; ".join(filter(None, ["written answer to grade by hand", notes]))
            parts.append(
                f"<tr><td>{e(s.student)}</td><td>{e(s.status)}</td>"
                f"<td class='n'>{_num(s.auto_score) if s.graded else '-'}</td>"
                f"<td class='n'>{_num(s.score) if s.graded else '-'}</td><td>{e(notes)}</td></tr>"
            )
        parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)
