"""`collect`: an LMS's "download all submissions" zip into ``submitted/<student>/<assignment>/``.

A thin layer over nbgrader's ``zip_collect`` (``nbgrader.apps.zipcollectapp.ZipCollectApp``): its
extract -> collect -> transfer steps, its ``collector_plugin`` (a ``FileNameCollectorPlugin`` whose
``named_regexp`` takes each file name apart) and its ``extractor_plugin``, configured for Canvas
or Moodle (the file-name patterns and where they come from: `autograder.lms`). What it changes:

* **Extraction** (`SafeZipExtractor`): the archive is untrusted (students chose the file names in
  it). Before anything is written, every member is checked: no absolute path or ``..`` (``\\``
  counts as a separator), no symbolic link or special file, no encrypted member, no duplicate or
  conflicting names, at most ``c.LmsArchive.max_members`` members and ``max_total_mb`` once
  expanded, and no member that expands more than ``max_ratio`` times (a decompression bomb). One
  failed check refuses the whole archive with a one-line reason; nothing is collected. Members are
  then written, as regular files only (``O_EXCL | O_NOFOLLOW``, never more bytes than declared), into
  a private temporary folder, which is always removed. Nested archives are not opened.
* **Collecting** (`CanvasCollector`, `MoodleCollector`): each file's LMS identity is mapped to the
  course's student id through the roster (`autograder.lms.Roster`); its name, without the LMS's
  duplicate suffix (``-1``, `` (1)``), must be a released notebook. Every file that cannot be placed
  is reported with the reason (unknown student, wrong notebook name, not a notebook, a name the LMS
  would not write) and the others go on. Of two versions of one student's notebook the later is
  kept (Canvas: the larger attachment id; Moodle: the larger ``(n)``, then the later time in the
  zip) and the other is reported.
* **Transfer**: each student's notebooks go through `autograder.intake.take_in` (the one rule for
  what a submission may bring in, ``c.SubmissionFiles.*``) into a hidden folder of ``submitted/``
  and are then renamed into ``submitted/<student>/<assignment>/``; a student already there is
  kept unless ``--force`` (then replaced). Nothing is written outside ``submitted/``.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.apps.zipcollectapp import ZipCollectApp
from nbgrader.plugins import ExtractorPlugin, FileNameCollectorPlugin
from nbgrader.utils import find_all_notebooks
from traitlets import Any, Bool, Float, Integer, List, Unicode
from traitlets.config import Configurable

from autograder.coursedir import Course, CourseError
from autograder.intake import SubmissionFiles, SubmissionRefused, take_in
from autograder.lms import (
    CANVAS,
    CANVAS_PATTERN,
    LMS_NAMES,
    MOODLE,
    MOODLE_PATTERN,
    Roster,
    check_student_id,
    file_name_from,
    notebook_name,
    read_roster,
)

__all__ = [
    "ArchiveRefused",
    "CanvasCollector",
    "CollectOutcome",
    "LmsArchive",
    "MoodleCollector",
    "SafeZipExtractor",
    "collect_from_lms",
    "format_outcome",
]

MB = 1_000_000
_BOMB_MIN_SIZE = 1 * MB  # a member this small is never called a bomb, whatever its ratio
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class LmsArchive(Configurable):
    """Bounds on a downloaded submissions archive, checked before extracting (``c.LmsArchive.*``)."""

    max_total_mb = Float(2000.0, help="Total size of the archive's members once expanded, in MB.").tag(
        config=True
    )
    max_members = Integer(20000, help="Files and folders in the archive.").tag(config=True)
    max_ratio = Float(
        200.0, help="Largest expansion (expanded / compressed size) of a member over 1 MB."
    ).tag(config=True)


class ArchiveRefused(CourseError):
    """The archive breaks a rule: nothing of it is collected. str(e) is the one-line reason."""


# --- extraction ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    is_dir: bool


def _why_special(info: zipfile.ZipInfo) -> str | None:
    mode = info.external_attr >> 16
    if not mode:
        return None
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return "is a special file (device, FIFO or socket)"


def check_archive(zf: zipfile.ZipFile, limits: LmsArchive, max_depth: int) -> list[_Member]:
    """Every member, checked (module docstring); raises ArchiveRefused at the first bad one."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ArchiveRefused(f"more than {limits.max_members} members (c.LmsArchive.max_members)")
    members: list[_Member] = []
    seen: dict[tuple[str, ...], bool] = {}  # path -> is a folder
    total = 0
    for info in infos:
        raw = info.filename
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise ArchiveRefused(f"member {raw!r} has a control character in its name")
        name = raw.replace("\\", "/")
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise ArchiveRefused(f"member {raw!r} has an absolute path")
        is_dir = name.endswith("/")
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if ".." in parts:
            raise ArchiveRefused(f"member {raw!r} points outside the archive ('..' path traversal)")
        if not parts:
            continue
        why = _why_special(info)
        if why:
            raise ArchiveRefused(f"member {raw!r} {why}")
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"member {raw!r} is encrypted")
        if len(parts) - (0 if is_dir else 1) > max_depth:
            raise ArchiveRefused(f"member {raw!r} is nested deeper than {max_depth} folders")
        if parts in seen:
            if not (is_dir and seen[parts]):
                raise ArchiveRefused(f"member {raw!r} appears twice")
            continue
        for i in range(1, len(parts)):
            if seen.get(parts[:i]) is False:
                raise ArchiveRefused(f"member {raw!r} is inside {'/'.join(parts[:i])!r}, which is a file")
            seen.setdefault(parts[:i], True)
        seen[parts] = is_dir
        if not is_dir:
            total += info.file_size
            if total > limits.max_total_mb * MB:
                raise ArchiveRefused(
                    f"its members expand to more than {limits.max_total_mb:g} MB (a decompression bomb? "
                    f"c.LmsArchive.max_total_mb)"
                )
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _BOMB_MIN_SIZE and ratio > limits.max_ratio:
                raise ArchiveRefused(
                    f"member {raw!r} expands {ratio:.0f} times "
                    f"(a decompression bomb; c.LmsArchive.max_ratio is {limits.max_ratio:g})"
                )
        members.append(_Member(info, parts, is_dir))
    # a folder that is also a file ("x" then "x/")
    for m in members:
        if m.is_dir and seen.get(m.parts) is False:
            raise ArchiveRefused(f"member {m.info.filename!r} is both a file and a folder")
    return members


