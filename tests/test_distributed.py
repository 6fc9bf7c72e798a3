"""Grading on a real Dask cluster: a `dask scheduler` and `dask worker` processes on 127.0.0.1.

The workers execute (each with its own warm, sandboxed fork server, registered by the coordinator
as a worker plugin); this process, through the CLI, does nbgrader's bookkeeping. Per-cell scores
must be stock nbgrader's (the standard class, graded once per session by stock autograde); a
worker killed mid-run loses nothing and doubles nothing; an unreachable scheduler is one line.
Everything started is stopped by process id. Fails, not skips, without `distributed`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed  # noqa: F401  (a missing `distributed` fails this module, never skips it)
import pytest
from nbgrader.api import Gradebook
from standard_class import copy_course, gradebook_scores, submit_standard_class

from autograder.coursedir import Course
from autograder.distributed import RemoteExecute
from autograder.nbgrader_cli import nbgrader_env
from autograder.records import read_record, record_path

pytestmark = [pytest.mark.slow, pytest.mark.two_cores]

A01 = "01_creating_variables"
PY = [sys.executable, "-m"]


class Cluster:
    """A scheduler and `n` workers, each a process of ours (killed by pid when done)."""

    def __init__(self, tmp: Path, workers: int) -> None:
        self.tmp, self.procs, self.file = tmp, [], tmp / "scheduler.json"
        log = open(tmp / "scheduler.log", "wb")
        self.scheduler = self._spawn(
            [*PY, "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--scheduler-file", str(self.file), "--no-dashboard"], log)  # fmt: skip
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.file.exists(), (tmp / "scheduler.log").read_text()
        self.address = json.loads(self.file.read_text())["address"]
        self.workers = [self.add_worker(i) for i in range(workers)]

    def _spawn(self, argv, log) -> subprocess.Popen:
        env = {k: v for k, v in nbgrader_env().items() if not k.startswith("NBGRADER")}  # no secrets
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp, env=env,
                             start_new_session=True)  # fmt: skip
        self.procs.append(p)
        return p

    def add_worker(self, i: int) -> subprocess.Popen:
        log = open(self.tmp / f"worker{i}.log", "wb")
        return self._spawn(
            [*PY, "distributed.cli.dask_worker", "--scheduler-file", str(self.file), "--nthreads", "1",
             "--no-dashboard", "--no-nanny", "--local-directory", str(self.tmp / f"w{i}")], log)  # fmt: skip

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"), workers=2)
    yield c
    c.stop()


def grade(course: Course, *args: str) -> subprocess.CompletedProcess:
    cmd = [*PY, "autograder", "grade", A01, "--course", str(course.root), "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=nbgrader_env(), timeout=1200)


def test_the_standard_class_on_the_cluster_with_a_worker_killed_mid_run_scores_as_stock_nbgrader(
    cluster, built_course, standard_class, tmp_path
):
    """Graded through the CLI on the cluster while one worker is killed -9 mid-notebook: every
    submission recorded once, per-cell scores identical to stock nbgrader's."""
    course = copy_course(built_course, tmp_path / "course")
    submit_standard_class(course)
    students = ["solution", "blank", "mistakes"]
    proc = subprocess.Popen(
        [*PY, "autograder", "grade", A01, "--course", str(course.root), "--no-progress",
         "--scheduler", cluster.address], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=nbgrader_env())  # fmt: skip
    # nbgrader writes the sanitized notebook before it sends it to the cluster to run
    started = course.root / "autograded"
    deadline = time.monotonic() + 600
    while not list(started.glob(f"*/{A01}/*.ipynb")) and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)  # three notebooks, two workers: both are running one
    victim = cluster.workers[0]
    os.killpg(victim.pid, signal.SIGKILL)
    cluster.workers[0] = cluster.add_worker(2)  # the cluster carries on with a new worker
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    assert "with the Dask cluster" in out, out[-2000:]
    with Gradebook(course.db_url, "tf-variables") as gb:
        subs = sorted(s.student.id for s in gb.find_assignment(A01).submissions)
    assert subs == sorted(students)  # each recorded once
    cd = course.coursedir()
    assert all(read_record(record_path(cd, A01, s)).status == "graded" for s in students)
    ours = {k: v for k, v in gradebook_scores(course).items() if k[0] == A01}
    stock = {k: v for k, v in gradebook_scores(standard_class.course).items() if k[0] == A01}
    assert ours == stock and len(ours) > 10


def test_an_unreachable_scheduler_is_one_line(built_course, tmp_path):
    course = copy_course(built_course, tmp_path / "course")
    submit_standard_class(course)
    r = grade(course, "--scheduler", "tcp://127.0.0.1:9")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_a_task_carries_one_notebook_and_its_data_files_only(tmp_path):
    """What a worker receives: the prepared notebook, the files beside it, the run settings; no
    database URL, no course folder, no other student's work."""
    import nbformat

    sent = []

    class Client:
        def submit(self, fn, payload, **kw):
            sent.append(payload)
            raise RuntimeError("not a cluster")

        status = "running"

        def scheduler_info(self, **kw):
            return {"workers": {}}

    folder = tmp_path / "autograded" / "ann" / A01
    folder.mkdir(parents=True)
    (folder / "data.csv").write_text("a\n1\n")
    (folder / "other.ipynb").write_text("{}")
    (folder / ".hidden").write_text("x")
    config = Course.repo().config
    ex = RemoteExecute(client=Client(), config=config)
    ex.runs = []
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(Exception, match="not a cluster"):
        ex.preprocess(nb, {"metadata": {"path": str(folder)}, "nbgrader": {"notebook": "nb"}})
    (payload,) = sent
    assert set(payload) == {"name", "notebook", "files", "config", "guard"}
    assert payload["files"] == {"data.csv": b"a\n1\n"}
    text = json.dumps({k: v for k, v in payload.items() if k != "files"})
    assert "gradebook" not in text and "db_url" not in text and "sqlite" not in text
