"""`python -m autograder <command>`: one subcommand per instructor job; parsing only."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.coursedir import CourseDir, CourseError, resolve_assignments


def _build(args) -> int:
    from autograder.build import build

    build(CourseDir.repo(), resolve_assignments(args.assignments))
    return 0


def _check(args) -> int:
    from autograder.check import check_course, format_report

    if args.workers < 1:
        raise CourseError("--workers must be at least 1")
    course = Path(args.course).resolve() if args.course else CourseDir.repo().root
    report = check_course(
        course,
        resolve_assignments(args.assignments),
        workers=args.workers,
        min_mutants=args.min_mutants,
        workdir=args.workdir,
        progress=not args.no_progress,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print("\n".join(format_report(report)))
    return 0 if report.ok else 1


def _demo(args) -> int:
    from autograder.demo import run_demo

    ok = run_demo(
        CourseDir.repo(), resolve_assignments(args.assignments), Path(args.workdir).resolve()
    )
    return 0 if ok else 1


def _grade(args) -> int:
    from autograder.batch import format_summary, grade_batch

    course = Path(args.course).resolve() if args.course else CourseDir.repo().root
    ids = [a.id for a in resolve_assignments(args.assignments)]
    if args.workers is not None and args.workers < 1:
        raise CourseError("--workers must be at least 1")
    from autograder.sandbox import SandboxPolicy

    policy = SandboxPolicy.from_config(
        course,
        enabled=False if args.no_sandbox else None,
        address_space_mb=args.memory_mb,
        cpu_seconds=args.cpu_seconds,
        processes=args.max_processes,
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
    )
    summary = grade_batch(
        course,
        ids,
        sandbox=policy,
        students=args.student or None,
        workers=args.workers,
        force=args.force,
        explicit=bool(args.assignments),
        progress=not args.no_progress,
    )
    for line in format_summary(summary):
        print(line)
    return 1 if summary.errors else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="release assignments with nbgrader (release/ + gradebook)")
    b.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    b.set_defaults(run=_build)

    c = sub.add_parser(
        "check",
        help="authoring gate: solutions pass, releases score 0, every mutant is caught (exit 1 if not)",
        description="Build the assignments with nbgrader in a temporary copy of the course and grade "
        "the solution, the release and every wrong answer of source/<assignment>/mutants.py. Exit 1 "
        "if a solution loses points, a release scores, a mutant escapes its exercise's tests or "
        "costs points in another exercise, or a failing test shows no message.",
    )
    c.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    c.add_argument("--course", metavar="DIR", help="course directory (default: this repository)")
    c.add_argument("--workers", type=int, default=2, metavar="N", help="parallel graders (default 2)")
    c.add_argument(
        "--min-mutants",
        type=int,
        default=3,
        metavar="N",
        help="mutants required per autograded exercise (default 3)",
    )
    c.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the built course and graded notebooks here (default: a temporary directory)",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(run=_check)

    g = sub.add_parser(
        "grade",
        help="autograde every submission in submitted/ (parallel, resumable) into the gradebook",
        description="Autograde submitted/<student>/<assignment>/ with nbgrader's own autograde "
        "steps, each notebook in a fresh kernel forked from a process that imported TensorFlow "
        "once. Submissions already graded and unchanged are skipped, so rerunning after an "
        "interruption grades only what is missing. Exit status 1 only if the grader itself failed.",
    )
    g.add_argument("assignments", nargs="*", help="assignment ids (default: all with submissions)")
    g.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    g.add_argument("--workers", type=int, metavar="N",
                   help=f"parallel grading processes (default: number of cores, {os.cpu_count()})")
    g.add_argument("--force", action="store_true", help="regrade submissions already graded")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--course", metavar="DIR", help="course directory (default: this repository)")
    g.add_argument("--no-sandbox", action="store_true",
                   help="run student code WITHOUT bubblewrap isolation (trusted notebooks only)")
    g.add_argument("--memory-mb", type=int, metavar="MB", help="address space per kernel (c.Sandbox)")
    g.add_argument("--cpu-seconds", type=int, metavar="S", help="CPU seconds per kernel (c.Sandbox)")
    g.add_argument("--max-processes", type=int, metavar="N", help="tasks per sandbox (c.Sandbox)")
    g.add_argument("--cell-timeout", type=float, metavar="S", help="wall clock per cell")
    g.add_argument("--notebook-timeout", type=float, metavar="S", help="wall clock per notebook")
    g.set_defaults(run=_grade)

    d = sub.add_parser("demo", help="grade synthetic students end to end and print their scores")
    d.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    d.add_argument("--workdir", default=".demo", help="throw-away course directory (default .demo)")
    d.set_defaults(run=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except CourseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