def extract_archive(
    archive: Path, dest: Path, limits: LmsArchive, max_depth: int, progress: bool = False
) -> int:
    """Check `archive`, then write its regular files below the (private, empty) folder `dest`."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveRefused(f"not a zip archive ({e})") from None
    with zf:
        members = check_archive(zf, limits, max_depth)
        files = [m for m in members if not m.is_dir]
        bar = _bar(sum(m.info.file_size for m in files), "extracting", progress, unit="B")
        try:
            for m in members:
                path = dest.joinpath(*m.parts)
                if m.is_dir:
                    path.mkdir(mode=0o700, parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                _extract_one(zf, m.info, path, bar)
                _set_mtime(path, m.info.date_time)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError) as e:
            raise ArchiveRefused(f"corrupt or unsupported member ({type(e).__name__}: {e})") from None
        finally:
            bar.close()
    return len(files)


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, bar) -> None:
    fd = os.open(path, _FILE_FLAGS, 0o600)
    left = info.file_size
    with os.fdopen(fd, "wb") as out, zf.open(info) as src:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            left -= len(chunk)
            if left < 0:
                raise ArchiveRefused(f"member {info.filename!r} expands beyond the size it declares")
            out.write(chunk)
            bar.update(len(chunk))


def _set_mtime(path: Path, date_time: tuple) -> None:
    try:
        t = time.mktime((*date_time, 0, 0, -1))
        os.utime(path, (t, t))
    except (OverflowError, ValueError):
        pass


def _bar(total: int, desc: str, enabled: bool, unit: str = "it"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=False)  # fmt: skip


class SafeZipExtractor(ExtractorPlugin):
    """nbgrader's extractor plugin, made safe for an untrusted archive (module docstring).

    It reads the one archive it is given (`archive`) where it is, rather than walking nbgrader's
    ``downloaded/<assignment>/archive/`` folder, and never opens archives nested inside it.
    """

    archive = Unicode("", help="The downloaded submissions archive (set by `collect`).")
    progress = Bool(False, help="Show a progress bar.")

    def extract(self, archive_path: str, extracted_path: str) -> None:
        limits = LmsArchive(parent=self)
        depth = SubmissionFiles(parent=self).max_depth + 1  # the LMS's per-student folder
        n = extract_archive(Path(self.archive), Path(extracted_path), limits, depth, self.progress)
        self.log.info("Extracted %d files from %s", n, self.archive)


# --- collecting ---------------------------------------------------------------------------------------


class LmsCollector(FileNameCollectorPlugin):
    """nbgrader's file-name collector for one LMS: ``named_regexp`` takes the name apart, the
    roster says who the student is, the released notebooks say which notebook it is. A file it
    cannot place returns None (as nbgrader expects) and its reason is kept in `skipped`."""

    lms = ""
    roster = Any(None, allow_none=True, help="autograder.lms.Roster (None: the LMS id is the student id).")
    released = List(Unicode(), help="The assignment's released notebooks (relative paths).")
    extracted_root = Unicode("", help="Where the archive was extracted: file names are matched from there.")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.skipped: dict[str, str] = {}  # path -> why it was not placed

    def _skip(self, path: str, why: str) -> None:
        self.skipped[path] = why

    def collect(self, submitted_file: str) -> dict | None:
        rel = os.path.relpath(submitted_file, self.extracted_root).replace(os.sep, "/")
        lms = LMS_NAMES[self.lms]
        if os.path.splitext(rel)[1] not in self.valid_ext:
            self._skip(submitted_file, "not a notebook")
            return None
        groups = super().collect(rel)
        if not groups:
            self._skip(submitted_file, f"not named the way {lms} names downloaded submissions")
            return None
        fn = file_name_from(groups)
        if fn.plugin != "file":
            self._skip(submitted_file, f"not a file submission ({lms} plugin {fn.plugin!r})")
            return None
        if self.roster is not None:
            student, why = self.roster.student_for(fn.lms_id)
        elif fn.lms_id.startswith("anon_"):
            why = f"anonymous grading is on in Canvas ({fn.lms_id}): the file name carries no user id"
            student = None
        else:  # no roster: the Canvas user id is the student id
            bad = check_student_id(fn.lms_id)
            student, why = (None, f"{lms} id {fn.lms_id!r} {bad}") if bad else (fn.lms_id, "")
        if student is None:
            self._skip(submitted_file, why)
            return None
        notebook, copy = notebook_name(self.lms, fn.file, self.released)
        if notebook is None:
            self._skip(
                submitted_file,
                f"{student}: wrong notebook name {fn.file!r} (expected {', '.join(self.released)})",
            )
            return None
        return {
            "student_id": student,
            "file_id": notebook,
            "late": fn.late,
            "order": self.order_key(fn, copy, submitted_file),
        }

    def order_key(self, fn, copy: int, path: str) -> tuple:
        raise NotImplementedError


class CanvasCollector(LmsCollector):
    """Canvas' "Download Submissions" naming (`autograder.lms`)."""

    lms = CANVAS
    named_regexp = Unicode(CANVAS_PATTERN, help="Canvas' download file names (lms.py).").tag(config=True)

    def order_key(self, fn, copy: int, path: str) -> tuple:
        return (fn.order, copy, path)  # the attachment id grows with every upload


