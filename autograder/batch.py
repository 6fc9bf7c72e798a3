"""Many submissions: parallel workers, a progress bar, resume, one bad submission never stops the rest.

`grade_batch(course, ["01_..."], workers=N)` grades every submission found under
``submitted/<student>/<assignment>/`` that is not already graded (see `grading.is_done`), in N
long-lived worker processes (each holds a `grading.Grader` and its fork server, so nbgrader and
TensorFlow are imported once per worker, not once per notebook), and returns a `BatchSummary`.

* Isolation: a submission that cannot be graded (empty file, invalid JSON, missing notebook...)
  becomes a FAILED `GradeResult` with a clear reason; a notebook that kills its kernel or never
  ends is GRADED with the points of the cells that ran. Workers never see a student's exception.
* Resume: results are recorded per submission as they finish, after nbgrader committed them, so
  after Ctrl-C or ``kill -9`` a rerun grades only what is missing (``force=True`` regrades all).
* Exit status for the CLI: `BatchSummary.errors` (the grader itself failed: fork server,
  database) are the only reason to fail the command.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import stat
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from autograder.coursedir import Course, CourseError
from autograder.engine.execute import ExecutionHooks
from autograder.engine.grading import Grader
from autograder.engine.sandbox import SandboxPolicy, require_bwrap, warn_unsandboxed
from autograder.records import (
    ERROR,
    FAILED,
    GRADED,
    GradeResult,
    is_done,
    read_record,
    record_path,
    write_record,
)

__all__ = ["BatchSummary", "Job", "find_submissions", "format_summary", "grade_batch", "plan"]


@dataclass(frozen=True, order=True)
class Job:
    assignment: str
    student: str


@dataclass
class BatchSummary:
    """What a batch did. `results` holds only the submissions graded in this run."""

    results: list[GradeResult] = field(default_factory=list)
    skipped: list[GradeResult] = field(default_factory=list)  # graded before, unchanged: records
    seconds: float = 0.0
    workers: int = 1
    interrupted: str = ""  # why the batch stopped before the end (the cluster went away)

    def _with(self, status: str) -> list[GradeResult]:
        return [r for r in self.results if r.status == status]

    @property
    def graded(self) -> list[GradeResult]:
        return self._with(GRADED)

    @property
    def failed(self) -> list[GradeResult]:
        return self._with(FAILED)

    @property
    def errors(self) -> list[GradeResult]:
        return self._with(ERROR)

    @property
    def flagged(self) -> list[GradeResult]:
        """Graded submissions (this run or before) whose test cells the guard saw tampered with."""
        return [r for r in self.graded + self.skipped if r.flags]

    @property
    def needs_manual(self) -> list[GradeResult]:
        """Graded submissions (this run or before) with a written answer waiting in formgrader."""
        return [r for r in self.graded + self.skipped if r.needs_manual]


# --- what to grade --------------------------------------------------------------------------------


def _check_gradebook(db_url: str) -> None:
    """A clear error for a missing sqlite gradebook (opening it would create an empty one)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).exists():
            raise CourseError(f"no gradebook at {url.database}: run `python -m autograder build` first")


