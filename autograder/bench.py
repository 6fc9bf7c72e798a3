"""`bench`: stock nbgrader against the engine, on the same synthetic class, in one run.

A throw-away course (``<workdir>``, wiped first) is released with nbgrader and given an honest
synthetic class (`autograder.synth.synthetic_class(adversarial=False)`: solutions, blank
releases, mixes of known wrong answers; no cheats, whose scores rightly differ). Three identical
copies of it are then graded, each by one command run as a subprocess whose whole process tree
is sampled for memory (psutil: the sum of RSS, and of PSS, which counts pages shared between
forked kernels once):

1. **stock**: ``nbgrader autograde ASSIGNMENT``, once per assignment, one after the other. That
   is stock nbgrader's own serial loop as its documentation describes it ("nbgrader autograde
   ps1" grades every submitted student of ps1): one nbgrader process per assignment, one fresh
   kernel (``python -m ipykernel_launcher``, then the notebook imports TensorFlow) per notebook.
   It is the fastest way to run stock nbgrader serially, so the speed-up against it is the
   conservative one. With ``--stock-per-submission`` the benchmark also runs
   ``nbgrader autograde ASSIGNMENT --student S`` once per submission (each pays nbgrader's
   start-up: the "~7 s per notebook" of grading submissions as they arrive) on a fourth copy.
2. **grade**: ``python -m autograder grade`` (sandboxed and guarded, the default).
3. **grade --no-sandbox**: the same without bubblewrap (the guard still runs), to price the
   sandbox.

Then it checks that the gradebooks hold identical scores for every autograded cell (the
benchmark fails otherwise) and prints: wall time of each, the speed-up, notebooks per minute,
peak memory, the compute floor (the sum of the cells' execution times as the engine measured
them, divided by the number of cores: no grader on this machine can beat it) and so the largest
speed-up any grader could reach on this class (stock / floor: notebooks whose cells do real
training leave less to win than a notebook of 0.06 s toy cells), the sandbox's
cost, and where the engine's time goes per notebook (kernel start, cells, the rest: nbgrader's
converter, its gradebook reads and writes, the guard's calls) from the grading records.

The benchmark never touches the instructor's gradebook (``NBGRADER_DB_URL`` is ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.build import build
from autograder.coursedir import Assignment, Course, CourseError
from autograder.nbgrader_cli import nbgrader_env
from autograder.records import GRADED, RECORD_DIR, GradeResult, read_record
from autograder.stock import gradebook_cell_scores
from autograder.synth import synthetic_class, write_class

__all__ = ["BenchResult", "Run", "TreeSampler", "compare_scores", "format_bench", "run_bench", "run_measured"]

GiB = 1024**3


# --- measuring a process tree -------------------------------------------------------------------


class TreeSampler(threading.Thread):
    """Samples the memory of a process and all its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = 0
        self.peak_pss: int | None = 0
        self.peak_processes = 0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        rss = pss = 0
        for p in procs:
            try:
                rss += p.memory_info().rss
                if self.peak_pss is not None:
                    pss += p.memory_full_info().pss
            except psutil.AccessDenied:
                self.peak_pss = None
            except psutil.Error:
                continue
        self.peak_rss = max(self.peak_rss, rss)
        if self.peak_pss is not None:
            self.peak_pss = max(self.peak_pss, pss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@dataclass
class Run:
    label: str
    seconds: float = 0.0
    peak_rss: int = 0
    peak_pss: int | None = 0
    returncode: int = 0
    log: str = ""

    def add(self, other: Run) -> None:
        """Sequential runs: times add up, the peak is the highest peak."""
        self.seconds += other.seconds
        self.peak_rss = max(self.peak_rss, other.peak_rss)
        if other.peak_pss is None or self.peak_pss is None:
            self.peak_pss = None
        else:
            self.peak_pss = max(self.peak_pss, other.peak_pss)
        self.returncode = self.returncode or other.returncode
        self.log += other.log


def run_measured(label: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 7200) -> Run:
    """Run `cmd`, timing it and sampling its process tree's memory; output kept in `Run.log`."""
    out_path = Path(cwd) / f".bench-{label.replace(' ', '_')}.log"
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            proc.wait(timeout=timeout)
        except BaseException:
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()
            raise
        finally:
            sampler.stop()
        seconds = time.monotonic() - t0
    return Run(label, seconds, sampler.peak_rss, sampler.peak_pss, proc.returncode, out_path.read_text())


# --- the benchmark ----------------------------------------------------------------------------


@dataclass
class BenchResult:
    notebooks: int
    students: int
    assignments: list[str]
    cores: int
    workers: int
    runs: dict[str, Run] = field(default_factory=dict)
    cells_compared: int = 0
    mismatches: list[str] = field(default_factory=list)
    records: list[GradeResult] = field(default_factory=list)  # the sandboxed grade's
    records_nosandbox: list[GradeResult] = field(default_factory=list)
    records_cluster: list[GradeResult] = field(default_factory=list)
    cluster: str = ""  # the grade options of the cluster run ("--cluster local:2"), if any
    # the coordinator's ceiling (autograder.ceiling): {database: (notebooks, seconds) or error text}
    ceilings: dict[str, tuple[int, float] | str] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return not self.mismatches and self.cells_compared > 0

    @staticmethod
    def _cells(records: list[GradeResult]) -> float:
        return sum(c.seconds for r in records for c in r.cell_runs)

    @property
    def floor(self) -> float:
        """Sum of the cells' execution times (sandboxed grade) / cores."""
        return self._cells(self.records) / self.cores


def compare_scores(scores: dict[str, dict[tuple, float | None]]) -> tuple[int, list[str]]:
    """(cells compared, differences) between gradebooks {label: {(a, s, nb, cell): score}}."""
    labels = list(scores)
    base = scores[labels[0]]
    problems = []
    for other in labels[1:]:
        theirs = scores[other]
        for key in sorted(set(base) | set(theirs)):
            if base.get(key, "missing") != theirs.get(key, "missing"):
                mine, yours = base.get(key, "missing"), theirs.get(key, "missing")
                problems.append(f"{'/'.join(key)}: {labels[0]} {mine}, {other} {yours}")
    return len(base), problems


def _records(course: Course, assignments: list[str]) -> list[GradeResult]:
    out = []
    for a in assignments:
        folder = course.folder("autograded", RECORD_DIR, a)
        for p in sorted(folder.glob("*.json")):
            rec = read_record(p)
            if rec is not None and rec.status == GRADED:
                out.append(rec)
    return out


def _copy_course(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("autograded", "feedback", ".bench-*"))
    return dest


def run_bench(
    repo: Course,
    assignments: list[Assignment],
    workdir: Path,
    *,
    students: int = 30,
    seed: int = 0,
    workers: int | None = None,
    stock: bool = True,
    stock_per_submission: bool = False,
    nosandbox: bool = True,
    cluster: list[str] | None = None,
    log=print,
) -> BenchResult:
    if students < 1:
        raise CourseError("--students must be at least 1")
    os.environ.pop("NBGRADER_DB_URL", None)  # three throw-away sqlite gradebooks, never the real one
    workdir = Path(workdir).resolve()
    if workdir == repo.root.resolve() or workdir in repo.root.resolve().parents:
        raise CourseError(f"refusing to wipe {workdir}: the benchmark needs a throw-away directory")
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = workers or os.cpu_count() or 1
    ids = [a.id for a in assignments]

    t0 = time.monotonic()
    base = repo.copy_authoring_files(workdir / "base")
    build(base, assignments, log=lambda *_: None)
    subs = synthetic_class(base, assignments, students, seed=seed, adversarial=False)
    write_class(base, subs)
    copies = {"stock": workdir / "stock", "grade": workdir / "grade", "nosandbox": workdir / "nosandbox"}
    if stock_per_submission:
        copies["stock_each"] = workdir / "stock_each"
    if cluster:
        copies["cluster"] = workdir / "cluster"
    for dest in copies.values():
        _copy_course(base.root, dest)
    shutil.rmtree(base.root)
    log(
        f"bench: {students} students x {len(ids)} assignment(s) = {len(subs)} notebooks (seed {seed}); "
        f"{cores} cores; engine workers {workers}; prepared in {time.monotonic() - t0:.1f} s"
    )
    result = BenchResult(len(subs), students, ids, cores, workers, cluster=" ".join(cluster or []))
    env = nbgrader_env()
    env.pop("NBGRADER_DB_URL", None)
    py = sys.executable

    if stock:
        total = Run("stock")
        for a in ids:
            log(f"  stock: nbgrader autograde {a} ...")
            r = run_measured(f"stock {a}", [py, "-m", "nbgrader", "autograde", a], copies["stock"], env)
            log(f"  stock: nbgrader autograde {a}: {r.seconds:.1f} s (exit {r.returncode})")
            total.add(r)
        result.runs["stock"] = total
    if stock_per_submission:
        total = Run("stock_each")
        for a in ids:
            students_of_a = sorted(sub.student for sub in subs if sub.assignment == a)
            log(f"  stock: nbgrader autograde {a} --student S, {len(students_of_a)} runs ...")
            for student in students_of_a:
                cmd = [py, "-m", "nbgrader", "autograde", a, "--student", student]
                total.add(run_measured(f"stock_each {a} {student}", cmd, copies["stock_each"], env))
            log(f"  stock: one run per submission of {a}: {total.seconds:.1f} s so far")
        result.runs["stock_each"] = total
    grade = [py, "-m", "autograder", "grade", *ids, "--no-progress", "--workers", str(workers), "--course"]
    log("  grade: python -m autograder grade ...")
    result.runs["grade"] = run_measured("grade", [*grade, str(copies["grade"])], copies["grade"], env)
    log(f"  grade: {result.runs['grade'].seconds:.1f} s (exit {result.runs['grade'].returncode})")
    if nosandbox:
        log("  grade --no-sandbox ...")
        cmd = [*grade, str(copies["nosandbox"]), "--no-sandbox"]
        r = run_measured("nosandbox", cmd, copies["nosandbox"], env)
        result.runs["nosandbox"] = r
        log(f"  grade --no-sandbox: {r.seconds:.1f} s (exit {r.returncode})")

    if cluster:
        log(f"  grade {result.cluster} ...")
        r = run_measured("cluster", [*grade, str(copies["cluster"]), *cluster], copies["cluster"], env)
        result.runs["cluster"] = r
        result.records_cluster = _records(Course(copies["cluster"]), ids)
        log(f"  grade {result.cluster}: {r.seconds:.1f} s (exit {r.returncode})")
        log("  coordinator ceiling: the cluster's notebooks recorded again, on sqlite and PostgreSQL ...")
        result.ceilings = measure_ceilings(copies["cluster"], workdir / "ceiling", env)

    scores = {label: gradebook_cell_scores(Course(copies[label]).db_url) for label in result.runs}
    result.cells_compared, result.mismatches = compare_scores(scores)
    result.records = _records(Course(copies["grade"]), ids)
    if nosandbox:
        result.records_nosandbox = _records(Course(copies["nosandbox"]), ids)
    for label, run in result.runs.items():
        if run.returncode != 0:
            tail = "\n".join(run.log.strip().splitlines()[-10:])
            result.mismatches.append(f"{label} exited with status {run.returncode}:\n{tail}")
    return result


def measure_ceilings(graded: Path, workdir: Path, env: dict[str, str]) -> dict[str, tuple[int, float] | str]:
    """`autograder.ceiling` in a process of its own: {database: (notebooks, seconds) or why not}."""
    cmd = [sys.executable, "-m", "autograder.ceiling", str(graded), str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    out: dict[str, tuple[int, float] | str] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            m = json.loads(line)
            out[m["database"]] = m["error"] if "error" in m else (m["notebooks"], m["seconds"])
    if proc.returncode != 0:
        out.setdefault("sqlite", (proc.stderr.strip().splitlines() or ["failed"])[-1])
    return out


# --- printing -----------------------------------------------------------------------------------


def _mem(n: int | None) -> str:
    return "-" if n is None else f"{n / GiB:.2f} GiB"


def _breakdown(label: str, records: list[GradeResult], workers: int, wall: float) -> list[str]:
    if not records:
        return []
    n = len(records)
    # A worker's first notebook waits for its fork server's imports: start-up, not that notebook's.
    waited = sum(r.server_wait_seconds for r in records)
    total = sum(r.seconds for r in records) - waited
    kernel = sum(r.kernel_seconds or 0.0 for r in records)
    cells = sum(c.seconds for r in records for c in r.cell_runs)
    test_cells = sum(c.seconds for r in records for c in r.cell_runs if c.is_test)
    rest = total - kernel - cells
    busy = total / workers
    overhead = (total - cells) / n
    return [
        f"  {label}: per notebook {total / n:.2f} s = kernel start {kernel / n:.2f} s "
        f"+ cells {cells / n:.2f} s "
        f"(test cells {test_cells / n:.2f} s) + nbgrader converter, gradebook and guard {rest / n:.2f} s",
        f"  {label}: overhead per notebook (everything but the cells) {overhead:.2f} s "
        f"(target <= 0.5 s: {'met' if overhead <= 0.5 else 'MISSED'})",
        f"  {label}: {workers} workers busy {busy:.1f} s of the {wall:.1f} s wall time "
        f"({total / cells:.2f}x the cells' own time); the other {max(wall - busy, 0):.1f} s: start-up "
        f"(the command, its workers, their fork servers' imports, which each worker's first notebook "
        f"waited for: {waited / workers:.1f} s per worker), planning, waiting for the last notebook",
    ]


def format_bench(res: BenchResult) -> list[str]:
    lines = [
        f"{'':34s} {'wall':>9s} {'notebooks/min':>14s} {'peak RSS (tree)':>16s} {'peak PSS (tree)':>16s}",
    ]
    names = {
        "stock": "stock nbgrader autograde (serial)",
        "stock_each": "stock, one run per submission",
        "grade": "autograder grade (sandboxed)",
        "nosandbox": "autograder grade --no-sandbox",
        "cluster": f"autograder grade {res.cluster}"[:34],
    }
    for label, run in res.runs.items():
        rate = 60 * res.notebooks / run.seconds if run.seconds else 0.0
        lines.append(
            f"{names[label]:34s} {run.seconds:8.1f}s {rate:14.1f} "
            f"{_mem(run.peak_rss):>16s} {_mem(run.peak_pss):>16s}"
        )
    grade = res.runs["grade"]
    for label, what in (("stock", "stock / grade"), ("stock_each", "stock one run per submission / grade")):
        if label in res.runs:
            ratio = res.runs[label].seconds / grade.seconds
            lines.append(
                f"speed-up, {what}: {ratio:.2f}x "
                f"(target >= 6x on 2 cores: {'met' if ratio >= 6 else 'MISSED'})"
            )
    cells = res._cells(res.records)
    if res.records:
        within = grade.seconds / res.floor if res.floor else float("inf")
        target = 1.1 if res.notebooks >= 120 else 1.2
        lines.append(
            f"compute floor: cells ran {cells:.1f} s in total / {res.cores} cores = {res.floor:.1f} s; "
            f"grade took {within:.2f}x the floor (target <= {target}x for {res.notebooks} notebooks: "
            f"{'met' if within <= target else 'MISSED'})"
        )
        for label in ("stock", "stock_each"):
            if label in res.runs and res.floor:
                lines.append(
                    f"largest speed-up any grader could reach over {names[label]}: "
                    f"{res.runs[label].seconds / res.floor:.2f}x (its wall time / the compute floor)"
                )
    if "nosandbox" in res.runs:
        ns = res.runs["nosandbox"]
        cost = grade.seconds / ns.seconds - 1
        lines.append(
            f"sandbox cost: grade {grade.seconds:.1f} s vs --no-sandbox {ns.seconds:.1f} s = {cost:+.1%} "
            f"(target <= 5%: {'met' if cost <= 0.05 else 'MISSED'})"
        )
    if res.identical:
        who = " = ".join(names[label].split(" (")[0] for label in res.runs)
        lines.append(f"scores: identical for all {res.cells_compared} autograded cells ({who})")
    else:
        lines.append(f"scores: DIFFERENT ({len(res.mismatches)} difference(s)):")
        lines += [f"  {m}" for m in res.mismatches[:20]]
    if "cluster" in res.runs:
        lines += _cluster_lines(res)
    lines.append("where the engine's time goes (grading records):")
    lines += _breakdown("grade", res.records, res.workers, grade.seconds)
    if "nosandbox" in res.runs:
        lines += _breakdown("--no-sandbox", res.records_nosandbox, res.workers, res.runs["nosandbox"].seconds)
    if "cluster" in res.runs:
        lines += _breakdown("cluster", res.records_cluster, res.workers, res.runs["cluster"].seconds)
    return lines


def projection(
    students: int, notebooks: int, cell_seconds: float, ceiling: float, workers: int
) -> tuple[float, str]:
    """(wall seconds, bottleneck) of grading students x notebooks on `workers` single-slot workers."""
    n = students * notebooks
    execute = n * cell_seconds / workers
    record = n / ceiling
    return max(execute, record), ("the workers" if execute >= record else "the coordinator")


ROUND = (2000, 4)  # students x notebooks of a large course's grading round


def _cluster_lines(res: BenchResult) -> list[str]:
    """The cluster run against the local pool; the coordinator's ceiling; a large round projected."""
    grade, dist = res.runs["grade"], res.runs["cluster"]
    cost = dist.seconds / grade.seconds - 1
    lines = [
        f"cluster cost: {res.cluster} {dist.seconds:.1f} s vs local pool {grade.seconds:.1f} s = {cost:+.1%} "
        f"(target <= 5% on 2 cores: {'met' if cost <= 0.05 else 'MISSED'})"
    ]
    records = res.records_cluster
    n = sum(max(len({c.notebook for c in r.cells}), 1) for r in records)
    per_nb = sum((r.kernel_seconds or 0.0) + sum(c.seconds for c in r.cell_runs) for r in records) / max(n, 1)
    students, notebooks = ROUND
    if not res.ceilings:
        lines.append("coordinator ceiling: not measured")
    for database, measured in res.ceilings.items():
        if isinstance(measured, str):
            lines.append(f"coordinator ceiling on {database}: not measured ({measured})")
            continue
        count, seconds = measured
        ceiling = count / seconds  # notebooks recorded per second by one coordinator process
        lines.append(
            f"coordinator ceiling on {database}: {seconds / count * 1000:.0f} ms of bookkeeping per notebook "
            f"(staging, nbgrader converter, gradebook writes, autograded/ and record; {count} notebooks "
            f"replayed) = {ceiling:.1f} notebooks/s per coordinator process "
            f"(target >= 10: {'met' if ceiling >= 10 else 'MISSED'})"
        )
        if not records:
            continue
        for cores in (1, 8):
            for workers in (8, 32, 128):
                wall, neck = projection(students, notebooks, per_nb, ceiling * cores, workers)
                lines.append(
                    f"  projection ({database}): {students} students x {notebooks} notebooks "
                    f"({per_nb:.2f} s of kernel and cells each) on {workers:3d} workers, "
                    f"coordinator {cores} core(s): {wall / 60:6.1f} min, bound by {neck}"
                )
    return lines
