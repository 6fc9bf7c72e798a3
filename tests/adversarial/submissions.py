"""A catalogue of adversarial submissions for assignment 01, with the outcome each must get.

Every entry builds a submission folder (``submitted/<student>/01_creating_variables/``) from the
release notebook filled with the instructor's solutions (autograder/synth.py's `fill_in`), then
spoils it one way. The runner (tests/test_adversarial.py, to come) grades the whole catalogue with
``python -m autograder grade`` (sandbox on) next to an honest student and checks, besides each
entry's `Expect`:

* ``PRAGMA integrity_check`` of gradebook.db is ``ok``;
* the honest student's grades are unchanged (same as when graded alone);
* no file outside the grader's own outputs (autograded/, feedback/, gradebook.db) changed:
  source/, release/, nbgrader_config.py and other students' submitted/ folders hash the same;
* no process of the sandbox outlives the batch.

`Expect.score`: "solution" (the solution's autograded score), "zero" (no autograded point: the
spoiling cell sits before every test cell), a number, or "solution-minus:<exercise>" (the
solution's score less that exercise's points).

Every expectation was observed by tests/adversarial/test_adversarial_grading.py (cell timeout
10 s, 64 tasks per sandbox). Files beside the notebook (links, FIFOs, devices ...) are made by
functions (`Entry`): the runner calls them with the path and the course.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.coursedir import Course

ASSIGNMENT = "01_creating_variables"
NOTEBOOK = "creating_variables.ipynb"
FIRST_ANSWER = "ex1_make_bias"  # the first solution cell's grade id
FIRST_TEST = "ex1_make_bias_test"


@dataclass(frozen=True)
class Expect:
    status: str  # "graded" | "failed"
    score: str | float  # see the module docstring
    flagged: bool = False  # the guard flagged it for review
    note: str = ""  # what the reason/feedback must mention (substring), if anything
    ignored: str = ""  # what the grading record's list of files not taken in must mention


# A file to submit: its bytes, or a function that makes it (a link, a FIFO ...) at the given path,
# given the course being graded.
Entry = bytes | Callable[[Path, Course], None]


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    build: Callable[[nbformat.NotebookNode], dict[str, Entry]]  # solution nb -> files to submit
    expect: Expect
    tags: tuple[str, ...] = field(default_factory=tuple)


def _nb(nb) -> bytes:
    return nbformat.writes(nb).encode()


def _with_cell_after(nb, grade_id: str, source: str):
    """A copy of `nb` with a plain (student) code cell inserted after the cell `grade_id`."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
            return nb
    raise KeyError(grade_id)


def _answer_prefix(nb, code: str):
    """The first answer cell runs `code` first (the student's own cell, so it is kept)."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == FIRST_ANSWER:
            cell.source = code + "\n" + cell.source
    return nb


def _cell(code: str) -> Callable:
    return lambda nb: {NOTEBOOK: _nb(_with_cell_after(nb, FIRST_ANSWER, code))}


# Cells that try to break out or cheat; each is inserted right after the first answer cell.
READ_SOURCE = """
import glob, os
found = glob.glob('../../../source/**/*.ipynb', recursive=True)
found += glob.glob('/work/**/source/*/*.ipynb', recursive=True)
print('source visible:', bool(found))
"""
WRITE_GRADEBOOK = """
import glob
for p in glob.glob('../../../gradebook.db') + glob.glob('/**/gradebook.db', recursive=True)[:5]:
    try:
        open(p, 'ab').write(b'garbage')
        print('wrote', p)
    except OSError as e:
        print('refused', type(e).__name__)
"""
READ_OTHERS = """
import glob
print('others visible:', glob.glob('../../../submitted/*/*/*.ipynb')[:3])
"""
NETWORK = """
import socket
try:
    socket.create_connection(('127.0.0.1', 8888), timeout=2)
    print('network: connected')
except OSError as e:
    print('network:', type(e).__name__)
"""
FORK_LOOP = """
import os, signal, time
# The children inherit a blocked SIGINT: the grader's interrupt (SIGINT to the kernel's process
# group) then stops only the parent. A child that woke up would run on in its copy of the kernel
# and write into the sockets it shares with the parent, and the outcome would be a race.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
for _ in range(100000):
    try:
        if os.fork() == 0:
            while True:
                time.sleep(1)
    except OSError:
        break
