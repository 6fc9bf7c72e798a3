"""Hidden tests never reach a student: their text is cut out of every output of a graded notebook.

A hidden test runs in the student's kernel, so its source is there while it runs: IPython's
``In[-1]``, the running frame, ``linecache``, ``inspect``. A student function called by the test
can print it, and stock nbgrader would put that output into the autograded notebook and the
feedback (the guard forgets the source once the test cell ran, but not while it runs). So the
grader knows every hidden block of the notebook (the autograded notebook holds them again:
nbgrader's OverwriteCells restored them from the gradebook) and `RedactHiddenTests`, run right
after execution, replaces every output line that shows hidden-test text, before anything is
written to ``autograded/`` or the feedback.

Matching is by normalised lines, so reformatting does not help: ANSI colours removed, HTML
entities and string escapes decoded (``repr(In[-1])`` shows ``\\n``), whitespace collapsed. An
output line is hidden-test text when it contains a whole hidden line, or is itself a piece of one
(a hidden line split or cut) of at least `MIN_FRAGMENT` characters. Pieces of the hidden asserts'
*messages* (their string literals) are not secret: students see them when a test fails. Hidden
lines that also appear in the notebook's visible text, and very short ones (``)``, ``else:``),
are not secret either.

What is not matched: hidden-test text the student encodes (base64, reversed, one character per
line) before printing it. The README's threat model says so.

An error output is redacted and nothing else happens: Python and TensorFlow put code into
tracebacks and messages themselves (a `tf.function` error quotes the frames that traced it, hidden
lines included), so an honest answer's error may show hidden text. Printed output and displays
are what the notebook chose to show: there, redacted text is reported, and the grader flags the
submission for review.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

__all__ = ["HiddenText", "RedactHiddenTests", "REDACTED"]

REDACTED = "[hidden test code removed by the grader]"
MIN_LINE = 8  # shorter hidden lines (")", "else:") are not secret
MIN_FRAGMENT = 20  # a piece of a hidden line this long or longer counts as hidden text
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LITERAL = re.compile(r"""(?:[rbfRBF]{0,2})("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')""")
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\'": "'", '\\"': '"', "\\\\": "\\"}


def _norm(line: str) -> str:
    return " ".join(line.split())


def _unescape(text: str) -> str:
    return re.sub(r"\\[nt'\"\\]", lambda m: _ESCAPES[m.group(0)], text)


def _plain_variants(text: str) -> list[str]:
    """The text as a reader sees it, and with string escapes decoded (a repr of the source)."""
    plain = html.unescape(_ANSI.sub("", text))
    decoded = _unescape(plain)
    return [plain] if decoded == plain else [plain, decoded]


def hidden_regions(source: str, begin: str, end: str) -> tuple[list[str], list[str]]:
    """(hidden lines, visible lines) of one cell's source, by nbgrader's hidden-test delimiters."""
    hidden, visible, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        else:
            (hidden if inside else visible).append(line)
    return hidden, visible


@dataclass
class HiddenText:
    """The secret text of one notebook: normalised hidden lines, and the literals inside them."""

    lines: set[str] = field(default_factory=set)
    literals: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, nb, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> HiddenText:
        hidden, visible = [], []
        for cell in nb.cells:
            h, v = hidden_regions(cell.get("source", ""), begin, end)
            hidden += h
            visible += v
        shown = "\n".join(_norm(v) for v in visible)
        lines = {n for n in map(_norm, hidden) if len(n) >= MIN_LINE and n not in shown}
        literals = [_norm(_unescape(m.group(1)[1:-1])) for h in hidden for m in _LITERAL.finditer(h)]
        return cls(lines, [lit for lit in literals if lit])

    def __bool__(self) -> bool:
        return bool(self.lines)

    def _leaks(self, line: str) -> bool:
        n = _norm(line)
        if not n:
            return False
        if any(h in n for h in self.lines):
            return True
        if len(n) >= MIN_FRAGMENT and any(n in h for h in self.lines):
            return not any(n in lit for lit in self.literals)  # a piece of a message is no secret
        return False

    def shows(self, text: str) -> bool:
        """Does `text` show hidden-test text (in a line, or across lines as re-wrapped text)?"""
        if not self.lines:
            return False
        for variant in _plain_variants(text):
            if any(self._leaks(line) for line in variant.split("\n")):
                return True
            joined = _norm(variant)
            if any(h in joined for h in self.lines):
                return True
        return False

    def redact(self, text: str, whole: bool = False) -> tuple[str, bool]:
        """`text` with every line that shows hidden-test text replaced by `REDACTED` (`whole`:
        all of it replaced, for text whose every line the notebook chose, e.g. printed output)."""
        if not self.shows(text):
            return text, False
        if whole:
            return REDACTED, True
        out = []
        for line in text.split("\n"):
            out.append(REDACTED if any(self._leaks(v) for v in _plain_variants(line)) else line)
        result = "\n".join(out)
        if self.shows(result):  # the secret spans lines (re-wrapped, or a repr): drop it all
            result = REDACTED
        return result, True


def _redact_value(value, secret: HiddenText, whole: bool = True):
    """(new value, changed) for an output field: a string or nbformat's list of strings."""
    if isinstance(value, str):
        return secret.redact(value, whole)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        new, changed = secret.redact("".join(value), whole)
        return ([new] if changed else value), changed
    if isinstance(value, (dict, list)):  # application/json and friends
        text = json.dumps(value)
        return (REDACTED, True) if secret.shows(text) else (value, False)
    return value, False


class RedactHiddenTests(NbGraderPreprocessor):
    """Cut hidden-test text out of every output (see the module docstring).

    `findings` lists ``(notebook, cell index, grade id, where)`` for each printed or displayed
    output redacted (a student could only have put it there on purpose); the caller empties it
    between submissions.
    """

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.findings: list[tuple[str, int, str | None, str]] = []
        course = self.config.get("ClearHiddenTests", {})  # the course's own delimiters, if set
        for name in ("begin_test_delimeter", "end_test_delimeter"):
            if name in course:
                setattr(self, name, course[name])

    def preprocess(self, nb, resources):
        self._notebook = (resources or {}).get("nbgrader", {}).get("notebook", "")
        self._secret = HiddenText.of(nb, self.begin_test_delimeter, self.end_test_delimeter)
        if not self._secret:
            return nb, resources
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.get("cell_type") != "code":
            return cell, resources
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            changed_any, where = False, kind
            if kind == "stream":
                out["text"], changed_any = _redact_value(out.get("text", ""), self._secret)
                where = out.get("name", "stream")
            elif kind == "error":
                tb = []
                for frame in out.get("traceback", []):  # line by line: the student's frames stay
                    new, changed = _redact_value(frame, self._secret, whole=False)
                    tb.append(new)
                    changed_any |= changed
                out["traceback"] = tb
                out["evalue"], changed = _redact_value(out.get("evalue", ""), self._secret, whole=False)
                changed_any |= changed
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                for mime in list(data):
                    if mime.startswith("image/"):
                        continue
                    data[mime], changed = _redact_value(data[mime], self._secret)
                    changed_any |= changed
            if changed_any and kind != "error":
                self.findings.append((self._notebook, index, grade_id, where))
        return cell, resources
