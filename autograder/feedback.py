"""`feedback`: per-student HTML feedback that shows how each test ended but not the hidden tests.

Stock ``nbgrader generate_feedback`` renders the autograded notebook, and autograde has put the
hidden tests back into it (OverwriteCells restores them from the gradebook), so students read the
hidden tests in their feedback (nbgrader issues #917, #1363). Here the feedback is made by
nbgrader's own `GenerateFeedback` converter (same template, same ``feedback/<student>/<assignment>/
<notebook>.html`` files, `GetGrades` for the scores and comments, so ``nbgrader release_feedback``
and the formgrader work unchanged) with one more preprocessor, `HideHiddenTests`, that runs
after `GetGrades` and before rendering:

* the text between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (markers included) is
  replaced by one comment line saying hidden tests ran there (nbgrader's `ClearHiddenTests`
  delimiters and checks, which generate_assignment uses to make the release);
* in such a cell, error outputs keep their exception name and message (the assert's message is
  the teaching part) but lose the traceback frames of the test cell itself, whose context lines
  would print the hidden code; frames in the student's own code stay. If any hidden line would
  still show (in a kept frame or inside an error message, e.g. a traced tf.function's error),
  it is replaced by a placeholder.

Scores and pass/fail per test cell are untouched: they come from the gradebook (`GetGrades`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import List, Unicode

from autograder.coursedir import CourseError
from autograder.grading import load_course_config, make_coursedir

__all__ = ["FeedbackSummary", "HideHiddenTests", "generate_feedback", "hidden_lines"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
HIDDEN_LINE = "(hidden test line)"


def hidden_lines(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> list[str]:
    """The lines between the hidden-test markers of a cell's source (markers excluded)."""
    out, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for feedback: hidden test code out, its outcome kept."""

    placeholder = Unicode(
        "# ... hidden tests ran here; their code is not shown (their result is below)",
        help="The line that replaces a hidden-test region in the feedback",
    ).tag(config=True)

    # as GetGrades declares it (the base class's is not configurable: traitlets would warn)
    display_data_priority = List(
        ["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png", "image/jpeg",
         "text/plain"]
    ).tag(config=True)

    min_leak_length = 8  # hidden lines shorter than this (e.g. ")") are not searched for

    def _remove_hidden_test_region(self, cell) -> bool:
        lines = cell.source.split("\n")
        new_lines, in_test, removed = [], False, False
        for line in lines:
            if self.begin_test_delimeter in line:
                if in_test:
                    raise RuntimeError("Encountered nested begin hidden tests statements")
                in_test = removed = True
                indent = line[: len(line) - len(line.lstrip())]
                new_lines.append(indent + self.placeholder)
            elif self.end_test_delimeter in line:
                in_test = False
            elif not in_test:
                new_lines.append(line)
        if in_test:
            raise RuntimeError("No end hidden tests statement found")
        cell.source = "\n".join(new_lines)
        return removed

    def preprocess_cell(self, cell, resources, cell_index):
        secret = [
            ln.strip()
            for ln in hidden_lines(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
            if len(ln.strip()) >= self.min_leak_length
        ]
        if self.begin_test_delimeter in cell.source and cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    self._scrub_error(out, cell.get("execution_count"), secret)
        return super().preprocess_cell(cell, resources, cell_index)

    def _scrub_error(self, out, execution_count, secret: list[str]) -> None:
        own = re.compile(rf"^\s*(Cell In\s*\[{execution_count}\]|Input In \[{execution_count}\])")
        frames = list(out.get("traceback", []))
        kept = []
        for frame in frames:
            plain = _ANSI.sub("", frame)
            if execution_count is not None and own.match(plain):
                continue  # the test cell's own frame: its context lines show the test code
            if execution_count is None and re.match(r"^\s*(Cell In\s*\[|Input In \[)", plain):
                continue
            kept.append(frame)
        kept = [_redact(frame, secret) for frame in kept]
        out["traceback"] = kept
        if "evalue" in out:
            out["evalue"] = _redact(str(out["evalue"]), secret)


def _redact(text: str, secret: list[str]) -> str:
    plain = _ANSI.sub("", text)
    if not any(s in plain for s in secret):
        return text
    for s in sorted(secret, key=len, reverse=True):
        plain = plain.replace(s, HIDDEN_LINE)
    return plain  # colours are dropped from a frame that had to be redacted


@dataclass
class FeedbackSummary:
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "assignment student: reason"


def generate_feedback(
    course_root: str | Path,
    assignments: list[str],
    students: list[str] | None = None,
    *,
    log: logging.Logger | None = None,
) -> FeedbackSummary:
    """``nbgrader generate_feedback`` for these assignments (and students), hidden tests removed.

    Writes ``feedback/<student>/<assignment>/<notebook>.html`` for every autograded submission.
    """
    course_root = Path(course_root).resolve()
    config = load_course_config(course_root)
    config.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    if log is None:  # nbgrader logs every file it replaces at WARNING: show only its errors
        log = logging.getLogger("autograder.feedback")
        log.setLevel(logging.ERROR)
    summary = FeedbackSummary()
    cd0 = make_coursedir(course_root, config)
    autograded_root = Path(cd0.format_path(cd0.autograded_directory, ".", ".")).resolve()
    for aid in assignments:
        found = _all_students(autograded_root, aid)
        if students:
            found = [s for s in found if s in set(students)]
        if not found:
            continue
        # One converter per assignment (its template loads once); nbgrader goes on past a
        # student it cannot render and raises at the end, so a failure costs only that student.
        cd = make_coursedir(course_root, config, aid, "*")
        if students:
            cd.student_id = "*"
            cd.student_id_exclude = ",".join(sorted(set(_all_students(autograded_root, aid)) - set(found)))
        converter = GenerateFeedback(coursedir=cd, config=config, log=log)
        converter.force = True
        try:
            converter.start()
        except NbGraderException:
            pass
        for student in found:
            files = _html_files(cd, aid, student)
            if files:
                summary.written.extend(files)
            else:
                summary.failed.append(f"{aid} {student}: nbgrader could not render the feedback")
    if not summary.written and not summary.failed:
        who = f" of {', '.join(students)}" if students else ""
        raise CourseError(
            f"no autograded submissions{who} for {', '.join(assignments)} in {autograded_root}: "
            "run `python -m autograder grade` first"
        )
    return summary


def _all_students(autograded_root: Path, assignment: str) -> list[str]:
    if not autograded_root.is_dir():
        return []
    return sorted(
        p.name for p in autograded_root.iterdir() if not p.name.startswith(".") and (p / assignment).is_dir()
    )


def _html_files(cd, assignment: str, student: str) -> list[Path]:
    folder = Path(cd.format_path(cd.feedback_directory, student, assignment))
    return sorted(folder.glob("*.html")) if folder.is_dir() else []
