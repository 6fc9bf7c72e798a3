"""`python -m autograder <command>`: one subcommand per instructor job; parsing only."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.coursedir import Course, CourseError


def _course(args) -> Course:
    """The course every command works on (--course, default: this repository), read once."""
    return Course(Path(args.course)) if args.course else Course.repo()


def _workers(n: int | None) -> int | None:
    if n is not None and n < 1:
        raise CourseError("--workers must be at least 1")
    return n


def _build(args) -> int:
    from autograder.build import build

    course = _course(args)
    build(course, course.resolve(args.assignments))
    return 0


def _check(args) -> int:
    from autograder.check import check_course, format_report

    course = _course(args)
    report = check_course(
        course,
        course.resolve(args.assignments),
        workers=_workers(args.workers),
        min_mutants=args.min_mutants,
        min_alternatives=args.min_alternatives,
        workdir=args.workdir,
        progress=not args.no_progress,
        log=lambda msg: print(msg, file=sys.stderr),
    )
    print("\n".join(format_report(report, verbose=args.verbose)))
    return 0 if report.ok else 1


def _demo(args) -> int:
    from autograder.demo import run_demo
    from autograder.engine.sandbox import SandboxPolicy

    course = _course(args)
    result = run_demo(
        course,
        course.resolve(args.assignments),
        Path(args.workdir).resolve(),
        students=args.students,
        seed=args.seed,
        workers=_workers(args.workers),
        sandbox=SandboxPolicy.of(course.config, enabled=False) if args.no_sandbox else None,
        progress=not args.no_progress,
    )
    return 0 if result.ok else 1


def _report(args) -> int:
    course = _course(args)
    ids = [a.id for a in course.resolve(args.assignments)] if args.assignments else None
    out = Path(args.out).resolve() if args.out else course.root / "reports"
    lms = _lms_options(args, ids)  # a bad roster fails before anything is written
    from autograder.report import format_exercises, format_table, write_report

    report, paths = write_report(course, ids, out)
    for line in format_table(report):
        print(line)
    if not args.brief:
        print()
        for line in format_exercises(report):
            print(line)
    print()
    for what, path in paths.items():
        print(f"{what:10s} {path}")
    if lms is not None:
        from autograder.lms import write_grades

        roster, columns = lms
        print()
        for line in write_grades(args.lms, roster, report.assignments, out, canvas_columns=columns).lines:
            print(line)
    return 0


def _pair(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise CourseError(f"{option} takes ASSIGNMENT=COLUMN, not {text!r}")
    return key, value


def _lms_options(args, ids):
    """(roster, Canvas columns) for `report --lms`, read and checked (None without --lms)."""
    if not args.lms:
        if args.roster or args.canvas_column or args.id_column:
            raise CourseError("--roster, --id-column and --canvas-column go with --lms canvas|moodle")
        return None
    if not args.roster:
        raise CourseError(f"--lms {args.lms} needs --roster FILE (the LMS's roster export)")
    if args.lms == "moodle" and (not ids or len(ids) != 1):
        raise CourseError(
            "a Moodle grading worksheet belongs to one assignment: report ASSIGNMENT --lms moodle ..."
        )
    from autograder.lms import read_roster

    columns = dict(_pair(c, "--canvas-column") for c in args.canvas_column or [])
    return read_roster(args.lms, args.roster, args.id_column), columns


def _collect(args) -> int:
    from autograder.collect import collect_from_lms, format_outcome

    outcome = collect_from_lms(
        _course(args),
        args.assignment,
        args.zip,
        args.lms,
        args.roster,
        id_column=args.id_column,
        force=args.force,
        progress=not args.no_progress,
    )
    for line in format_outcome(outcome):
        print(line)
    return 0


def _feedback(args) -> int:
    from autograder.feedback import generate_feedback

    course = _course(args)
    ids = [a.id for a in course.resolve(args.assignments)]
    summary = generate_feedback(course, ids, args.student or None)
    print(
        f"wrote {len(summary.written)} feedback file(s) without hidden tests under "
        f"{course.folder('feedback')}/<student>/<assignment>/"
    )
    for line in summary.failed:
        print(f"  FAILED {line}")
    return 1 if summary.failed else 0


def _bench(args) -> int:
    from autograder.bench import format_bench, run_bench

    course = _course(args)
    result = run_bench(
        course,
        course.resolve(args.assignments),
        Path(args.workdir).resolve(),
        students=args.students,
        seed=args.seed,
        workers=_workers(args.workers),
        stock=not args.no_stock,
        stock_per_submission=args.stock_per_submission,
        nosandbox=not args.no_sandbox_run,
        cluster=(["--scheduler", args.scheduler] if args.scheduler else [])
        + (["--cluster", args.cluster] if args.cluster else []),
        log=lambda msg: print(msg, flush=True),
    )
    for line in format_bench(result):
        print(line)
    return 0 if result.identical else 1


def _grade(args) -> int:
    from autograder.batch import format_summary, grade_batch
    from autograder.engine.sandbox import SandboxPolicy

    course = _course(args)
    ids = [a.id for a in course.resolve(args.assignments)] if args.assignments else []
    if args.isolation == "container" and not (args.scheduler or args.cluster):
        raise CourseError(
            "--isolation container is for Dask workers in containers: add --scheduler or --cluster"
        )
    policy = SandboxPolicy.of(
        course.config,
        enabled=False if args.no_sandbox or args.isolation == "container" else None,
        address_space_mb=args.memory_mb,
        cpu_seconds=args.cpu_seconds,
        processes=args.max_processes,
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
    )
    cluster = None
    if args.scheduler or args.cluster:
        from autograder.distributed import parse_cluster

        cluster = parse_cluster(args.scheduler, args.cluster)
    summary = grade_batch(
        course,
        ids,
        sandbox=policy,
        students=args.student or None,
        workers=_workers(args.workers),
        force=args.force,
        progress=not args.no_progress,
        cluster=cluster,
        container=args.isolation == "container",
    )
    for line in format_summary(summary):
        print(line)
    return 1 if summary.errors or summary.interrupted else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--course", metavar="DIR", help="the nbgrader course directory (default: this repository)"
    )

    b = sub.add_parser(
        "build", parents=[common], help="release assignments with nbgrader (release/ + gradebook)"
    )
    b.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    b.set_defaults(run=_build)

    c = sub.add_parser(
        "check",
        parents=[common],
        help="authoring gate: solutions and valid alternatives pass, releases score 0, every mutant is "
        "caught (exit 1 if not)",
        description="Build the assignments with nbgrader in a temporary copy of the course and grade "
        "the solution, the release, every wrong answer of source/<assignment>/mutants.py and every "
        "valid answer of alternatives.py. Exit 1 if a solution or an alternative loses points, a "
        "release scores, a mutant escapes its exercise's tests or costs points in another exercise, "
        "or a failing test shows no message.",
    )
    c.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    c.add_argument("--workers", type=int, default=2, metavar="N", help="parallel graders (default 2)")
    c.add_argument(
        "--min-mutants",
        type=int,
        default=3,
        metavar="N",
        help="mutants required per autograded exercise (default 3)",
    )
    c.add_argument(
        "--min-alternatives",
        type=int,
        default=2,
        metavar="N",
        help="valid alternative answers (alternatives.py) required per autograded exercise (default 2)",
    )
    c.add_argument(
        "--workdir",
        metavar="DIR",
        help="keep the built course and graded notebooks here (default: a temporary directory)",
    )
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("-v", "--verbose", action="store_true", help="list every failing test of every submission")
    c.set_defaults(run=_check)

    g = sub.add_parser(
        "grade",
        parents=[common],
        help="autograde every submission in submitted/ (parallel, resumable) into the gradebook",
        description="Autograde submitted/<student>/<assignment>/ with nbgrader's own autograde "
        "steps, each notebook in a fresh sandboxed kernel forked from a process that imported the "
        "course's libraries (c.Kernels.preload) once. Submissions already graded and unchanged are "
        "skipped, so rerunning after an interruption grades only what is missing. Exit status 1 "
        "only if the grader itself failed.",
    )
    g.add_argument("assignments", nargs="*", help="assignment ids (default: all with submissions)")
    g.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"parallel grading processes (default: number of cores, {os.cpu_count()})",
    )
    g.add_argument("--force", action="store_true", help="regrade submissions already graded")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run student code WITHOUT bubblewrap isolation (trusted notebooks only)",
    )
    g.add_argument("--memory-mb", type=int, metavar="MB", help="address space per kernel (c.Sandbox)")
    g.add_argument("--cpu-seconds", type=int, metavar="S", help="CPU seconds per kernel (c.Sandbox)")
    g.add_argument("--max-processes", type=int, metavar="N", help="tasks per sandbox (c.Sandbox)")
    g.add_argument("--cell-timeout", type=float, metavar="S", help="wall clock per cell")
    g.add_argument("--notebook-timeout", type=float, metavar="S", help="wall clock per notebook")
    g.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a running Dask cluster (tcp://HOST:8786): its workers run the notebooks, "
        "this process records them",
    )
    g.add_argument(
        "--cluster", metavar="local:N", help="start a Dask LocalCluster of N workers and grade on it"
    )
    g.add_argument(
        "--isolation",
        choices=["sandbox", "container"],
        default="sandbox",
        help="on a cluster: sandbox = bubblewrap on every worker (default); container = the "
        "workers' containers are the sandbox (see README: what the pod must enforce)",
    )
    g.set_defaults(run=_grade)

    r = sub.add_parser(
        "report",
        parents=[common],
        help="grades CSV (also nbgrader's export format), per-exercise table, HTML report with plots",
        description="Read the gradebook (CourseDirectory.db_url / NBGRADER_DB_URL), the grading "
        "records and the autograded notebooks; write grades.csv, cells.csv, exercises.csv, "
        "nbgrader_grades.csv and a self-contained report.html; print the summary table.",
    )
    r.add_argument("assignments", nargs="*", help="assignment ids (default: all in the gradebook)")
    r.add_argument("--out", metavar="DIR", help="where to write (default: <course>/reports)")
    r.add_argument("--brief", action="store_true", help="only the summary table, no per-exercise lines")
    r.add_argument(
        "--lms",
        choices=["canvas", "moodle"],
        help="also write the grades CSV this LMS imports (canvas_grades.csv, moodle_<assignment>.csv)",
    )
    r.add_argument(
        "--roster",
        metavar="FILE",
        help="the LMS's roster: Canvas' Gradebook export, Moodle's grading worksheet",
    )
    r.add_argument(
        "--id-column",
        metavar="NAME",
        help="roster column holding the course's student ids (Canvas: SIS Login ID, Moodle: Email address)",
    )
    r.add_argument(
        "--canvas-column",
        action="append",
        metavar="ASSIGNMENT=COLUMN",
        help="an assignment's column in Canvas' Gradebook, e.g. '01_creating_variables=Lab 1 (4321)'",
    )
    r.set_defaults(run=_report)

    k = sub.add_parser(
        "collect",
        help="put an LMS's submissions download (Canvas or Moodle zip) into submitted/",
        description="Collect the zip of all submissions downloaded from Canvas or Moodle into "
        "submitted/<student>/<assignment>/<notebook>.ipynb (nbgrader's zip_collect with the LMS's "
        "file names), mapping LMS identities to student ids through the roster. Every file that "
        "cannot be placed is reported; an archive with '..' paths, links or a decompression bomb is "
        "refused and nothing is collected.",
    )
    k.add_argument("assignment", help="assignment id (released in release/<assignment>/)")
    k.add_argument("zip", help="the archive downloaded from the LMS")
    k.add_argument("--lms", choices=["canvas", "moodle"], required=True, help="where the archive comes from")
    k.add_argument(
        "--roster",
        metavar="FILE",
        help="Canvas' Gradebook export or Moodle's grading worksheet (required for Moodle; "
        "without it, Canvas user ids are the student ids)",
    )
    k.add_argument(
        "--id-column",
        metavar="NAME",
        help="roster column holding the course's student ids (Canvas: SIS Login ID, Moodle: Email address)",
    )
    k.add_argument("--force", action="store_true", help="replace students already in submitted/")
    k.add_argument("--course", metavar="DIR", help="course directory (default: this repository)")
    k.add_argument("--no-progress", action="store_true", help="no progress bar")
    k.set_defaults(run=_collect)

    f = sub.add_parser(
        "feedback",
        parents=[common],
        help="per-student HTML feedback (nbgrader's GenerateFeedback) without the hidden tests' code",
        description="Render feedback/<student>/<assignment>/<notebook>.html from the autograded "
        "notebooks with nbgrader's GenerateFeedback, after removing the code between ### BEGIN "
        "HIDDEN TESTS and ### END HIDDEN TESTS. Each test's score, error and message stay.",
    )
    f.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    f.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    f.set_defaults(run=_feedback)

    d = sub.add_parser(
        "demo",
        parents=[common],
        help="synthesize a class, grade it with `grade`, write the report, print the summary",
        description="In a throw-away course (wiped first): release every assignment, synthesize a "
        "class from the solution, the blank release and the wrong answers in mutants.py "
        "(deterministic from --seed; one cheat and one broken file per assignment), grade it "
        "sandboxed, write the report and check every score is the one the answers deserve.",
    )
    d.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    d.add_argument("--workdir", default=".demo", help="throw-away course directory (default .demo)")
    d.add_argument("--students", type=int, default=30, metavar="N", help="students per assignment (30)")
    d.add_argument("--seed", type=int, default=0, help="seed of the synthetic class (0)")
    d.add_argument("--workers", type=int, metavar="N", help="parallel grading processes (default: cores)")
    d.add_argument("--no-sandbox", action="store_true", help="grade without bubblewrap (warns)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(run=_demo)

    n = sub.add_parser(
        "bench",
        parents=[common],
        help="stock nbgrader autograde vs grade (and grade --no-sandbox) on one synthetic class",
        description="Grade the same honest synthetic class with stock `nbgrader autograde` (one "
        "serial run per assignment), with `grade` and with `grade --no-sandbox`; fail unless all "
        "scores are identical per cell; print wall times, speed-up, notebooks per minute, peak "
        "memory of each process tree, the compute floor and the sandbox's cost.",
    )
    n.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    n.add_argument("--students", type=int, default=30, metavar="N", help="students per assignment (30)")
    n.add_argument("--seed", type=int, default=0, help="seed of the synthetic class (0)")
    n.add_argument("--workers", type=int, metavar="N", help="grade's workers (default: cores)")
    n.add_argument("--workdir", default=".demo/bench", help="throw-away directory (default .demo/bench)")
    n.add_argument("--no-stock", action="store_true", help="skip stock nbgrader (no speed-up)")
    n.add_argument("--no-sandbox-run", action="store_true", help="skip the --no-sandbox run")
    n.add_argument(
        "--cluster",
        metavar="local:N",
        help="also grade on a Dask LocalCluster of N workers: its cost, "
        "the coordinator's ceiling, a 2000 x 4 round projected",
    )
    n.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="the same on a running Dask cluster")
    n.add_argument(
        "--stock-per-submission",
        action="store_true",
        help="also run stock `nbgrader autograde A --student S` once per submission (slow: ~7 s each)",
    )
    n.set_defaults(run=_bench)
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
