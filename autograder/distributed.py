"""Grade a class on a Dask cluster: the workers execute notebooks, this process records them.

A course of 1,000-2,000 students hands in thousands of notebooks per round; one machine takes
hours. Dask distributed runs the same way on a laptop (`LocalCluster`), on Slurm/PBS
(dask-jobqueue), on Kubernetes (dask-kubernetes) or behind a JupyterHub (dask-gateway), so
``python -m autograder grade --scheduler tcp://HOST:8786`` (or ``--cluster local:N``) uses it as
it is: no scheduler of our own.

Split of duties:

* **Workers only execute.** `GradingPlugin`, registered by the coordinator on every worker (those
  that join later too), starts one warm, sandboxed fork server per worker for its lifetime
  (`autograder.engine`: bubblewrap, a fresh isolated kernel per notebook, the tamper guard). A
  task (`execute_on_worker`) receives one notebook as nbgrader prepared it (hidden tests already
  restored) and the assignment's data files, runs it, and returns the executed notebook and the
  run's facts (cell times, how it stopped, what the guard saw). A worker that cannot sandbox
  refuses to start grading, with the reason; ``--isolation container`` is for clusters whose
  pods are the sandbox (README: what the pod must then enforce).
* **The coordinator (this process) does all of nbgrader's bookkeeping**: it stages each
  submission (`autograder.intake`), runs nbgrader's Autograde converter with `RemoteExecute`
  as its execution step, cuts hidden-test text out of the outputs, writes ``autograded/`` and
  is the only writer of the gradebook (sqlite or PostgreSQL). Workers never receive database
  credentials, the course's ``source/``, or another student's work: one notebook and its data
  files per task.

Faults. A worker killed mid-notebook: Dask runs the task again on another worker; the
coordinator records the submission once, when a result comes back. The scheduler unreachable at
start: a one-line error (exit 2). The scheduler gone mid-run: the batch stops (nothing more is
sent), the submissions it could not finish are left unrecorded or recorded as grader errors,
and running the same command again grades only those (`autograder.records`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from distributed.diagnostics.plugin import WorkerPlugin
from traitlets import Any as AnyTrait
from traitlets.config import Config

from autograder.coursedir import Course, CourseError
from autograder.engine.grading import ForkExecute, Grader
from autograder.engine.kernels import ForkServerError
from autograder.engine.sandbox import Box, SandboxPolicy, require_bwrap

__all__ = [
    "ClusterLost",
    "GradingPlugin",
    "RemoteExecute",
    "connect",
    "execute_on_worker",
    "grade_on_cluster",
    "parse_cluster",
]

PLUGIN_NAME = "autograder-grading"
# A LocalCluster shares its machine with the kernels it grades, so Dask's own periodic work is CPU
# taken from the notebooks' cells: the worker profiler (a stack sample every 10 ms), the event
# loops' 20 ms tick, the 0.5 s system monitor, the 0.1 s memory polls, work stealing (pointless
# with one task per coordinator in flight). Idle, two workers: 5.9 % -> 1.1 % of one core.
# Nothing here uses the dashboard these feed; a cluster started by hand keeps its own settings.
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing": False,
}
CONNECT_TIMEOUT = "10s"
# Sections of the course's configuration a worker needs to run a notebook like the local grader.
RUN_SECTIONS = ("Execute", "NotebookRunner", "ExecutePreprocessor", "NotebookClient")


class ClusterLost(RuntimeError):
    """The scheduler (or every worker) went away: stop, rerun later to grade the rest."""


@dataclass(frozen=True)
class ClusterSpec:
    address: str | None = None  # a running scheduler, "tcp://host:8786"
    local_workers: int = 0  # or a LocalCluster of this many workers


def parse_cluster(scheduler: str | None, cluster: str | None) -> ClusterSpec | None:
    """``--scheduler tcp://HOST:PORT`` or ``--cluster local:N`` (one of them), or None."""
    if scheduler and cluster:
        raise CourseError("give --scheduler or --cluster, not both")
    if scheduler:
        return ClusterSpec(address=scheduler)
    if cluster:
        kind, _, n = cluster.partition(":")
        if kind != "local" or not n.isdigit() or int(n) < 1:
            raise CourseError(f"--cluster takes local:N (N workers on this machine), not {cluster!r}")
        return ClusterSpec(local_workers=int(n))
    return None


