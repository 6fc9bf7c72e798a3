"""The coordinator's ceiling: how many executed notebooks per second one process can record.

On a cluster (`autograder.distributed`) the workers execute and the coordinator does all of
nbgrader's bookkeeping, so that bookkeeping bounds how many workers are worth having.
`measure_ceiling` times exactly that: every submission of an already graded class goes through
the coordinator's path again (staging by `autograder.intake`, nbgrader's Autograde converter with
the hidden tests restored, hidden-test redaction, gradebook writes, the ``autograded/`` notebook,
the record), but its execution step is a `ReplayExecute` that hands back the notebook as that
earlier run executed it, after the same JSON round trip a worker's result takes. No kernel and
no network: what is timed is the coordinator's own work, on a copy of the course whose gradebook
is sqlite or a PostgreSQL database.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from traitlets import Dict as DictTrait
from traitlets.config import Config

from autograder.coursedir import Course, CourseError
from autograder.engine.grading import ForkExecute, Grader
from autograder.nbgrader_cli import run_nbgrader
from autograder.records import GRADED

__all__ = ["Ceiling", "ReplayExecute", "measure_ceiling"]


@dataclass(frozen=True)
class Ceiling:
    database: str  # "sqlite" or "PostgreSQL"
    notebooks: int
    seconds: float

    @property
    def per_notebook(self) -> float:
        return self.seconds / self.notebooks

    @property
    def per_second(self) -> float:
        return self.notebooks / self.seconds


class ReplayExecute(ForkExecute):
    """The Execute step, replayed: the notebook a previous run executed, decoded from JSON."""

    executed = DictTrait(help="{(student, assignment, notebook): executed notebook as JSON text}")

    def preprocess(self, nb, resources=None, km=None):
        meta = resources["nbgrader"]
        name = meta["notebook"]
        nbformat.writes(nb)  # the coordinator encodes each notebook it sends to a worker
        executed = nbformat.reads(self.executed[(meta["student"], meta["assignment"], name)], as_version=4)
        self.runs.append({"notebook": name, "cells": [], "stopped": "", "kernel_seconds": 0.0, "seconds": 0})
        return executed, resources


def measure_ceiling(
    graded: Course, workdir: Path, *, db_url: str | None = None, label: str = "sqlite"
) -> Ceiling:
    """Record every graded submission of `graded` again in a copy at `workdir` (wiped first).

    `db_url`: a fresh database to use as the copy's gradebook (its assignments are generated
    into it first, by nbgrader); None copies the sqlite gradebook as it is.
    """
    root = Path(workdir)
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(graded.root, root, ignore=shutil.ignore_patterns("autograded", "feedback"))
    config = Config(graded.config)
    executed: dict[tuple[str, str, str], str] = {}
    for path in graded.root.glob("autograded/*/*/*.ipynb"):
        executed[(path.parts[-3], path.parts[-2], path.stem)] = path.read_text()
    if not executed:
        raise CourseError(f"nothing graded in {graded.root / 'autograded'} to replay")
    assignments = sorted({a for _, a, _ in executed})
    if db_url is not None:
        config.CourseDirectory.db_url = db_url
        for a in assignments:  # the assignment, its notebooks and cells, into the new database
            run_nbgrader(root, "generate_assignment", a, "--force", f"--CourseDirectory.db_url={db_url}")
    course = Course(root, config)
    jobs = sorted({(a, s) for s, a, _ in executed})

    def replay(grader: Grader) -> ReplayExecute:
        return ReplayExecute(executed=executed, hooks=None, config=grader.config)

    with Grader(course, execute=replay, guard=False, hooks=None) as grader:
        grader.grade(*jobs[0])  # warm: first statements compiled, nbgrader's modules imported
        t0 = time.perf_counter()
        for a, s in jobs:
            result = grader.grade(a, s)
            if result.status != GRADED:
                raise CourseError(f"replaying {a}/{s} did not grade: {result.status}: {result.reason}")
        seconds = time.perf_counter() - t0
    return Ceiling(label, len(executed), seconds)


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.ceiling GRADED_COURSE WORKDIR``: one JSON line per database.

    `bench` runs it in a process of its own (it reads records and never imports the engine).
    A database that cannot be measured (no PostgreSQL server installed) is a line with an error.
    """
    import argparse
    import json
    import subprocess
    import warnings

    from autograder.pgserver import throwaway_postgres

    parser = argparse.ArgumentParser(prog="python -m autograder.ceiling")
    parser.add_argument("course", type=Path)
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="nbgrader")  # SAWarnings nbgrader's own code triggers
    graded = Course(args.course)
    measured = [measure_ceiling(graded, args.workdir / "sqlite")]
    try:
        with throwaway_postgres() as url:
            workdir = args.workdir / "postgresql"
            measured.append(measure_ceiling(graded, workdir, db_url=url, label="PostgreSQL"))
    except (CourseError, OSError, subprocess.SubprocessError) as e:
        print(json.dumps({"database": "PostgreSQL", "error": str(e).splitlines()[0]}))
    for c in measured:
        print(json.dumps({"database": c.database, "notebooks": c.notebooks, "seconds": c.seconds}))
    shutil.rmtree(args.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
