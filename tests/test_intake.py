"""autograder.intake: a submission brings in only its own regular files (no kernel needed).

What grading does with such submissions end to end (sandboxed, next to honest students) is
tests/adversarial/test_adversarial_grading.py's "files" cases; here: the rule itself, its bounds,
and ``nbgrader collect`` from a real exchange folder with the course's configured collector.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from autograder.coursedir import REPO_ROOT
from autograder.intake import SubmissionFiles, SubmissionRefused, fingerprint, scan, take_in
from autograder.nbgrader_cli import run_nbgrader


@pytest.fixture
def outside(tmp_path) -> Path:
    base = tmp_path / "elsewhere"
    secret = base / "course" / "source" / "solution.ipynb"
    secret.parent.mkdir(parents=True)
    secret.write_text("SOLUTIONS AND HIDDEN TESTS")
    (base / "other").mkdir()
    (base / "other" / "work.ipynb").write_text("another student's work")
    return base


def planted(folder: Path, outside: Path) -> Path:
    """An honest notebook and data file, plus one of everything that must not come in."""
    folder.mkdir(parents=True)
    (folder / "nb.ipynb").write_text("{}")
    (folder / "data").mkdir()
    (folder / "data" / "x.csv").write_text("a,b\n1,2\n")
    (folder / "data" / "y.csv").write_text("same file, two names")
    os.link(folder / "data" / "y.csv", folder / "data" / "y-again.csv")  # a hard link inside: fine
    os.symlink(outside / "course" / "source" / "solution.ipynb", folder / "solutions.ipynb")
    os.symlink("../../other", folder / "friend")
    os.symlink("/nonexistent", folder / "dangling")
    os.symlink("/etc/passwd", folder / "data" / "passwd")
    os.link(outside / "course" / "source" / "solution.ipynb", folder / "copy.ipynb")
    os.mkfifo(folder / "pipe")
    os.mknod(folder / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # the tests run as root
    return folder


def test_only_regular_files_inside_come_in(tmp_path, outside):
    src = planted(tmp_path / "sub", outside)
    intake = take_in(src, tmp_path / "dest")
    got = sorted(str(p.relative_to(tmp_path / "dest")) for p in (tmp_path / "dest").rglob("*"))
    assert got == ["data", "data/x.csv", "data/y-again.csv", "data/y.csv", "nb.ipynb"]
    assert all(not p.is_symlink() for p in (tmp_path / "dest").rglob("*"))
    assert intake.ignored == [
        "copy.ipynb is a hard link to a file outside the submission",
        "dangling is a symbolic link",
        "data/passwd is a symbolic link",
        "friend is a symbolic link",
        "pipe is a FIFO (named pipe)",
        "solutions.ipynb is a symbolic link",
        "zero is a device file",
    ]
    assert (tmp_path / "dest" / "data" / "x.csv").read_text() == "a,b\n1,2\n"


def test_a_fifo_swapped_in_after_the_scan_does_not_hang(tmp_path):
    """The scan saw a regular file; by the copy it is a FIFO with no writer: skipped, no hang."""
    src = tmp_path / "sub"
    src.mkdir()
    (src / "nb.ipynb").write_text("{}")
    (src / "late").write_text("regular at first")
    intake = scan(src)
    os.unlink(src / "late")
    os.mkfifo(src / "late")
    done = threading.Event()

    def copy():
        from autograder.intake import _read_taken

        for _path, _size, chunks in _read_taken(src, intake):
            b"".join(chunks)
        done.set()

    threading.Thread(target=copy, daemon=True).start()
    assert done.wait(10), "the copy blocked on a FIFO"
    assert "late changed while it was being copied" in intake.ignored


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: (d / "bad\nname.txt").write_text("x"), "control character"),
        (lambda d: [(d / f"f{i}").write_text("x") for i in range(60)], "more than 50 files"),
        (lambda d: (d / "a" / "b" / "c" / "d").mkdir(parents=True), "nested deeper than 2"),
        (lambda d: open(d / "big.bin", "wb").truncate(2 * 10**9), "over the limit of 1 MB"),
    ],
    ids=["newline-in-name", "too-many-files", "too-deep", "sparse-2GB"],
)
def test_past_a_bound_the_submission_is_refused_and_nothing_is_copied(tmp_path, make, reason):
    src = tmp_path / "sub"
    src.mkdir()
    (src / "nb.ipynb").write_text("{}")
    make(src)
    limits = SubmissionFiles(max_total_mb=1, max_entries=50, max_depth=2)
    with pytest.raises(SubmissionRefused, match=reason):
        take_in(src, tmp_path / "dest", limits)
    assert not (tmp_path / "dest").exists()
    assert fingerprint(src, limits) == ""


def test_a_submission_folder_that_is_a_link_is_refused(tmp_path, outside):
    os.symlink(outside / "other", tmp_path / "sub")
    with pytest.raises(SubmissionRefused, match="is a symbolic link"):
        take_in(tmp_path / "sub", tmp_path / "dest")


def test_fingerprint_covers_what_comes_in_only(tmp_path, outside):
    src = planted(tmp_path / "sub", outside)
    before = fingerprint(src)
    (outside / "course" / "source" / "solution.ipynb").write_text("changed")  # behind a link
    assert fingerprint(src) == before
    (src / "nb.ipynb").write_text('{"changed": 1}')
    assert fingerprint(src) != before


def test_nbgrader_collect_from_the_exchange_takes_in_only_regular_files(tmp_path, outside):
    """The course's nbgrader_config.py makes `nbgrader collect` use SafeExchangeCollect: a link
    and a FIFO planted in the exchange's inbound folder are not followed (stock collect would
    copy the link's target and block on the FIFO)."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "nbgrader_config.py").write_text(
        (course / "nbgrader_config.py").read_text()
        + f"\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\nc.CollectApp.check_owner = False\n"
    )
    inbound = tmp_path / "exchange" / "tf-variables" / "inbound"
    inbound.mkdir(parents=True)
    os.chmod(tmp_path / "exchange", 0o777)
    sub = planted(inbound / "mallory+01_creating_variables+2026-12-01 10:00:00.000000 UTC+abcd", outside)
    (sub / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    log = run_nbgrader(course, "collect", "01_creating_variables", timeout=120)  # warnings, no error
    got = course / "submitted" / "mallory" / "01_creating_variables"
    names = sorted(str(p.relative_to(got)) for p in got.rglob("*"))
    assert names == ["data", "data/x.csv", "data/y-again.csv", "data/y.csv", "nb.ipynb", "timestamp.txt"]
    assert "ignored: solutions.ipynb is a symbolic link" in log and "ignored: pipe is a FIFO" in log