def connect(spec: ClusterSpec, plugin: GradingPlugin):
    """(client, cluster or None), with `plugin` on every worker. A scheduler that cannot be
    reached is a one-line CourseError; so is a worker that cannot grade."""
    from distributed import Client, LocalCluster

    if spec.address:
        try:
            client = Client(spec.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as e:
            raise CourseError(f"cannot reach the Dask scheduler at {spec.address}: {e}") from None
        _register(client, plugin)
        return client, None
    import dask

    # The plugin is given to the workers as they start (their fork servers import TensorFlow
    # while the rest starts up), not registered afterwards: registering it again would tear the
    # warming fork servers down.
    try:
        with dask.config.set(LOCAL_CLUSTER_CONFIG):  # (the nannies hand it to their workers)
            cluster = LocalCluster(
                n_workers=spec.local_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                plugins={plugin},
            )
    except Exception as e:  # e.g. a worker's plugin could not start its sandboxed fork server
        raise CourseError(f"cannot start a local Dask cluster: {type(e).__name__}: {e}") from None
    return Client(cluster, set_as_default=False), cluster


def _register(client, plugin: GradingPlugin) -> None:
    try:
        client.register_plugin(plugin)
    except CourseError:
        raise
    except Exception as e:
        raise CourseError(f"a Dask worker cannot grade: {type(e).__name__}: {e}") from None


# --- workers ----------------------------------------------------------------------------------------


class GradingPlugin(WorkerPlugin):
    """A Dask worker plugin: one warm, sandboxed fork server per worker, for its lifetime."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, policy: SandboxPolicy, preload: list[str], env: dict[str, str]) -> None:
        self.policy, self.preload, self.env = policy, list(preload), dict(env)
        self.server = None
        self.workdir: str | None = None

    def setup(self, worker=None) -> None:
        from autograder.engine.kernels import ForkServer

        if self.policy.enabled:
            require_bwrap()  # a worker that cannot sandbox refuses work, with the reason
        self.workdir = tempfile.mkdtemp(prefix="autograder-worker-")
        # The worker knows no course: nothing of one is on its disk to hide (an empty folder).
        nothing = Path(self.workdir) / "course"
        nothing.mkdir()
        box = Box.create(self.policy, nothing, Path(self.workdir) / "box", env=self.env)
        self.server = ForkServer(**box.fork_server_options(self.preload))
        self.server.start(wait=False)  # the imports happen while the first task travels

    def teardown(self, worker=None) -> None:
        if self.server is not None:
            self.server.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _plugin() -> GradingPlugin:
    from distributed import get_worker

    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if plugin is None:
        raise RuntimeError("this worker has no autograder plugin: the coordinator registers it")
    return plugin


def execute_on_worker(payload: dict[str, Any]) -> dict[str, Any]:
    """A Dask task: run one prepared notebook in a fresh sandboxed kernel; see the module docstring."""
    from distributed import get_worker

    from autograder.engine.guard import GuardHooks

    plugin = _plugin()
    hooks = GuardHooks(tuple(plugin.preload)) if payload["guard"] else None
    with tempfile.TemporaryDirectory(prefix="nb-", dir=plugin.workdir) as folder:
        for rel, data in payload["files"].items():
            target = Path(folder, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        execute = ForkExecute(kernels=plugin.server, hooks=hooks, config=Config(payload["config"]))
        execute.runs = []
        nb = nbformat.reads(payload["notebook"], as_version=4)
        resources = {"metadata": {"path": folder}, "nbgrader": {"notebook": payload["name"]}}
        try:
            nb, _ = execute.preprocess(nb, resources)
        except ForkServerError as e:  # not the notebook's fault: Dask may run it again elsewhere
            raise RuntimeError(f"worker {get_worker().address}: {e}") from None
    return {
        "notebook": nbformat.writes(nb),
        "runs": execute.runs,
        "kernel_error": execute.kernel_error,
        "findings": list(hooks.findings) if hooks else [],
        "worker": get_worker().address,
    }


# --- the coordinator ----------------------------------------------------------------------------------


class RemoteExecute(ForkExecute):
    """The Execute step of the coordinator's nbgrader converter: the notebook runs on a worker."""

    client = AnyTrait(None, allow_none=True, help="a distributed.Client")
    guard = AnyTrait(True)

    def preprocess(self, nb, resources=None, km=None):
        resources = resources or {}
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        name = resources.get("nbgrader", {}).get("notebook", "")
        payload = {
            "name": name,
            "notebook": nbformat.writes(nb),
            "files": _data_files(folder),
            "config": {k: dict(self.config[k]) for k in RUN_SECTIONS if k in self.config},
            "guard": bool(self.guard),
        }
        future = self.client.submit(execute_on_worker, payload, pure=False, retries=1)
        try:
            out = future.result()
        except Exception as e:
            if _lost(self.client):
                self.kernel_error = f"{LOST}: {type(e).__name__}: {e}"
                raise ClusterLost(self.kernel_error) from None
            self.kernel_error = f"on the cluster: {type(e).__name__}: {e}"
            raise ForkServerError(self.kernel_error) from None
        executed = nbformat.reads(out["notebook"], as_version=4)
        self.runs.extend(out["runs"])
        self.kernel_error = out["kernel_error"]
        if self.hooks is not None and hasattr(self.hooks, "findings"):
            self.hooks.findings.extend(out["findings"])
        return executed, resources


def _data_files(folder: Path) -> dict[str, bytes]:
    """The assignment's files beside the notebook (regular files only; no notebooks, no dot files):
    what the kernel's working directory gets, as `autograder.engine.execute` seeds it locally."""
    out = {}
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if p.is_symlink() or not p.is_file() or p.suffix == ".ipynb":
                continue
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            out[rel.as_posix()] = p.read_bytes()
    return out


def _lost(client) -> bool:
    try:
        return client.status != "running" or not client.scheduler_info(n_workers=0)
    except Exception:
        return True


def grade_on_cluster(
    course: Course, todo: list, spec: ClusterSpec, *, hooks, config, record, sandbox: SandboxPolicy
) -> None:
    """Grade the jobs `todo` (batch.Job) on the cluster; `record(result)` for each, as it comes.

    Coordinator processes (one per worker slot, at most `MAX_COORDINATORS`) each run nbgrader's
    converter for one submission at a time and wait for its notebooks on the cluster. Processes,
    not threads: nbgrader sets ``NBGRADER_EXECUTION`` in the process environment around each
    autograde. Raises ClusterLost when the scheduler goes away (what was not finished is left).
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from autograder.engine.kernels import Kernels

    settings = Kernels(config=course.config)
    client, cluster = connect(spec, GradingPlugin(sandbox, list(settings.preload), dict(settings.env)))
    try:
        slots = sum(client.nthreads().values()) or 1
        address = client.scheduler.address
        n = max(1, min(slots, MAX_COORDINATORS, len(todo)))
        ctx = multiprocessing.get_context("spawn")
        args = (course, config, hooks, sandbox, address)
        with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_coordinator, initargs=args) as pool:
            pending = {pool.submit(_grade_remotely, job) for job in todo}
            lost = ""
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    result = fut.result()
                    if result.reason.startswith(LOST):
                        lost = lost or result.reason
                    else:
                        record(result)
                if lost:
                    for fut in pending:
                        fut.cancel()
                    pending = {f for f in pending if not f.cancelled()}
            if lost:
                raise ClusterLost(lost)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


MAX_COORDINATORS = 16
LOST = "the Dask cluster went away"
_grader: Grader | None = None


def _init_coordinator(course: Course, config, hooks, sandbox: SandboxPolicy, address: str) -> None:
    """In each coordinator process: a Grader whose notebooks run on the cluster at `address`."""
    import atexit

    from distributed import Client

    from autograder.batch import _quiet_warnings, _set_pdeathsig

    global _grader
    _set_pdeathsig()
    _quiet_warnings()
    client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    guard = hooks is None

    def execute(grader: Grader):
        return RemoteExecute(client=client, guard=guard, hooks=grader.hooks, config=grader.config)

    h = hooks() if callable(hooks) else hooks
    _grader = Grader(course, config=config, hooks=h, sandbox=sandbox, execute=execute)
    atexit.register(client.close)


def _grade_remotely(job):
    from autograder.batch import _safe_grade

    assert _grader is not None
    return _safe_grade(_grader, job)
