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
  would print the hidden code; frames in the student's own code stay;
* before that, `autograder.engine.redact.RedactHiddenTests` (which `grade` already ran before writing
  the autograded notebook) cuts hidden-test text out of every output once more, so feedback for
  a notebook graded by anything else is safe too.

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
from traitlets.config import Config

from autograder.coursedir import Course, CourseError
from autograder.engine.redact import RedactHiddenTests

__all__ = ["FeedbackSummary", "HideHiddenTests", "generate_feedback"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for feedback: hidden test code out, its outcome kept."""

    placeholder = Unicode(
        "# ... hidden tests ran here; their code is not shown (their result is below)",
        help="The line that replaces a hidden-test region in the feedback",
    ).tag(config=True)

    # as GetGrades declares it (the base class's is not configurable: traitlets would warn)
    display_data_priority = List(
        [
            "text/html",
            "application/pdf",
            "text/latex",
            "image/svg+xml",
            "image/png",
            "image/jpeg",
            "text/plain",
        ]
    ).tag(config=True)

    def _remove_hidden_test_region(self, cell) -> bool:
        """nbgrader's, which deletes the region with its markers, plus a placeholder line there."""
        lines = []
        for line in cell.source.split("\n"):
            if self.begin_test_delimeter in line:
                lines.append(line[: len(line) - len(line.lstrip())] + self.placeholder)
            lines.append(line)
        cell.source = "\n".join(lines)
        return super()._remove_hidden_test_region(cell)

    def preprocess_cell(self, cell, resources, cell_index):
        if self.begin_test_delimeter in cell.source and cell.cell_type == "code":
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    frames = out.get("traceback", [])
                    out["traceback"] = _without_own_frame(frames, cell.get("execution_count"))
        return super().preprocess_cell(cell, resources, cell_index)


def _without_own_frame(frames: list[str], execution_count: int | None) -> list[str]:
    """A traceback without the test cell's own frame (its context lines show the test code)."""
    count = r"\d*" if execution_count is None else str(execution_count)
    own = re.compile(rf"^\s*(Cell In\s*\[{count}\]|Input In \[{count}\])")
    return [frame for frame in frames if not own.match(_ANSI.sub("", frame))]


class FeedbackOnly(GenerateFeedback):
    """nbgrader's GenerateFeedback, minus its copy of the submission's other files into the
    feedback folder: feedback holds only what the grader produced (the HTML), so nothing a
    submission brought in goes back out through ``nbgrader release_feedback``."""

    def init_assignment(self, assignment_id: str, student_id: str) -> None:
        pass  # BaseConverter's copies every non-notebook file of autograded/<student>/<assignment>/


@dataclass
class FeedbackSummary:
    written: list[Path] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "assignment student: reason"


def generate_feedback(
    course: Course,
    assignments: list[str],
    students: list[str] | None = None,
    *,
    log: logging.Logger | None = None,
) -> FeedbackSummary:
    """``nbgrader generate_feedback`` for these assignments (and students), hidden tests removed.

    Writes ``feedback/<student>/<assignment>/<notebook>.html`` for every autograded submission.
    """
    config = Config(course.config)  # a copy: the preprocessors below are feedback's own
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        RedactHiddenTests,
        HideHiddenTests,
        CSSHTMLHeaderPreprocessor,
    ]
    if log is None:  # nbgrader logs every file it replaces at WARNING: show only its errors
        log = logging.getLogger("autograder.feedback")
        log.setLevel(logging.ERROR)
    summary = FeedbackSummary()
    autograded_root = course.folder("autograded")
    for aid in assignments:
        found = _all_students(autograded_root, aid)
        if students:
            found = [s for s in found if s in set(students)]
        if not found:
            continue
        # One converter per assignment (its template loads once); nbgrader goes on past a
        # student it cannot render and raises at the end, so a failure costs only that student.
        cd = course.coursedir(aid, "*")
        if students:
            cd.student_id = "*"
            cd.student_id_exclude = ",".join(sorted(set(_all_students(autograded_root, aid)) - set(found)))
        converter = FeedbackOnly(coursedir=cd, config=config, log=log)
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