def find_submissions(submitted_dir: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>/``, sorted."""
    if not submitted_dir.is_dir():
        return []
    return sorted(
        p.name for p in submitted_dir.iterdir() if not p.name.startswith(".") and (p / assignment).is_dir()
    )


def plan(
    course: Course,
    assignments: Sequence[str],
    *,
    students: Sequence[str] | None = None,
    force: bool = False,
    explicit: bool = True,
) -> tuple[list[Job], list[Job]]:
    """(to grade, largest submission first; already graded) for these assignments; CourseError
    when there is nothing to do.

    `explicit`: the assignments were named by the user, so one without submissions is an error
    (otherwise it is just skipped).
    """
    from nbgrader.api import Gradebook, MissingEntry

    config = course.config
    cd = course.coursedir()
    _check_gradebook(cd.db_url)
    submitted = Path(cd.format_path(cd.submitted_directory, ".", ".")).resolve()
    todo: list[Job] = []
    done: list[Job] = []
    with Gradebook(cd.db_url, cd.course_id) as gb:
        for a in assignments:
            try:
                subs = gb.find_assignment(a).submissions
            except MissingEntry:
                raise CourseError(
                    f"assignment {a} is not in the gradebook {cd.db_url}: "
                    f"run `python -m autograder build {a}` first"
                ) from None
            ids = {s.student.id: s.id for s in subs}
            found = find_submissions(submitted, a)
            if students:
                found = [s for s in found if s in set(students)]
            if not found:
                if explicit:
                    who = f" by {', '.join(students)}" if students else ""
                    raise CourseError(f"no submissions{who} for {a} in {submitted}/<student>/{a}/")
                continue
            for s in found:
                job = Job(a, s)
                (done if not force and is_done(cd, a, s, ids) else todo).append(job)
        if not todo and not done:
            raise CourseError(f"no submissions in {submitted} for {', '.join(assignments)}")
        _register_students(gb, config, sorted({job.student for job in todo}))
    # Largest submissions first (longest processing time first): a big notebook started last
    # would run alone at the end while the other workers wait.
    todo.sort(key=lambda job: -_submission_bytes(submitted / job.student / job.assignment))
    return todo, done


def _submission_bytes(folder: Path) -> int:
    """Size of the notebooks in a submission folder, a cheap proxy for how long it takes to grade."""
    try:  # lstat: a link or a FIFO named *.ipynb is not followed (autograder.intake decides later)
        sizes = (p.lstat() for p in folder.glob("*.ipynb"))
        return sum(st.st_size for st in sizes if stat.S_ISREG(st.st_mode))
    except OSError:
        return 0


def _register_students(gb, config, students: list[str]) -> None:
    """Add new students to the gradebook in sorted order, as nbgrader's Autograde would one by one.

    nbgrader lists students (formgrader, ``nbgrader export``) in database order when they have no
    names; parallel workers would otherwise insert them in whatever order they finish.
    """
    from nbgrader.api import MissingEntry

    if not config.get("Autograde", {}).get("create_student", True):
        return  # nbgrader then refuses unknown students itself, with its own message
    for s in students:
        try:
            gb.find_student(s)
        except MissingEntry:
            gb.add_student(s)


# --- workers --------------------------------------------------------------------------------------

_grader: Grader | None = None


def _set_pdeathsig() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_worker(course: Course, config, hooks, sandbox=None) -> None:
    """In each worker process: die with the batch, ignore Ctrl-C (the batch handles it)."""
    global _grader
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_pdeathsig()
    _quiet_warnings()
    # The Grader starts its fork server at once: TensorFlow imports while the first jobs queue.
    _grader = Grader(course, config=config, hooks=hooks() if callable(hooks) else hooks, sandbox=sandbox)
    atexit.register(_grader.close)  # stop the fork server, remove its work directory


def _quiet_warnings() -> None:
    import warnings

    from sqlalchemy.exc import SAWarning

    # nbgrader's ORM use triggers SQLAlchemy warnings on every submission; they are not ours.
    warnings.filterwarnings("ignore", category=SAWarning)


def _grade_in_worker(job: Job) -> GradeResult:
    assert _grader is not None
    return _safe_grade(_grader, job)


def _safe_grade(grader: Grader, job: Job) -> GradeResult:
    try:
        return grader.grade(job.assignment, job.student)
    except Exception as e:  # the grader's own bug: report it with the submission, keep going
        result = GradeResult(job.assignment, job.student, ERROR, reason=f"{type(e).__name__}: {e}")
        try:
            write_record(grader.coursedir(), result)
        except Exception:
            pass
        return result


# --- the batch ------------------------------------------------------------------------------------


def grade_batch(
    course: Course,
    assignments: Sequence[str] = (),
    *,
    students: Sequence[str] | None = None,
    workers: int | None = None,
    force: bool = False,
    explicit: bool = True,
    progress: bool = True,
    hooks: ExecutionHooks | Callable[[], ExecutionHooks] | None = None,
    config=None,
    on_result: Callable[[GradeResult], None] | None = None,
    sandbox: SandboxPolicy | None = None,
    cluster=None,
    container: bool = False,
) -> BatchSummary:
    """Grade what is not graded yet; see the module docstring. Raises CourseError (nothing to do).

    `assignments`: ids to grade; none: every assignment that has submissions.

    `hooks`: an ExecutionHooks (picklable) or a picklable factory of one, for every notebook.
    `config`: a traitlets Config merged over the course's nbgrader_config.py.
    `sandbox`: the kernels' SandboxPolicy (None: the course's ``c.Sandbox`` settings, sandbox on).
    `cluster`: an `autograder.distributed.ClusterSpec`: the notebooks run on that Dask cluster
    (its workers sandbox them); this process does nbgrader's bookkeeping. If the cluster goes
    away, `summary.interrupted` says so and the rest is left for a rerun. `container`: the
    kernels' container is their sandbox (``--isolation container``; no bubblewrap, no warning).
    """
    if sandbox is None:
        sandbox = SandboxPolicy.of(course.config)
    if cluster is None and sandbox.enabled:
        require_bwrap()  # fail before any work, with the install hint
    elif not sandbox.enabled and not container:
        warn_unsandboxed()
    if not assignments:
        assignments, explicit = course.with_submissions(), False
        if not assignments:
            raise CourseError(f"no submissions in {course.folder('submitted')}/<student>/<assignment>/")
    t0 = time.monotonic()
    todo, done = plan(course, assignments, students=students, force=force, explicit=explicit)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    summary = BatchSummary(workers=workers)
    cd = course.coursedir()
    for job in done:
        rec = read_record(record_path(cd, job.assignment, job.student))
        if rec is not None:
            summary.skipped.append(rec)
    if todo:
        bar = _progress(len(todo), progress)
        try:

            def record(result: GradeResult) -> None:
                summary.results.append(result)
                if result.status != GRADED:
                    bar.write(
                        f"{result.status.upper()} {result.assignment} {result.student}: {result.reason}"
                    )
                bar.set_postfix(failed=len(summary.failed) + len(summary.errors), refresh=False)
                bar.update(1)
                if on_result:
                    on_result(result)

            if cluster is not None:
                from autograder.distributed import ClusterLost, grade_on_cluster

                summary.workers = 0  # the cluster's
                try:
                    grade_on_cluster(
                        course, todo, cluster, hooks=hooks, config=config, record=record, sandbox=sandbox
                    )
                except ClusterLost as e:
                    summary.interrupted = f"{e}; run the same command again to grade the rest"
            elif workers == 1:
                _run_here(course, todo, hooks, config, record, sandbox)
            else:
                _run_pool(course, todo, workers, hooks, config, record, sandbox)
        finally:
            bar.close()
    summary.seconds = time.monotonic() - t0
    return summary


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="nb",
        desc="grading",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _run_here(course: Course, todo: list[Job], hooks, config, record, sandbox=None) -> None:
    _quiet_warnings()
    hooks = hooks() if callable(hooks) else hooks
    with Grader(course, config=config, hooks=hooks, sandbox=sandbox) as grader:
        for job in todo:
            record(_safe_grade(grader, job))


def _run_pool(course: Course, todo: list[Job], workers: int, hooks, config, record, sandbox=None) -> None:
    """Grade `todo` in `workers` processes. If a worker process dies (which a submission can
    cause, e.g. by exhausting memory), the unfinished jobs are graded one at a time in a single
    worker until the one that kills its worker is found (recorded as ERROR), then in parallel again.
    """
    pending = list(todo)
    ctx = multiprocessing.get_context("spawn")  # workers start clean: no threads, no zmq inherited

    def new_pool(n: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_init_worker, initargs=(course, config, hooks, sandbox)
        )

    while pending:
        pool = new_pool(workers)
        futures: dict[Future, Job] = {pool.submit(_grade_in_worker, job): job for job in pending}
        broken = False
        try:
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    pending.remove(futures[fut])
                    record(result)
        except BaseException:
            _kill_pool(pool)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        if broken:
            _quarantine(course, pending, new_pool, record)


def _quarantine(course: Course, pending: list[Job], new_pool, record) -> None:
    """One job at a time in one worker, until a job kills its worker (or none is left)."""
    pool = new_pool(1)
    try:
        while pending:
            job = pending[0]
            try:
                result = pool.submit(_grade_in_worker, job).result()
            except BrokenProcessPool:
                pending.pop(0)
                result = GradeResult(
                    job.assignment,
                    job.student,
                    ERROR,
                    reason="its grading killed the grader's worker process (out of memory?); "
                    "grade it alone with --workers 1 --student to see more",
                )
                write_record(course.coursedir(), result)
                record(result)
                return  # found: the others go back to parallel grading
            pending.pop(0)
            record(result)
    except BaseException:
        _kill_pool(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """On Ctrl-C: stop the workers now (their fork servers and kernels go with them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        try:
            p.kill()
        except Exception:
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        p.join(timeout=5)


def format_summary(summary: BatchSummary) -> list[str]:
    """Lines for the terminal: counts, then every failure with its reason."""
    n = len(summary.results)
    lines = [
        f"graded {len(summary.graded)}, failed {len(summary.failed)}, grader errors {len(summary.errors)}"
        f" (of {n} submission{'s' if n != 1 else ''} this run); already graded and unchanged: "
        f"{len(summary.skipped)}",
        f"submissions with written answers to grade by hand (formgrader): {len(summary.needs_manual)}",
        f"submissions flagged for review (tampering with tests; those tests score 0): {len(summary.flagged)}",
    ]
    for r in sorted(summary.flagged, key=lambda r: (r.assignment, r.student)):
        lines.append(f"  {'FLAGGED':7s}{r.assignment} {r.student}: {' | '.join(r.flags)[:500]}")
    notes = [r for r in summary.graded if r.reason]
    for r in sorted(notes, key=lambda r: (r.assignment, r.student)):
        lines.append(f"  {'note':7s}{r.assignment} {r.student}: {r.reason}")
    for r in sorted(summary.failed + summary.errors, key=lambda r: (r.assignment, r.student)):
        lines.append(f"  {r.status.upper():7s}{r.assignment} {r.student}: {r.reason}")
    for r in sorted((r for r in summary.results if r.ignored), key=lambda r: (r.assignment, r.student)):
        shown = "; ".join(r.ignored[:5]) + (f"; and {len(r.ignored) - 5} more" if len(r.ignored) > 5 else "")
        lines.append(f"  {'ignored':7s}{r.assignment} {r.student}: {shown} (not copied, never opened)")
    if n:
        who = f"{summary.workers} worker(s)" if summary.workers else "the Dask cluster"
        lines.append(f"time: {summary.seconds:.1f} s with {who}, {summary.seconds / n:.2f} s per submission")
    if summary.interrupted:
        lines.append(f"STOPPED: {summary.interrupted}")
    return lines
