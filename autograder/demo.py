"""`demo`: the instructor's whole job on a synthetic class, with the grading engine.

In a throw-away course directory (``.demo/`` by default, wiped first, never committed):

1. release every assignment with nbgrader (``build``: release/ and the gradebook);
2. synthesize a class (`autograder.synth.synthetic_class`, deterministic from ``seed``): per
   assignment, students hand in the solution, the blank release, or a mix of the wrong answers
   listed in ``source/<assignment>/mutants.py``; one student cheats (the guard must flag it) and
   one hands in a broken file (grading must fail it, with a reason);
3. grade it all with the engine (`autograder.batch.grade_batch`: sandboxed, guarded, parallel);
4. write the report (`autograder.report`: CSV, nbgrader's CSV, HTML) into ``<workdir>/reports/``;
5. print the summary table, and check every honest submission got exactly the points its
   answers deserve (`SyntheticSubmission.expected`), the cheat was flagged, the broken file failed.

The demo never touches the instructor's gradebook: ``NBGRADER_DB_URL`` is ignored (removed from
this process's environment), so the throw-away course uses its own ``gradebook.db``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.batch import BatchSummary, grade_batch
from autograder.build import build
from autograder.coursedir import Assignment, Course, CourseError
from autograder.engine.sandbox import SandboxPolicy
from autograder.records import GRADED
from autograder.report import ClassReport, format_table, write_report
from autograder.synth import BROKEN, TAMPERED, SyntheticSubmission, synthetic_class, write_class

__all__ = ["DemoResult", "check_outcomes", "grading_spans", "run_demo"]


@dataclass
class DemoResult:
    ok: bool
    submissions: list[SyntheticSubmission]
    summary: BatchSummary
    report: ClassReport
    paths: dict[str, Path]
    problems: list[str] = field(default_factory=list)


def grading_spans(summary: BatchSummary) -> dict[str, float]:
    """assignment -> seconds from the start of its first grading to the end of its last one."""
    spans: dict[str, tuple[float, float]] = {}
    for r in summary.results:
        if not r.finished_at:
            continue
        start, end = r.finished_at - r.seconds, r.finished_at
        lo, hi = spans.get(r.assignment, (start, end))
        spans[r.assignment] = (min(lo, start), max(hi, end))
    return {a: hi - lo for a, (lo, hi) in spans.items()}


def check_outcomes(subs: list[SyntheticSubmission], summary: BatchSummary) -> list[str]:
    """What differs from what the synthetic class deserves (empty: all as expected)."""
    results = {(r.assignment, r.student): r for r in summary.results + summary.skipped}
    problems = []
    for s in subs:
        r = results.get((s.assignment, s.student))
        if r is None:
            problems.append(f"{s.assignment} {s.student} ({s.kind}): not graded")
        elif s.kind == BROKEN:
            if r.status == GRADED:
                problems.append(f"{s.assignment} {s.student}: a broken file was graded")
        elif r.status != GRADED:
            problems.append(f"{s.assignment} {s.student} ({s.kind}): {r.status}: {r.reason}")
        elif s.kind == TAMPERED:
            if not r.flags:
                problems.append(f"{s.assignment} {s.student}: the cheat was not flagged")
        else:
            got = sum(v or 0.0 for v in r.scores().values())
            if abs(got - (s.expected or 0.0)) > 1e-9 or r.flags:
                wrong = ", ".join(m.cell for m in s.mutants) or "-"
                problems.append(
                    f"{s.assignment} {s.student} ({s.kind}: wrong {wrong}; unanswered "
                    f"{', '.join(s.unanswered) or '-'}): scored {got:g}, deserves {s.expected:g}"
                    + (f"; flagged: {' | '.join(r.flags)}" if r.flags else "")
                )
    return problems


def run_demo(
    repo: Course,
    assignments: list[Assignment],
    workdir: Path,
    *,
    students: int = 30,
    seed: int = 0,
    workers: int | None = None,
    sandbox: SandboxPolicy | None = None,
    progress: bool = True,
    log=print,
) -> DemoResult:
    if students < 1:
        raise CourseError("--students must be at least 1")
    os.environ.pop("NBGRADER_DB_URL", None)  # never the instructor's real gradebook
    workdir = Path(workdir).resolve()
    if workdir == repo.root.resolve() or workdir in repo.root.resolve().parents:
        raise CourseError(f"refusing to wipe {workdir}: the demo needs a throw-away directory")
    if workdir.exists():
        shutil.rmtree(workdir)
    t0 = time.monotonic()
    course = repo.copy_authoring_files(workdir)
    build(course, assignments, log=lambda *_: None)
    took = time.monotonic() - t0
    log(f"released {len(assignments)} assignment(s) with nbgrader in {workdir} ({took:.1f} s)")

    subs = synthetic_class(course, assignments, students, seed=seed)
    write_class(course, subs)
    kinds = Counter(s.kind for s in subs)
    log(
        f"synthesized {len(subs)} submissions ({students} students x {len(assignments)} assignment(s), "
        f"seed {seed}): " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )

    ids = [a.id for a in assignments]
    summary = grade_batch(course, ids, workers=workers, sandbox=sandbox, progress=progress)
    spans = grading_spans(summary)
    title = f"Demo class ({students} students, seed {seed})"
    report, paths = write_report(course, ids, workdir / "reports", seconds=spans, title=title)
    log("")
    for line in format_table(report, spans):
        log(line)
    n = len(summary.results)
    log(
        f"graded {n} submissions in {summary.seconds:.1f} s with {summary.workers} worker(s) "
        f"({60 * n / summary.seconds:.1f} notebooks per minute, sandboxed: "
        f"{'no' if sandbox is not None and not sandbox.enabled else 'yes'})"
    )
    problems = check_outcomes(subs, summary)
    honest = [s for s in subs if s.kind not in (BROKEN, TAMPERED)]
    deserved = len(honest) - sum(1 for p in problems if "deserves" in p)
    log(
        f"scores as the synthetic answers deserve: {deserved} of {len(honest)}; "
        f"cheats: {sum(1 for s in subs if s.kind == TAMPERED)}, "
        f"{len(summary.flagged)} flagged; broken files: {sum(1 for s in subs if s.kind == BROKEN)}, "
        f"failed: {len(summary.failed)}"
    )
    for p in problems:
        log(f"  MISMATCH {p}")
    log(f"report: {paths['html']}")
    log(f"grades: {paths['grades']} (nbgrader's format: {paths['nbgrader']})")
    ok = not problems and not summary.errors
    return DemoResult(ok, subs, summary, report, paths, problems)
