"""`check`: the authoring gate. Proves that every hidden test of an assignment discriminates.

For each assignment, in a temporary copy of the course (config + ``source/`` only, released by
nbgrader's ``generate_assignment`` exactly like ``python -m autograder build`` does), synthetic
submissions are made from the *release* notebook (`autograder.synth.fill_in`) and graded by the
real grading path (`autograder.batch.grade_batch`: nbgrader's Autograde converter, hidden tests
restored from the gradebook by OverwriteCells, every notebook in a fresh forked kernel, scores
per grade cell as nbgrader's ``determine_grade`` stores them in the gradebook):

* ``solution``: the instructor's answers. Must score every autograded point.
* ``release``: the release notebook as students get it. Must score 0 on every autograded cell.
* ``mutant-NN``: the solution with ONE solution cell replaced by a wrong answer from
  ``source/<assignment>/mutants.py`` (entry NN, 1-based). Must lose points on the exercise of
  that cell (*caught*; otherwise *escaped*) and on no other exercise (otherwise a *cascade*:
  exercises must be independent, a wrong answer costs the points of its own exercise only).
* ``alternatives-K``: the solution with the K-th valid answer of EVERY exercise from
  ``source/<assignment>/alternatives.py`` (other APIs, orders, types the task allows) in place of
  the instructor's. Every alternative must score full points on its exercise and leave the
  others untouched, so one notebook holds the K-th alternatives of all exercises and must score
  full marks: two or three notebooks per assignment, not one per alternative. Only when it loses
  points (or cannot be graded) is each of its alternatives graded alone (``alternative-NN``, the
  solution with entry NN) to name the culprit: an alternative that loses points alone is
  *rejected* (the fix is a better test or a clearer task, never deleting the alternative); if
  each scores full points alone, the alternatives *interfere* (an exercise depends on another's
  answer).
* Every autograded exercise must have at least `MIN_MUTANTS` mutants and `MIN_ALTERNATIVES`
  alternatives.

Silent failures. A failing test cell must tell the student what is wrong. What a student sees
of a failing test cell is its error: ``ExceptionName: message`` under a traceback. The rule:

* ``AssertionError`` with a message: the test's own explanation. Good.
* any other exception *with* a message (``TypeError: 'NoneType' object is not iterable``,
  ``NameError: name 'make_bias' is not defined``, a TensorFlow error raised by the student's
  code, a timeout, a dead kernel): acceptable, the student sees what broke and the traceback
  leads into their code. A mutant caught only this way is counted in the table (column
  ``crash``) so authors can see where a teaching assert would help.
* an exception with an EMPTY message (a bare ``assert x``, ``raise AssertionError()``, an
  ``assert`` whose message evaluates to ``""``): SILENT, the student sees only
  ``AssertionError`` and learns nothing. A gate failure.
  Exception: ``NotImplementedError`` in the ``release`` run, i.e. the code stub
  ``raise NotImplementedError()`` under ``# YOUR CODE HERE``, which explains itself.
* points lost with no error at all (nbgrader gives 0 to a cell that wrote to stderr, or partial
  credit): SILENT, the cell looks passed but scores less. A gate failure.

The gate fails (exit 1) on any escaped mutant, cascade, rejected or interfering alternative,
silent failure, imperfect solution, release that scores, too few mutants or alternatives,
unusable mutant or alternative, or grading error, naming each one.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.build import build
from autograder.coursedir import Assignment, Course, CourseError
from autograder.synth import Alternative, Authoring, Cell, Mutant, load_alternatives, load_mutants

__all__ = [
    "MIN_ALTERNATIVES",
    "MIN_MUTANTS",
    "CellOutcome",
    "CheckReport",
    "ExerciseRow",
    "Problem",
    "RunOutcome",
    "check_course",
    "classify_failure",
    "format_report",
]

MIN_MUTANTS = 3
MIN_ALTERNATIVES = 2
# Every kind of problem, in the order the report lists them.
PROBLEM_KINDS = (
    "grading error",
    "imperfect solution",
    "release scores",
    "escaped",
    "cascade",
    "rejected alternative",
    "alternatives interfere",
    "silent",
    "flagged",
    "too few mutants",
    "too few alternatives",
    "bad mutant",
    "bad alternative",
)
SOLUTION, RELEASE = "solution", "release"

# How a failing test cell failed (see the module docstring).
ASSERT = "assert"  # AssertionError with a message
CRASH = "crash"  # another exception, with a message
SILENT = "silent"  # empty message, or points lost without an error
STUB = "stub"  # NotImplementedError from the release's code stub


def mutant_student(index: int) -> str:
    """The synthetic student id of mutant `index` (1-based position in mutants.py)."""
    return f"mutant-{index:02d}"


def alternative_set_student(k: int) -> str:
    """The synthetic student id of the K-th alternatives of every exercise (K 1-based)."""
    return f"alternatives-{k}"


def alternative_student(index: int) -> str:
    """The synthetic student id of alternative `index` alone (1-based position in alternatives.py)."""
    return f"alternative-{index:02d}"


# --- one failing cell ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CellOutcome:
    """An autograded cell of one graded submission."""

    grade_id: str
    score: float
    max_score: float
    kind: str = ""  # for a failing cell: ASSERT, CRASH, SILENT or STUB
    message: str = ""  # what the student sees: "AssertionError: got a tf.Tensor ..."
    exercise: str | None = None  # the exercise the cell belongs to (autograder.coursedir.exercises)

    @property
    def failed(self) -> bool:
        return self.score < self.max_score


def classify_failure(outputs: Sequence[dict], *, stub_allowed: bool = False) -> tuple[str, str]:
    """(kind, message) of a test cell that lost points, from its outputs (see module docstring)."""
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        e = errors[-1]
        ename, evalue = e.get("ename", "") or "Error", (e.get("evalue", "") or "").strip()
        if not evalue:
            if stub_allowed and ename == "NotImplementedError":
                return STUB, f"{ename} (the code stub)"
            return SILENT, f"{ename} with an empty message"
        return (ASSERT if ename == "AssertionError" else CRASH), _short(f"{ename}: {evalue}")
    stderr = "".join(
        o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"
    ).strip()
    if stderr:
        return SILENT, _short(f"no error, but output on stderr (nbgrader gives 0): {stderr}")
    return SILENT, "points lost without any error output"


def _short(text: str, limit: int = 110) -> str:
    """The first line of `text`, at most `limit` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --- results -------------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    """One synthetic submission of an assignment, graded."""

    assignment: str
    student: str  # SOLUTION, RELEASE, mutant-NN, alternatives-K or alternative-NN
    mutant: Mutant | None = None
    index: int = 0  # position of the mutant in mutants.py (1-based)
    cells: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""  # the grader could not grade it
    flags: list[str] = field(default_factory=list)  # what the tamper guard saw (a false alarm here)
    # the valid answers it holds: (position in alternatives.py, alternative); one, or a whole set
    alternatives: tuple[tuple[int, Alternative], ...] = ()
    set_index: int = 0  # K of alternatives-K (0: not a set)

    @property
    def label(self) -> str:
        if self.mutant is not None:
            return f"mutant #{self.index} [{self.mutant.cell}] ({self.mutant.why})"
        if self.set_index:
            members = ", ".join(f"#{i} [{alt.cell}]" for i, alt in self.alternatives)
            return f"alternatives set {self.set_index} ({members})"
        if self.alternatives:
            ((i, alt),) = self.alternatives
            return f"alternative #{i} [{alt.cell}] ({alt.why})"
        return self.student

    def failed_cells(self) -> list[CellOutcome]:
        return [c for c in self.cells if c.failed]

    @property
    def full_marks(self) -> bool:
        """Graded, not flagged, and every autograded cell scored all its points."""
        return bool(self.cells) and not self.error and not self.flags and not self.failed_cells()