else:
    raise SystemExit('the process limit never refused a fork')
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
os.wait()  # the children never exit: the cell runs until the grader interrupts it
"""
MEMORY_BOMB = """
hog = []
try:
    while True:
        hog.append(bytearray(512 * 1024 * 1024))
except MemoryError:
    pass
del hog
"""
IGNORE_SIGINT = """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""
EXIT = "import os\nos._exit(0)\n"
BIG_OUTPUT = "print('x' * (100 * 1024 * 1024))\n"
MONKEYPATCH = (
    "import numpy as np\n"
    "np.testing.assert_allclose = lambda *a, **k: None\n"
    "np.allclose = lambda *a, **k: True\n"
)
HOOKS = (
    "ip = get_ipython()\n"
    "ip.set_custom_exc((Exception,), lambda *a, **k: None)\n"
    "ip.input_transformers_post.append(lambda lines: ['pass\\n'])\n"
)
DAEMON = """
import subprocess
subprocess.Popen(['sleep', '3600'], start_new_session=True)
"""


def _thousand_cells(nb) -> dict[str, bytes]:
    # Each cell is a kernel round trip (~10 ms): a thousand prove the point at a tenth of the cost.
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    nb.cells.extend(nbformat.v4.new_code_cell(f"x_{i} = {i}") for i in range(1_000))
    return {NOTEBOOK: _nb(nb)}


def _duplicate_grade_cell(nb) -> dict[str, bytes]:
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for cell in list(nb.cells):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == FIRST_TEST:
            nb.cells.append(nbformat.from_dict(json.loads(json.dumps(cell))))
    return {NOTEBOOK: _nb(nb)}


def _delete_grade_cell(nb) -> dict[str, bytes]:
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    nb.cells = [
        c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != FIRST_TEST
    ]  # noqa: E501
    return {NOTEBOOK: _nb(nb)}


def _test_cell_edited(nb) -> dict[str, bytes]:
    """The student replaced a (read-only) test cell's code by `pass`: nbgrader restores it."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == FIRST_TEST:
            cell.source = "pass"
    return {NOTEBOOK: _nb(nb)}


def _points_raised(nb) -> dict[str, bytes]:
    """The student raised a test cell's points in its metadata: the gradebook's points count."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == FIRST_TEST:
            meta["points"] = 100
    return {NOTEBOOK: _nb(nb)}


def _test_cell_demoted(nb) -> dict[str, bytes]:
    """nbgrader metadata removed from a test cell (it becomes an ordinary cell)."""
    nb = nbformat.from_dict(json.loads(nbformat.writes(nb)))
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == FIRST_TEST:
            del cell.metadata["nbgrader"]
    return {NOTEBOOK: _nb(nb)}


# --- files beside the notebook that must bring nothing in (autograder/intake.py) ---------------
# The notebook reads every file in its working directory; only the honest data file may be there.
LOOK = """
import os
seen = {}
for name in sorted(n for n in os.listdir('.') if not n.startswith('.')):  # not IPython's own
    try:
        with open(name, 'rb') as f:
            seen[name] = len(f.read(1_000_000))
    except OSError as e:
        seen[name] = type(e).__name__
print('files here:', seen)
"""
DATA = b"a,b\n1,2\n"
ONLY_DATA = "files here: {'data.csv': 8}"


def _beside(**entries: Entry) -> Callable:
    """The solution (plus the LOOK cell), an honest data file, and `entries` beside it."""
    return lambda nb: {NOTEBOOK: _nb(_with_cell_after(nb, FIRST_ANSWER, LOOK)), "data.csv": DATA, **entries}


def _link_to(target: Callable[[Course], Path | str]) -> Entry:
    return lambda path, course: os.symlink(target(course), path)


def _fifo(path: Path, course) -> None:
    os.mkfifo(path)


def _device(path: Path, course) -> None:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero (the tests run as root)


def _hard_link_to_source(path: Path, course) -> None:
    os.link(course.root / "source" / ASSIGNMENT / NOTEBOOK, path)