class MoodleCollector(LmsCollector):
    """Moodle's "Download all submissions" naming, flat or in folders (`autograder.lms`)."""

    lms = MOODLE
    named_regexp = Unicode(MOODLE_PATTERN, help="Moodle's download file names (lms.py).").tag(config=True)

    def order_key(self, fn, copy: int, path: str) -> tuple:
        return (copy, os.stat(path).st_mtime, path)


COLLECTORS = {CANVAS: CanvasCollector, MOODLE: MoodleCollector}


@dataclass
class CollectOutcome:
    assignment: str
    lms: str
    archive: Path
    placed: dict[str, list[str]] = field(default_factory=dict)  # student -> notebooks
    replaced: list[str] = field(default_factory=list)  # students whose earlier collection was replaced
    kept_existing: list[str] = field(default_factory=list)  # already in submitted/, no --force
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file in the archive, why)
    older: list[tuple[str, str, str]] = field(default_factory=list)  # (student, dropped file, kept file)
    late: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (student, why): intake's bounds
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (student, what intake left out)
    files: int = 0  # in the archive


class LmsZipCollect(ZipCollectApp):
    """``nbgrader zip_collect`` for an LMS download: nbgrader's steps, reported rather than failing,
    each student's files taken in under `autograder.intake`'s rule."""

    def __init__(self, outcome: CollectOutcome, work: Path, progress: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.outcome = outcome
        self.work = work
        self.progress = progress

    def fail(self, msg, *args):
        raise CourseError(msg % args if args else msg)

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.collector_plugin_inst.extracted_root).replace(os.sep, "/")

    def _collect_files(self, src_files):
        """The collector's answer for every file; of several versions of one notebook the later."""
        collector = self.collector_plugin_inst
        self.outcome.files = len(src_files)
        versions: dict[tuple[str, str], list[tuple[tuple, str, dict]]] = {}
        for path in src_files:
            info = collector.collect(path)
            if info:
                key = (info["student_id"], info["file_id"])
                versions.setdefault(key, []).append((info["order"], path, info))
        self.outcome.skipped = sorted((self._rel(p), why) for p, why in collector.skipped.items())
        kept = []
        for (student, _), found in sorted(versions.items()):
            found.sort(key=lambda v: v[0])
            _, path, info = found[-1]
            kept.append(path)
            if info["late"] and student not in self.outcome.late:
                self.outcome.late.append(student)
            for _, older, _ in found[:-1]:
                self.outcome.older.append((student, self._rel(older), self._rel(path)))
        return super()._collect_files(sorted(kept)) if kept else {}

    def _transfer_files(self, collected_data):
        """Each student's notebooks through intake's rule into submitted/ (module docstring)."""
        if not collected_data:
            return
        cd = self.coursedir
        root = Path(cd.format_path(cd.submitted_directory, ".", ".")).resolve()
        staged = self.work / "staged"
        bar = _bar(len(collected_data), "placing", self.progress, unit="student")
        root.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=".lms-incoming-", dir=root))
        try:
            for student, data in sorted(collected_data.items()):
                bar.update(1)
                dest = Path(cd.format_path(cd.submitted_directory, student, cd.assignment_id))
                existed = os.path.lexists(dest)
                if existed and not self.force:
                    self.outcome.kept_existing.append(student)
                    continue
                mine = staged / student
                for src, name in zip(data["src_files"], data["file_ids"], strict=True):
                    target = mine / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, target, follow_symlinks=False)
                try:
                    intake = take_in(mine, incoming / student, SubmissionFiles(parent=self))
                except SubmissionRefused as e:
                    self.outcome.refused.append((student, str(e)))
                    continue
                self.outcome.ignored += [(student, why) for why in intake.ignored]
                dest.parent.mkdir(parents=True, exist_ok=True)
                if existed:
                    old = incoming / f"{student}.old"
                    os.rename(dest, old)
                    self.outcome.replaced.append(student)
                os.rename(incoming / student, dest)
                self.outcome.placed[student] = sorted(data["file_ids"])
        finally:
            bar.close()
            shutil.rmtree(incoming, ignore_errors=True)