@dataclass(frozen=True)
class Problem:
    """Something that makes the gate fail."""

    assignment: str
    kind: str  # "escaped", "cascade", "silent", "imperfect solution", ...
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper()}: {self.assignment}: {self.detail}"


@dataclass
class ExerciseRow:
    assignment: str
    exercise: str
    caught: int
    total: int
    crash_only: int  # caught, but only by an error (with a message) that is not an assert
    points: float
    seconds: float  # grading time of this exercise's mutants (summed over workers)
    accepted: int = 0  # alternatives that scored full points
    alternatives: int = 0  # alternatives listed in alternatives.py


@dataclass
class CheckReport:
    rows: list[ExerciseRow] = field(default_factory=list)
    runs: list[RunOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    totals: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # a -> sol, rel, max
    seconds: float = 0.0
    build_seconds: float = 0.0
    grade_seconds: float = 0.0
    workers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def problems_of(self, kind: str) -> list[Problem]:
        return [p for p in self.problems if p.kind == kind]


# --- the check -----------------------------------------------------------------------------------


@dataclass
class _Plan:
    authoring: Authoring
    mutants: list[tuple[int, Mutant, Cell]]  # (position in mutants.py, mutant, the cell it replaces)
    alternatives: list[tuple[int, Alternative, Cell]] = field(default_factory=list)

    @property
    def assignment(self) -> Assignment:
        return self.authoring.assignment

    @property
    def points(self) -> dict[str, float]:
        return self.authoring.points

    def exercise(self, cell: Cell) -> str:
        return self.authoring.exercise_of[cell]

    @property
    def alternative_sets(self) -> list[list[tuple[int, Alternative, Cell]]]:
        """Set K holds the K-th alternative of every exercise that has one (file order)."""
        by_exercise: dict[str, list[tuple[int, Alternative, Cell]]] = {}
        for entry in self.alternatives:
            by_exercise.setdefault(self.exercise(entry[2]), []).append(entry)
        depth = max((len(alts) for alts in by_exercise.values()), default=0)
        return [[alts[k] for alts in by_exercise.values() if k < len(alts)] for k in range(depth)]

    def write_alternative(self, index: int, alt: Alternative, cell: Cell) -> None:
        """The solution with alternative `index` alone, as submission alternative-NN."""
        self.authoring.write(alternative_student(index), {**self.authoring.solutions, cell: alt.source})


def _usable(kind: str, i: int, entry: Mutant, authoring: Authoring, problems) -> Cell | None:
    """The solution cell of an autograded exercise that answer #i of mutants.py/alternatives.py
    replaces, or None (a problem is recorded)."""
    a_id = authoring.assignment.id
    cell = authoring.locate(entry.cell, entry.notebook)
    if cell is None:
        where = f" of {entry.notebook}" if entry.notebook else ""
        problems.append(
            Problem(a_id, f"bad {kind}", f"{kind} #{i} targets {entry.cell!r}{where}, not one solution cell")
        )
        return None
    if authoring.exercise_of.get(cell) not in authoring.points:
        problems.append(
            Problem(
                a_id, f"bad {kind}", f"{kind} #{i} targets {entry.cell!r}, outside an autograded exercise"
            )
        )
        return None
    return cell


def _prepare(
    course: Course, a: Assignment, min_mutants: int, problems: list[Problem], min_alternatives: int = 0
) -> _Plan:
    """Write the solution, release, mutant and alternative-set submissions of `a` into submitted/."""
    authoring = Authoring(course, a)
    answers = authoring.solutions
    authoring.write(SOLUTION, answers)
    authoring.write(RELEASE, None)
    mutants: list[tuple[int, Mutant, Cell]] = []
    for i, m in enumerate(load_mutants(course.mutants_file(a)), start=1):
        cell = _usable("mutant", i, m, authoring, problems)
        if cell is not None:
            authoring.write(mutant_student(i), {**answers, cell: m.source})
            mutants.append((i, m, cell))
    alternatives = []
    for i, alt in enumerate(load_alternatives(course.alternatives_file(a)), start=1):
        cell = _usable("alternative", i, alt, authoring, problems)
        if cell is not None:
            alternatives.append((i, alt, cell))
    plan = _Plan(authoring, mutants, alternatives)
    for k, members in enumerate(plan.alternative_sets, start=1):
        chosen = {cell: alt.source for _, alt, cell in members}
        authoring.write(alternative_set_student(k), {**answers, **chosen})
    for ex in authoring.points:
        for kind, listed, needed, file in (
            ("mutants", mutants, min_mutants, "mutants.py"),
            ("alternatives", alternatives, min_alternatives, "alternatives.py"),
        ):
            n = sum(1 for _, _, cell in listed if plan.exercise(cell) == ex)
            if n < needed:
                problems.append(
                    Problem(
                        a.id,
                        f"too few {kind}",
                        f"{ex} has {n} {kind[:-1]}(s) in {file}, needs at least {needed}",
                    )
                )
    return plan


def _outcome(
    course: Course,
    plan: _Plan,
    result,
    mutant: tuple[int, Mutant, Cell] | None = None,
    *,
    alternatives: Sequence[tuple[int, Alternative, Cell]] = (),
    set_index: int = 0,
) -> RunOutcome:
    """Per-cell scores (from the gradebook) and failure kinds (from the autograded notebooks),
    for the autograded cells only (hand-graded answers wait for formgrader)."""
    a = plan.assignment
    run = RunOutcome(
        a.id,
        result.student,
        seconds=result.seconds,
        alternatives=tuple((i, alt) for i, alt, _ in alternatives),
    )
    run.set_index = set_index
    if mutant is not None:
        run.index, run.mutant = mutant[0], mutant[1]
    if not result.ok:
        run.error = f"{result.status}: {result.reason}"
        return run
    run.flags = list(getattr(result, "flags", []) or [])
    outputs: dict[Cell, list] = {}
    for name in a.notebooks:
        path = course.folder("autograded", result.student, a.id) / name
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as e:
            run.error = f"cannot read the autograded notebook {path}: {e}"
            return run
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid and cell.cell_type == "code":
                outputs[(name, gid)] = cell.get("outputs", [])
    for c in result.cells:
        where = (f"{c.notebook}.ipynb", c.grade_id)
        if where not in plan.authoring.autograded:
            continue
        score = c.auto_score if c.auto_score is not None else c.score
        kind = message = ""
        if score < c.max_score:
            kind, message = classify_failure(outputs.get(where, []), stub_allowed=run.student == RELEASE)
        exercise = plan.authoring.exercise_of.get(where)
        run.cells.append(CellOutcome(c.grade_id, float(score), float(c.max_score), kind, message, exercise))
    return run


def _judge(plan: _Plan, runs: dict[str, RunOutcome], report: CheckReport) -> None:
    a = plan.assignment.id
    problems = report.problems
    max_total = sum(plan.points.values())

    def silent(run: RunOutcome) -> None:
        for c in run.failed_cells():
            if c.kind == SILENT:
                problems.append(
                    Problem(a, "silent", f"{run.label}: test {c.grade_id} fails silently: {c.message}")
                )

    def graded(student: str) -> RunOutcome | None:
        run = runs.get(student)
        if run is None or run.error:
            why = run.error if run else "no result"
            who = run.label if run else student
            problems.append(Problem(a, "grading error", f"{who}: {_short(why, 300)}"))
            return None
        for flag in run.flags:
            problems.append(Problem(a, "flagged", f"{run.label}: the tamper guard flagged {_short(flag)}"))
        return run

    sol_score = rel_score = float("nan")
    sol = graded(SOLUTION)
    if sol is not None:
        sol_score = sum(c.score for c in sol.cells)
        for c in sol.failed_cells():
            problems.append(
                Problem(
                    a, "imperfect solution", f"{c.grade_id} scores {c.score:g}/{c.max_score:g}: {c.message}"
                )
            )
        if not sol.cells:
            problems.append(Problem(a, "imperfect solution", "no autograded cell was graded"))
    rel = graded(RELEASE)
    if rel is not None:
        rel_score = sum(c.score for c in rel.cells)
        for c in rel.cells:
            if c.score > 0:
                problems.append(
                    Problem(
                        a,
                        "release scores",
                        f"the released stub scores {c.score:g}/{c.max_score:g} on {c.grade_id}",
                    )
                )
        silent(rel)
    report.totals[a] = (sol_score, rel_score, max_total)

    for ex, pts in plan.points.items():
        mine = [i for i, _, cell in plan.mutants if plan.exercise(cell) == ex]
        row = ExerciseRow(a, ex, 0, len(mine), 0, pts, 0.0)
        for i in mine:
            run = graded(mutant_student(i))
            if run is None:
                continue
            row.seconds += run.seconds
            failed = run.failed_cells()
            own = [c for c in failed if c.exercise == ex]
            other = [c for c in failed if c.exercise != ex]
            if own:
                row.caught += 1
                if not any(c.kind == ASSERT for c in own) and any(c.kind == CRASH for c in own):
                    row.crash_only += 1
            else:
                lost = sum(c.max_score - c.score for c in run.cells if c.exercise == ex)
                problems.append(
                    Problem(a, "escaped", f"{run.label} escaped: {ex} still scores {pts - lost:g}/{pts:g}")
                )
            if other:
                where = "; ".join(f"{c.grade_id} ({c.message})" for c in other)
                problems.append(Problem(a, "cascade", f"{run.label} also loses points on {where}"))
            silent(run)
        report.rows.append(row)

    rows = {row.exercise: row for row in report.rows if row.assignment == a}
    for _, _, cell in plan.alternatives:
        rows[plan.exercise(cell)].alternatives += 1
    for k, members in enumerate(plan.alternative_sets, start=1):
        together = runs.get(alternative_set_student(k))
        if together is not None and together.full_marks:
            for _, _, cell in members:
                rows[plan.exercise(cell)].accepted += 1
            continue
        graded(alternative_set_student(k))  # a grading error or a flag of the set is a problem too
        alone_ok = True
        for i, _alt, cell in members:
            run = graded(alternative_student(i))
            if run is None:
                alone_ok = False
                continue
            if run.full_marks:
                rows[plan.exercise(cell)].accepted += 1
                continue
            alone_ok = False
            lost = "; ".join(
                f"{c.grade_id} scores {c.score:g}/{c.max_score:g}: {c.message}" for c in run.failed_cells()
            )
            problems.append(
                Problem(
                    a,
                    "rejected alternative",
                    f"{run.label} is a valid answer to {plan.exercise(cell)}, but {lost}",
                )
            )
        if alone_ok and together is not None and not together.error:
            where = "; ".join(f"{c.grade_id} ({c.message})" for c in together.failed_cells())
            problems.append(
                Problem(
                    a,
                    "alternatives interfere",
                    f"{together.label} loses points on {where}, although each alternative alone "
                    "scores full points: an exercise's test depends on another exercise's answer",
                )
            )


def check_course(
    course: Course,
    assignments: Sequence[Assignment],
    *,
    workers: int = 2,
    min_mutants: int = MIN_MUTANTS,
    min_alternatives: int = MIN_ALTERNATIVES,
    workdir: str | Path | None = None,
    progress: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
) -> CheckReport:
    """Run the gate over `assignments` of the course at `course_root`; see the module docstring.

    The course is copied (config + source/) into `workdir` (default: a temporary directory,
    removed afterwards) and built there; `course_root` itself is never written to.
    Raises CourseError when the course cannot be built at all.
    """
    from autograder.batch import grade_batch

    t0 = time.monotonic()
    report = CheckReport(workers=workers)
    own_tmp = workdir is None
    base = Path(tempfile.mkdtemp(prefix="autograder-check-")) if own_tmp else Path(workdir).resolve()
    try:
        dest = base / "course"
        if dest.exists():
            shutil.rmtree(dest)
        if not course.folder("source").is_dir():
            raise CourseError(f"no source/ in {course.root}: is this a course directory?")
        course = course.copy_authoring_files(dest)
        log(f"building {len(assignments)} assignment(s) in {course.root} ...")
        build(course, list(assignments), log=lambda *_: None)
        report.build_seconds = time.monotonic() - t0
        plans = {
            a.id: _prepare(course, a, min_mutants, report.problems, min_alternatives) for a in assignments
        }
        n = sum(2 + len(p.mutants) + len(p.alternative_sets) for p in plans.values())
        log(f"grading {n} notebooks with {workers} worker(s) ...")
        t1 = time.monotonic()
        summary = grade_batch(
            course, [a.id for a in assignments], workers=workers, force=True, progress=progress
        )
        results = {(r.assignment, r.student): r for r in summary.results}
        runs_of: dict[str, dict[str, RunOutcome]] = {}
        alone: dict[str, list[str]] = {}  # assignment -> alternatives to grade one by one
        for a in assignments:
            plan = plans[a.id]
            mutant_of = {mutant_student(entry[0]): entry for entry in plan.mutants}
            runs = runs_of[a.id] = {}
            for student in [SOLUTION, RELEASE, *mutant_of]:
                r = results.get((a.id, student))
                if r is not None:
                    runs[student] = _outcome(course, plan, r, mutant_of.get(student))
            for k, members in enumerate(plan.alternative_sets, start=1):
                r = results.get((a.id, alternative_set_student(k)))
                if r is not None:
                    runs[r.student] = _outcome(course, plan, r, alternatives=members, set_index=k)
                if r is None or not runs[r.student].full_marks:
                    for i, alt, cell in members:
                        plan.write_alternative(i, alt, cell)
                        alone.setdefault(a.id, []).append(alternative_student(i))
        if alone:
            n = sum(len(v) for v in alone.values())
            log(f"a set of alternatives lost points: grading its {n} alternative(s) one by one ...")
            students = sorted({s for v in alone.values() for s in v})
            summary = grade_batch(
                course,
                list(alone),
                students=students,
                workers=workers,
                force=True,
                explicit=False,
                progress=progress,
            )
            for r in summary.results:
                plan = plans[r.assignment]
                if r.student not in alone.get(r.assignment, ()):
                    continue
                index = int(r.student.rsplit("-", 1)[1])
                member = next(entry for entry in plan.alternatives if entry[0] == index)
                runs_of[r.assignment][r.student] = _outcome(course, plan, r, alternatives=[member])
        report.grade_seconds = time.monotonic() - t1
        for a in assignments:
            runs = runs_of[a.id]
            report.runs.extend(runs.values())
            _judge(plans[a.id], runs, report)
    finally:
        if own_tmp:
            shutil.rmtree(base, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    return report


# --- the report ----------------------------------------------------------------------------------


def format_runs(report: CheckReport) -> list[str]:
    """What a student sees for each synthetic submission: every failing test and its message."""
    lines = []
    for run in report.runs:
        status = run.error or f"{len(run.failed_cells())} failing test(s)"
        lines.append(f"{run.assignment} {run.label}: {status}")
        lines.extend(f"    {c.grade_id} [{c.kind}] {c.message}" for c in run.failed_cells())
    return lines


def format_report(report: CheckReport, *, verbose: bool = False) -> list[str]:
    """The catch table, per-assignment totals, then every problem (one line each).

    `verbose`: first, every graded submission with its failing tests (`format_runs`)."""
    head = (
        f"{'assignment':26s} {'exercise':8s} {'mutants caught':>14s} {'crash':>5s} "
        f"{'alternatives accepted':>21s} {'points':>6s} {'time':>7s}"
    )
    lines = [*format_runs(report), ""] if verbose else []
    lines += [head, "-" * len(head)]
    for r in report.rows:
        ok = r.caught == r.total and r.total and r.accepted == r.alternatives and r.alternatives
        lines.append(
            f"{r.assignment:26s} {r.exercise:8s} {f'{r.caught}/{r.total}':>14s} {r.crash_only:>5d} "
            f"{f'{r.accepted}/{r.alternatives}':>21s} {r.points:>6g} {r.seconds:>6.1f}s"
            + ("" if ok else "  <--")
        )
    caught, total = sum(r.caught for r in report.rows), sum(r.total for r in report.rows)
    accepted, alternatives = sum(r.accepted for r in report.rows), sum(r.alternatives for r in report.rows)
    lines.append("-" * len(head))

    def pct(part: int, whole: int) -> str:
        return f" ({100 * part / whole:.0f}%)" if whole else ""

    lines.append(
        f"{'all':26s} {'':8s} {f'{caught}/{total}':>14s}{pct(caught, total)} caught, "
        f"{accepted}/{alternatives}{pct(accepted, alternatives)} alternatives accepted"
    )
    for a, (sol, rel, mx) in report.totals.items():
        runs = [r for r in report.runs if r.assignment == a]
        mean = sum(r.seconds for r in runs) / len(runs) if runs else 0.0
        lines.append(
            f"{a}: solution {sol:g}/{mx:g} points, release {rel:g}/{mx:g}; "
            f"{len(runs)} notebooks, {mean:.1f} s each"
        )
    n = len(report.runs)
    lines.append(
        f"time: {report.seconds:.1f} s ({n} notebooks graded in {report.grade_seconds:.1f} s with "
        f"{report.workers} worker(s); build {report.build_seconds:.1f} s)"
    )
    lines.append("crash: mutants caught only by an error with a message that is not an assert (acceptable)")
    lines.append(
        "alternatives: valid answers of alternatives.py, graded K-th of every exercise together "
        "(one by one only when that notebook loses points)"
    )
    if report.problems:
        lines.append(f"FAILED: {len(report.problems)} problem(s)")
        order = {kind: i for i, kind in enumerate(PROBLEM_KINDS)}
        lines.extend(f"  {p}" for p in sorted(report.problems, key=lambda p: order.get(p.kind, len(order))))
    else:
        lines.append(
            "OK: every solution and every alternative scores full points, every release 0, every "
            "mutant is caught on its own exercise only, every failing test explains itself"
        )
    return lines
