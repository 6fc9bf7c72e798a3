"""A submission brings in its own regular files, and nothing else: the one rule, in one place.

The sandbox keeps student *code* away from the course, but the files around a submission are
read and copied outside the sandbox, with the instructor's rights: by nbgrader's autograde (into
``autograded/`` and the kernel's working directory), by ``nbgrader collect`` from the exchange's
inbound folder (which students can write to directly), by an LMS import. Stock nbgrader follows a
symbolic link planted there, so a student could receive the instructor's source notebook
(solutions, hidden tests), ``/etc/passwd`` or another student's work as "their" file, and a FIFO
hangs the copy. So before anything reads or copies a submission, `take_in` copies it under one
rule:

* only **regular files** inside the submission's own folder are taken;
* symbolic links (to files or folders, absolute or relative, dangling or not), hard links to a
  file outside the submission, FIFOs, sockets and device files are never followed, opened or
  copied: each is reported (``ignored: notes.txt is a symbolic link``) and the submission is taken
  from its regular files;
* bounds (`SubmissionFiles`, ``c.SubmissionFiles.*`` in nbgrader_config.py): total size, number
  of entries, folder depth, and names (no control characters, valid UTF-8). Past a bound the
  submission is refused (`SubmissionRefused`, a one-line reason) and nothing is copied.

Every path is opened relative to its parent's file descriptor with ``O_NOFOLLOW``, files with
``O_NONBLOCK`` (a FIFO swapped in between the scan and the copy cannot hang the grader), and each
file is checked again after opening (same inode, still a regular file). The scan reads metadata
only, so a refused submission costs nothing to read.

Used by `grade` (each submission is staged through `take_in` before nbgrader sees it, so
``autograded/``, the kernel's working directory and the feedback hold only what this allowed),
by `SafeExchangeCollect` (``nbgrader collect`` from the exchange, configured in the course's
nbgrader_config.py) and by the LMS import.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from traitlets import Float, Integer
from traitlets.config import Configurable

__all__ = [
    "Intake", "SafeExchangeCollect", "SubmissionFiles", "SubmissionRefused", "fingerprint", "scan", "take_in",
]  # fmt: skip

MB = 1_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class SubmissionFiles(Configurable):
    """Bounds on what one submission may bring in (``c.SubmissionFiles.*``)."""

    max_total_mb = Float(100.0, help="Total size of a submission's regular files, in MB.").tag(config=True)
    max_entries = Integer(1000, help="Files, folders and other entries in a submission, all counted.").tag(
        config=True
    )
    max_depth = Integer(5, help="Folders nested inside a submission's folder.").tag(config=True)


class SubmissionRefused(Exception):
    """The submission breaks a bound: nothing of it is copied. str(e) is the one-line reason."""


@dataclass
class Intake:
    """What `scan` found (or `take_in` copied): regular files taken, everything else ignored."""

    files: list[tuple[str, int, tuple[int, int]]] = field(default_factory=list)  # path, size, (dev, ino)
    ignored: list[str] = field(default_factory=list)  # "notes.txt is a symbolic link"
    folders: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(size for _, size, _ in self.files)


def _why_not_regular(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "is a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device file"
    return "is not a regular file"


def _check_name(name: str, rel: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SubmissionRefused(f"{rel!r}: a file name with a control character (e.g. a newline)")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SubmissionRefused(f"{rel!r}: a file name that is not valid UTF-8") from None


def _open_folder(folder: Path) -> int:
    """The submission folder itself, which must be a real folder (not a link to one)."""
    try:
        return os.open(folder, _DIR_FLAGS)
    except FileNotFoundError:
        raise SubmissionRefused(f"no submission folder {folder}") from None
    except OSError as e:
        if os.path.islink(folder):
            raise SubmissionRefused(f"{folder} is a symbolic link, not a folder") from None
        raise SubmissionRefused(f"{folder}: {e.strerror}") from None


def scan(folder: str | Path, limits: SubmissionFiles | None = None) -> Intake:
    """What `take_in` would copy from `folder`, reading metadata only. Raises SubmissionRefused."""
    limits = limits or SubmissionFiles()
    intake = Intake()
    links: dict[tuple[int, int], int] = {}  # (dev, ino) -> occurrences inside the submission
    nlinks: dict[tuple[int, int], int] = {}
    count = 0

    def walk(dir_fd: int, rel: str, depth: int) -> None:
        nonlocal count
        with os.scandir(dir_fd) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                path = f"{rel}{entry.name}"
                count += 1
                if count > limits.max_entries:
                    raise SubmissionRefused(f"more than {limits.max_entries} files and folders")
                _check_name(entry.name, path)
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if depth + 1 > limits.max_depth:
                        raise SubmissionRefused(f"{path}/: folders nested deeper than {limits.max_depth}")
                    intake.folders.append(path)
                    fd = os.open(entry.name, _DIR_FLAGS, dir_fd=dir_fd)
                    try:
                        walk(fd, f"{path}/", depth + 1)
                    finally:
                        os.close(fd)
                elif stat.S_ISREG(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    links[key] = links.get(key, 0) + 1
                    nlinks[key] = st.st_nlink
                    intake.files.append((path, st.st_size, key))
                    if intake.size > limits.max_total_mb * MB:
                        raise SubmissionRefused(
                            f"{intake.size / MB:.1f} MB of files and more (at {path}): over the "
                            f"limit of {limits.max_total_mb:g} MB"
                        )
                else:
                    intake.ignored.append(f"{path} {_why_not_regular(st.st_mode)}")

    fd = _open_folder(Path(folder))
    try:
        walk(fd, "", 0)
    finally:
        os.close(fd)
    outside = {key for key, n in nlinks.items() if n > links[key]}
    if outside:
        intake.ignored += [f"{p} is a hard link to a file outside the submission" for p, _, k in intake.files
                           if k in outside]  # fmt: skip
        intake.files = [f for f in intake.files if f[2] not in outside]
    intake.ignored.sort()
    return intake


def _open_file(root_fd: int, path: str) -> int:
    """Open `path` (relative, '/'-separated) below `root_fd`, never following a link."""
    *dirs, name = path.split("/")
    fd = root_fd
    try:
        for d in dirs:
            nxt = os.open(d, _DIR_FLAGS, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = nxt
        return os.open(name, _FILE_FLAGS, dir_fd=fd)
    finally:
        if fd != root_fd:
            os.close(fd)


def _read_taken(folder: Path, intake: Intake) -> Iterator[tuple[str, int, Iterator[bytes]]]:
    """(path, size, chunks) of every file `intake` takes, re-checked after opening."""
    root = _open_folder(folder)
    try:
        for path, size, key in list(intake.files):
            try:
                fd = _open_file(root, path)
            except OSError:
                intake.ignored.append(f"{path} changed while it was being copied")
                intake.files.remove((path, size, key))
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != key:
                    intake.ignored.append(f"{path} changed while it was being copied")
                    intake.files.remove((path, size, key))
                    continue
                os.set_blocking(fd, True)

                def chunks(fd=fd, size=size) -> Iterator[bytes]:
                    left = size  # never more than was counted against the limit
                    while left > 0:
                        data = os.read(fd, min(left, 1 << 20))
                        if not data:
                            break
                        left -= len(data)
                        yield data

                yield path, size, chunks()
            finally:
                os.close(fd)
    finally:
        os.close(root)


def take_in(src: str | Path, dest: str | Path, limits: SubmissionFiles | None = None) -> Intake:
    """Copy the submission in `src` to the new folder `dest` under the rule (module docstring).

    Returns what was copied and what was ignored. Raises SubmissionRefused (nothing copied,
    `dest` not created) past a bound. `dest` must not exist.
    """
    src, dest = Path(src), Path(dest)
    intake = scan(src, limits)
    dest.mkdir(parents=True, exist_ok=False)
    try:
        for folder in intake.folders:
            (dest / folder).mkdir()
        for path, _size, chunks in _read_taken(src, intake):
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            out = os.open(dest / path, flags, 0o644)
            with os.fdopen(out, "wb") as f:
                for data in chunks:
                    f.write(data)
    except BaseException:
        import shutil

        shutil.rmtree(dest, ignore_errors=True)
        raise
    return intake


def fingerprint(folder: str | Path, limits: SubmissionFiles | None = None) -> str:
    """sha256 over the names and contents of the files `take_in` would take ('' if it refuses)."""
    folder = Path(folder)
    try:
        intake = scan(folder, limits)
    except SubmissionRefused:
        return ""
    h = hashlib.sha256()
    for path, _size, chunks in _read_taken(folder, intake):
        h.update(path.encode() + b"\0")
        digest = hashlib.sha256()
        for data in chunks:
            digest.update(data)
        h.update(digest.digest())
    return h.hexdigest()


# --- nbgrader's exchange ------------------------------------------------------------------------

from nbgrader.exchange.default.collect import ExchangeCollect  # noqa: E402


class SafeExchangeCollect(ExchangeCollect):
    """``nbgrader collect`` that copies each submission from the exchange under the rule above.

    Students can write into the exchange's inbound folder directly, so what ``collect`` (run by
    the instructor) copies from there is untrusted. nbgrader_config.py selects this class with
    ``c.ExchangeFactory.collect = "autograder.intake.SafeExchangeCollect"``, so ``nbgrader
    collect`` and formgrader's Collect button use it. A refused submission is reported and
    skipped; the others are collected.
    """

    def do_copy(self, src, dest, log=None):
        try:
            intake = take_in(src, dest, SubmissionFiles(parent=self))
        except SubmissionRefused as e:
            self.log.error("Not collected: %s: %s", os.path.basename(src), e)
            return
        for why in intake.ignored:
            self.log.warning("%s: ignored: %s", os.path.basename(src), why)