def _quiet_log() -> logging.Logger:
    log = logging.getLogger("autograder.collect.nbgrader")
    log.setLevel(logging.CRITICAL)  # every problem is in the outcome; nbgrader's warnings repeat it
    log.propagate = False
    return log


def collect_from_lms(
    course: Course,
    assignment: str,
    archive: str | Path,
    lms: str,
    roster: str | Path | Roster | None = None,
    *,
    id_column: str | None = None,
    force: bool = False,
    progress: bool = False,
) -> CollectOutcome:
    """Collect `archive` (downloaded from `lms`) into submitted/; see the module docstring.

    Raises CourseError (ArchiveRefused for an archive that breaks a rule) with nothing written.
    """
    if lms not in COLLECTORS:
        raise CourseError(f"unknown LMS {lms!r}: choose {' or '.join(COLLECTORS)}")
    config = course.config
    archive = Path(archive).resolve()
    if not archive.is_file():
        raise CourseError(f"no archive {archive}")
    if isinstance(roster, (str, Path)):
        roster = read_roster(lms, roster, id_column)
    if roster is None and lms == MOODLE:
        raise CourseError(
            "Moodle's file names carry a participant number that changes from one assignment to the "
            "next: --roster (the assignment's grading worksheet) is needed to know who is who"
        )
    cd = course.coursedir(assignment)
    release = cd.format_path(cd.release_directory, ".", assignment)
    released = find_all_notebooks(release) if os.path.isdir(release) else []
    if not released:
        raise CourseError(
            f"no released notebooks in {release}: run `python -m autograder build {assignment}` first"
        )
    outcome = CollectOutcome(assignment, lms, archive)
    work = Path(tempfile.mkdtemp(prefix="autograder-lms-"))
    try:
        app = LmsZipCollect(outcome, work, progress, config=config, log=_quiet_log())
        app.coursedir = cd
        app.collect_directory_structure = str(work / "{collect_step}")
        app.extractor_plugin = SafeZipExtractor
        app.collector_plugin = COLLECTORS[lms]
        app.strict = True
        app.force = force
        app.init_plugins()
        (work / app.archive_directory).mkdir()  # nbgrader looks there; the archive is read where it is
        app.extractor_plugin_inst.archive = str(archive)
        app.extractor_plugin_inst.progress = progress
        collector = app.collector_plugin_inst
        collector.roster = roster
        collector.released = released
        collector.extracted_root = app._format_collect_path(app.extracted_directory)
        try:
            app.extract_archive_files()
        except ArchiveRefused as e:
            raise ArchiveRefused(f"refused {archive.name}: {e}; nothing was collected") from None
        app.process_extracted_files()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return outcome


def format_outcome(o: CollectOutcome) -> list[str]:
    """The summary `collect` prints."""
    lms = LMS_NAMES[o.lms]
    lines = [
        f"collected {o.assignment} from {o.archive.name} ({lms}, {o.files} files): {len(o.placed)} "
        f"student(s) placed in submitted/<student>/{o.assignment}/"
        + (f", {len(o.replaced)} of them replacing an earlier collection" if o.replaced else "")
    ]
    if o.late:
        lines.append(f"  late (marked by {lms}): {', '.join(sorted(o.late))}")
    for student, older, kept in o.older:
        lines.append(f"  two versions of {student}'s notebook: kept the later {kept}, not {older}")
    for student, why in o.ignored:
        lines.append(f"  {student}: ignored: {why}")
    problems = len(o.skipped) + len(o.refused) + len(o.kept_existing)
    if problems:
        lines.append(f"not placed ({problems}):")
    for name, why in o.skipped:
        lines.append(f"  {name}: {why}")
    for student, why in o.refused:
        lines.append(f"  {student}: refused by the submission bounds (c.SubmissionFiles): {why}")
    if o.kept_existing:
        lines.append(f"  already in submitted/ (kept; --force replaces them): {', '.join(o.kept_existing)}")
    return lines
