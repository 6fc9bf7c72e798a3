"""`python -m autograder <command>`: one subcommand per instructor job; parsing only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.coursedir import CourseDir, CourseError, resolve_assignments


def _build(args) -> int:
    from autograder.build import build

    build(CourseDir.repo(), resolve_assignments(args.assignments))
    return 0


def _demo(args) -> int:
    from autograder.demo import run_demo

    ok = run_demo(
        CourseDir.repo(), resolve_assignments(args.assignments), Path(args.workdir).resolve()
    )
    return 0 if ok else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="release assignments with nbgrader (release/ + gradebook)")
    b.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    b.set_defaults(run=_build)

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