def _many_files(path: Path, course) -> None:
    path.mkdir()
    for i in range(10_000):
        (path / f"f{i}.txt").write_bytes(b"x")


def _sparse_2gb(path: Path, course) -> None:
    with open(path, "wb") as f:
        f.truncate(2 * 10**9)


SOURCE_NOTEBOOK = _link_to(lambda c: c.root / "source" / ASSIGNMENT / NOTEBOOK)


CASES: list[Case] = [
    # --- escaping the sandbox: nothing visible or writable, the honest answers still score ---
    Case("read_source", "glob ../../../source for solutions", _cell(READ_SOURCE),
         Expect("graded", "solution", note="source visible: False"), ("sandbox",)),
    Case("write_gradebook", "append garbage to every gradebook.db it can find", _cell(WRITE_GRADEBOOK),
         Expect("graded", "solution"), ("sandbox",)),
    Case("read_others", "list other students' submitted notebooks", _cell(READ_OTHERS),
         Expect("graded", "solution", note="others visible: []"), ("sandbox",)),
    Case("network", "connect to a port on the grader's loopback", _cell(NETWORK),
         Expect("graded", "solution", note="network: ConnectionRefusedError"), ("sandbox",)),
    # --- files beside the notebook: only its own regular files come in; the honest data file does
    Case("symlink_to_source", "a symlink to the instructor's notebook (solutions, hidden tests)",
         _beside(**{"solutions.ipynb": SOURCE_NOTEBOOK}),
         Expect("graded", "solution", note=ONLY_DATA, ignored="solutions.ipynb is a symbolic link"),
         ("files",)),
    Case("symlink_to_gradebook", "a symlink to the gradebook",
         _beside(**{"grades.db": _link_to(lambda c: c.root / "gradebook.db")}),
         Expect("graded", "solution", note=ONLY_DATA, ignored="grades.db is a symbolic link"), ("files",)),
    Case("symlink_to_system_file", "a symlink to /etc/passwd, and a dangling one",
         _beside(passwd=_link_to(lambda c: "/etc/passwd"), gone=_link_to(lambda c: "/nonexistent")),
         Expect("graded", "solution", note=ONLY_DATA, ignored="passwd is a symbolic link"), ("files",)),
    Case("symlink_to_other_student", "a relative symlink to another student's submission folder",
         _beside(friend=_link_to(lambda c: f"../../honest/{ASSIGNMENT}")),
         Expect("graded", "solution", note=ONLY_DATA, ignored="friend is a symbolic link"), ("files",)),
    Case("fifo", "a FIFO (reading it would block for ever)", _beside(pipe=_fifo),
         Expect("graded", "solution", note=ONLY_DATA, ignored="pipe is a FIFO"), ("files",)),
    Case("device_file", "a character device (a copy of /dev/zero)", _beside(zero=_device),
         Expect("graded", "solution", note=ONLY_DATA, ignored="zero is a device file"), ("files",)),
    Case("hard_link", "a hard link to the instructor's notebook",
         _beside(**{"copy.ipynb": _hard_link_to_source}),
         Expect("graded", "solution", note=ONLY_DATA, ignored="copy.ipynb is a hard link to a file outside"),
         ("files",)),
    Case("newline_in_name", "a file whose name holds a newline", _beside(**{"bad\nname.txt": b"x"}),
         Expect("failed", "zero", note="control character"), ("files",)),
    Case("ten_thousand_files", "10,000 small files in a folder", _beside(many=_many_files),
         Expect("failed", "zero", note="more than 1000 files"), ("files",)),
    Case("sparse_2gb", "a 2 GB sparse file", _beside(**{"big.bin": _sparse_2gb}),
         Expect("failed", "zero", note="over the limit of 100 MB"), ("files",)),
    # --- exhausting resources: the notebook stops, the machine and the other students do not ---
    Case("fork_loop", "fork children until refused, then wait for them: the process limit stops the "
         "forks, the cell is interrupted at the cell time limit, the honest answers keep their points "
         "and no child outlives the sandbox",
         _cell(FORK_LOOP), Expect("graded", "solution", note="time limit"), ("resources",)),
    Case("memory_bomb", "allocate until MemoryError", _cell(MEMORY_BOMB),
         Expect("graded", "solution"), ("resources",)),
    Case("ignore_sigint", "a cell that ignores interrupts and spins: killed after the cell timeout",
         _cell(IGNORE_SIGINT), Expect("graded", "zero", note="timed out"), ("resources",)),
    Case("os_exit", "os._exit in a cell: the cells before it keep their points", _cell(EXIT),
         Expect("graded", "zero", note="exited"), ("resources",)),
    Case("big_output", "print 100 MB: the grader caps the notebook's output in memory, the cell "
         "completes and the honest answers keep their points",
         _cell(BIG_OUTPUT), Expect("graded", "solution", note="truncated"), ("resources",)),
    Case("thousand_cells", "1,000 extra cells", _thousand_cells,
         Expect("graded", "solution"), ("resources",)),
    Case("daemon", "a setsid child that would outlive the kernel (it dies with the kernel's PID namespace)",
         _cell(DAEMON), Expect("graded", "solution"), ("resources",)),
    # --- tampering with tests in the kernel: those tests score 0, the submission is flagged ---
    Case("monkeypatch_helpers", "replace np.testing.assert_allclose and np.allclose: the next test cell "
         "(ex1's) scores 0 and is flagged, later tests run with the helpers restored",
         _cell(MONKEYPATCH), Expect("graded", "solution-minus:ex1", flagged=True, note="was replaced"),
         ("guard",)),
    Case("ipython_hooks", "set_custom_exc and an input transformer that blanks every later cell: the "
         "guard's checks never pass through transformers; it removes both before ex1's test, which "
         "scores 0 and is flagged, and the later tests run as written",
         _cell(HOOKS), Expect("graded", "solution-minus:ex1", flagged=True, note="set_custom_exc"),
         ("guard",)),
    # --- malformed submissions: FAILED with a clear reason, nothing else affected ---
    Case("invalid_json", "not JSON", lambda nb: {NOTEBOOK: b'{"cells": [}'},
         Expect("failed", "zero", note="invalid JSON"), ("format",)),
    Case("empty_file", "an empty notebook file", lambda nb: {NOTEBOOK: b""},
         Expect("failed", "zero", note="empty file"), ("format",)),
    Case("wrong_nbformat", "nbformat 99",
         lambda nb: {NOTEBOOK: _nb(nb).replace(b'"nbformat": 4', b'"nbformat": 99')},
         Expect("failed", "zero", note="newer"), ("format",)),
    Case("missing_notebook", "an empty submission folder", lambda nb: {},
         Expect("failed", "zero", note="missing notebook"), ("format",)),
    Case("renamed_notebook", "the notebook under another name", lambda nb: {"my_work.ipynb": _nb(nb)},
         Expect("failed", "zero", note="missing notebook"), ("format",)),
    Case("extra_files", "extra files next to the notebook (data, a .py, a hidden file)",
         lambda nb: {NOTEBOOK: _nb(nb), "notes.txt": b"hello", "helper.py": b"X = 1\n", ".hidden": b"x"},
         Expect("graded", "solution"), ("format",)),
    # --- nbgrader metadata games: nbgrader's own sanitizing decides ---
    Case("duplicated_grade_cell", "a test cell copied at the end: nbgrader refuses the notebook",
         _duplicate_grade_cell, Expect("failed", "zero", note="nbgrader metadata"), ("metadata",)),
    Case("deleted_grade_cell", "a test cell deleted", _delete_grade_cell,
         Expect("graded", "solution-minus:ex1"), ("metadata",)),
    Case("test_cell_edited", "a test cell's code replaced by pass (restored from the gradebook)",
         _test_cell_edited, Expect("graded", "solution"), ("metadata",)),
    Case("points_raised", "a test cell's points raised to 100 in its metadata", _points_raised,
         Expect("graded", "solution"), ("metadata",)),
    Case("test_cell_demoted", "nbgrader metadata removed from a test cell: that test scores 0",
         _test_cell_demoted, Expect("graded", "solution-minus:ex1"), ("metadata",)),
]  # fmt: skip
