"""What grading produced: one record per submission, the only thing reports and resumes read.

`grade` writes ``autograded/.autograder/<assignment>/<student>.json`` (a `GradeResult`)
atomically, after nbgrader has committed the grades and written the autograded notebook.
`is_done` trusts a record only while the submission's files (`autograder.intake.fingerprint`),
the gradebook's submission and the autograded notebooks are still the ones it describes; the
record is deleted before a submission is regraded, so an interrupted grading never looks done.

`report`, `feedback`, `bench` and `check` read records from here without importing the engine.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.intake import fingerprint

if TYPE_CHECKING:
    from nbgrader.coursedir import CourseDirectory

__all__ = [
    "CellRun", "CellScore", "ERROR", "FAILED", "GRADED", "GradeResult", "RECORD_DIR", "is_done",
    "read_record", "record_path", "write_atomically", "write_record",
]  # fmt: skip

GRADED = "graded"  # nbgrader graded it (some cells may have failed, timed out, killed the kernel)
FAILED = "failed"  # the submission cannot be graded (missing or unreadable notebook): fix and rerun
ERROR = "error"  # the grader failed (fork server, database): not the student's fault
RECORD_DIR = ".autograder"


@dataclass
class CellRun:
    """How one code cell ran."""

    index: int
    grade_id: str | None
    is_test: bool
    seconds: float
    status: str  # "ok", "error", "timeout", "died", "not-run"
    note: str = ""


@dataclass
class CellScore:
    """One graded cell as nbgrader stored it in the gradebook."""

    notebook: str
    grade_id: str
    cell_type: str  # "code" (autograded test) or "markdown" (written answer)
    score: float  # what counts now (manual score if any, else auto score, else 0)
    auto_score: float | None
    max_score: float
    needs_manual_grade: bool


@dataclass
class GradeResult:
    """What grading one submission produced; `to_json`/`from_json` round-trip it."""

    assignment: str
    student: str
    status: str  # GRADED, FAILED or ERROR
    reason: str = ""  # why FAILED/ERROR; for GRADED, what went wrong inside (kernel died, timeouts)
    score: float = 0.0
    max_score: float = 0.0
    cells: list[CellScore] = field(default_factory=list)
    needs_manual: bool = False  # a cell (a written answer) waits for a human in formgrader
    seconds: float = 0.0  # wall clock of the whole grading of this submission
    kernel_seconds: float | None = None  # kernel start until ready (sum over notebooks)
    # waited for the worker's fork server to start (its imports), included in `seconds`: the
    # grader's start-up, not this submission's (a worker's first notebook)
    server_wait_seconds: float = 0.0
    cell_runs: list[CellRun] = field(default_factory=list)
    fingerprint: str = ""  # of the submitted files that were graded
    submission_id: str = ""  # nbgrader's id of the submission in the gradebook
    finished_at: float = 0.0  # time.time() when the record was written
    flags: list[str] = field(default_factory=list)  # tampering the guard saw: review by hand
    ignored: list[str] = field(default_factory=list)  # files not taken in: "x is a symbolic link"

    @property
    def ok(self) -> bool:
        return self.status == GRADED

    def scores(self) -> dict[str, float | None]:
        """grade_id -> auto score of every autograded (code) cell, as nbgrader stored it."""
        return {c.grade_id: c.auto_score for c in self.cells if c.cell_type == "code"}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> GradeResult:
        data = json.loads(text)
        data["cells"] = [CellScore(**c) for c in data.get("cells", [])]
        data["cell_runs"] = [CellRun(**c) for c in data.get("cell_runs", [])]
        return cls(**data)


def record_path(coursedir: CourseDirectory, assignment: str, student: str) -> Path:
    return (
        Path(coursedir.format_path(coursedir.autograded_directory, RECORD_DIR, assignment))
        / f"{student}.json"
    )


def read_record(path: Path) -> GradeResult | None:
    try:
        return GradeResult.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_record(coursedir: CourseDirectory, result: GradeResult) -> Path:
    """Record a result (atomically) where `is_done` and reports look for it."""
    if not result.finished_at:
        result.finished_at = time.time()
    path = record_path(coursedir, result.assignment, result.student)
    write_atomically(path, result.to_json())
    return path


def is_done(
    coursedir: CourseDirectory, assignment: str, student: str, submission_ids: dict[str, str]
) -> bool:
    """Graded already, and nothing changed since: same submitted files, same gradebook entry,
    autograded notebooks present. `submission_ids`: student -> gradebook submission id."""
    rec = read_record(record_path(coursedir, assignment, student))
    if rec is None or rec.status != GRADED:
        return False
    if submission_ids.get(student) != rec.submission_id:
        return False
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    if fingerprint(submitted) != rec.fingerprint:
        return False
    autograded = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    notebooks = {c.notebook for c in rec.cells}
    return all((autograded / f"{nb}.ipynb").is_file() for nb in notebooks)
