"""Fresh kernels, fast: each notebook gets a new IPython kernel process forked from a fork server.

A `ForkServer` is a long-lived process (`autograder.engine.forkserver`) that imported TensorFlow, Keras,
NumPy and matplotlib once; it forks one child per kernel, and the child becomes an ordinary
``ipykernel`` kernel (~0.4 s instead of ~3.6 s for ``python -m ipykernel_launcher`` plus
``import tensorflow``). Every notebook still runs in its own fresh process, in its own session,
with its own private scratch directory as working directory.

jupyter_client drives such a kernel like any other: `ForkKernelManager` is an
``AsyncKernelManager`` whose provisioner (`ForkProvisioner`) launches kernels through the fork
server instead of ``subprocess.Popen``. So nbclient (and nbgrader's Execute preprocessor) run
cells, interrupt, detect a dead kernel and shut it down through the usual API::

    with ForkServer() as server:
        km = server.kernel_manager()
        nbclient.NotebookClient(nb, km=km).execute()

Transport is ``ipc`` (sockets and connection files in ``server.runtime_dir``), interrupts are
messages on the control channel (``interrupt_mode = "message"``): both work inside a sandbox
where the kernel sees neither the grader's processes nor its network.

Hook points (for `autograder.engine.sandbox`):

* ``ForkServer(prefix=[...])``: the server is started as ``[*prefix, python, -m,
  autograder.engine.forkserver, ...]``, so ``prefix`` can be a ``bwrap ... --`` command line;
  ``workdir`` (holding ``scratch/`` and ``run/``) is known before the server starts, to bind it;
  ``env`` is the server's environment (the kernels start from it).
* ``ForkServer(child_hook=f)``: ``f()`` is called in every kernel child right after the fork,
  before its working directory and any student code exist (resource limits). It is pickled to
  the server, so it must be a module-level function or a ``functools.partial`` of one, in a
  module light to import (the server imports it, and every kernel forked after inherits that).
* ``ForkServer(prepare_guard=True)``: the server records its libraries for the tamper guard
  (`autograder.engine.guard_kernel.prepare`) once, after its imports and warm-up, before it forks.
* ``ForkServer(kernel_isolation=g)``: ``g(scratch, runtime)`` prepares a kernel's own
  directories (in the grader's process) and returns the spec the child walls itself off with
  (`autograder.engine.isolation`): a sandbox's `Sandbox.kernel_isolation`.

Each kernel has two directories of its own: ``scratch/k<id>/`` (its working directory and HOME)
and ``run/k<id>/`` (its ipc sockets and connection file).

Failures handled here: a kernel that dies (``os._exit``, segfault, OOM kill) is seen through its
pidfd (``is_alive`` turns False within nbclient's 1 s poll, with `exit_description` saying how it
ended); a kernel that ignores interrupts is killed with its whole process group; a fork server
that died is restarted by the next `ForkServer.fork`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pickle
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager, _get_future
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any as AnyTrait
from traitlets import Dict, DottedObjectName, List, Type, Unicode
from traitlets.config import Configurable

from autograder.engine.forkserver import MAX_MESSAGE

__all__ = [
    "ForkKernelManager",
    "ForkProvisioner",
    "ForkServer",
    "ForkServerError",
    "ForkedProcess",
    "Kernels",
    "describe_exit",
]


class Kernels(Configurable):
    """What every grading kernel starts with: ``c.Kernels.*`` in nbgrader_config.py."""

    preload = List(
        Unicode(),
        help="Modules each kernel starts with already imported: the fork server imports them once "
        "(e.g. tensorflow, which takes seconds), every kernel forked from it has them for free.",
    ).tag(config=True)
    env = Dict(
        value_trait=Unicode(),
        help="Environment variables of every kernel (and of the fork server, so its imports see them).",
    ).tag(config=True)


class ForkServerError(RuntimeError):
    """The fork server could not be started or does not answer (a grader problem, not a student's)."""


def describe_exit(exitcode: int | None) -> str:
    """'exited with status 3', 'was killed by signal 9 (SIGKILL)', or 'ended' when unknown."""
    if exitcode is None:
        return "ended"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "?"
        hint = " (out of memory, or killed)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by signal {-exitcode} ({name}){hint}"
    return f"exited with status {exitcode}"


@dataclass
class ForkedProcess:
    """A kernel process forked by the server: its pid there, and a pidfd to watch and signal it."""

    pid: int  # in the server's PID namespace (equal to the host pid when not sandboxed)
    pidfd: int

    def alive(self) -> bool:
        if self.pidfd < 0:
            return False
        ready, _, _ = select.select([self.pidfd], [], [], 0)
        return not ready  # a pidfd becomes readable when the process ends

    def send_signal(self, sig: int) -> bool:
        if self.pidfd < 0:
            return False
        try:
            signal.pidfd_send_signal(self.pidfd, sig)
            return True
        except ProcessLookupError:
            return False

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def _rmtree(path: Path) -> None:
    """Remove a kernel's scratch directory even if the student chmod-ed things read-only.

    Only what is inside `path` is made writable: when `path` itself cannot be removed, its parent
    (``/tmp``, shared with everyone) keeps its mode."""
    root = os.path.abspath(path)

    def onerror(func, p, _exc):
        try:
            parent = os.path.dirname(os.path.abspath(p))
            if parent == root or parent.startswith(root + os.sep):
                os.chmod(parent, stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    if path.exists():
        shutil.rmtree(path, onerror=onerror)


OWNER_FILE = ".owner"  # "<pid> <start time>" of the process that uses a work directory


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _write_owner(workdir: Path) -> None:
    try:
        (workdir / OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid())}")
    except OSError:
        pass


def remove_stale_workdirs(parent: str | Path | None = None, pattern: str = "autograder-*") -> int:
    """Remove work directories left by graders that were killed (kill -9 cannot clean up).

    Only directories with an owner file whose process is gone are removed. Returns how many.
    """
    removed = 0
    for d in Path(parent or tempfile.gettempdir()).glob(pattern):
        try:
            pid, start = (d / OWNER_FILE).read_text().split()
        except (OSError, ValueError):
            continue
        if _process_start(int(pid)) == start:  # still running (same pid, same start time)
            continue
        _rmtree(d)
        removed += 1
    return removed


class ForkServer:
    """Client handle of one fork-server process (started on first use, restarted if it dies).

    Thread-safe: requests are serialized. One server serves kernels one after another or
    side by side; a batch worker owns one. Use as a context manager or call `close()`.
    """

    def __init__(
        self,
        *,
        workdir: str | Path | None = None,
        prefix: Sequence[str] = (),
        preload: Sequence[str] = (),
        prepare_guard: bool = False,
        child_hook: Callable[[], Any] | None = None,
        kernel_isolation: Callable[[Path, Path], dict] | None = None,
        env: dict[str, str] | None = None,
        fixed_env: bool = False,
        python: str = sys.executable,
        startup_timeout: float = 180.0,
        request_timeout: float = 30.0,
    ) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="autograder-")).resolve()
        self.scratch_dir = self.workdir / "scratch"  # one subdirectory per kernel: its cwd
        self.runtime_dir = self.workdir / "run"  # connection files and ipc sockets
        for d in (self.scratch_dir, self.runtime_dir):
            d.mkdir(parents=True, exist_ok=True)
            if self._own_workdir:
                os.chmod(d, 0o700)
        _write_owner(self.workdir)
        remove_stale_workdirs()
        self.prefix = list(prefix)
        self.preload = list(preload)
        self.prepare_guard = prepare_guard
        self.child_hook = child_hook
        self.kernel_isolation = kernel_isolation
        self.env = dict(os.environ if env is None else env)
        # fixed_env: every kernel gets exactly `env` (a sandbox's), never its kernel manager's
        # (which is the grader's own environment).
        self.fixed_env = fixed_env
        self.python = python
        self.startup_timeout = startup_timeout
        self.request_timeout = request_timeout
        self.log_file = self.workdir / "forkserver.log"
        self.starts = 0  # how many times a server process was started (restarts = starts - 1)
        self.startup_seconds: float | None = None
        self.preload_errors: dict[str, str] = {}
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._lock = threading.RLock()
        self._closed = False
        self._ready = False
        self._started_at = 0.0

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        """The command line of the server process (without the --fd argument)."""
        server = [self.python, "-m", "autograder.engine.forkserver", "--preload", ",".join(self.preload)]
        return [*self.prefix, *server, *(["--prepare-guard"] if self.prepare_guard else [])]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._sock is not None

    def start(self, wait: bool = True) -> None:
        """Start the server process; with `wait`, until it has imported the preloaded modules.

        ``start(wait=False)`` returns at once (the import goes on in the background); the first
        request then waits for it.
        """
        with self._lock:
            if self._closed:
                raise ForkServerError("fork server is closed")
            self._stop()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._started_at = time.monotonic()
            try:
                with open(self.log_file, "ab") as log:
                    self._proc = subprocess.Popen(
                        [*self.argv, "--fd", str(theirs.fileno())],
                        pass_fds=[theirs.fileno()],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=self.env,
                        cwd=self.workdir,
                    )
            except OSError as e:
                ours.close()
                raise ForkServerError(f"cannot start the fork server {self.argv}: {e}") from None
            finally:
                theirs.close()
            self._sock = ours
            self._ready = False
            self.starts += 1
            if wait:
                self._wait_ready()

    def _wait_ready(self) -> None:
        if self._ready:
            return
        try:
            ready = self._recv(timeout=max(1.0, self._started_at + self.startup_timeout - time.monotonic()))
        except ForkServerError as e:
            self._stop()
            raise ForkServerError(f"{e}; log: {self.log_tail()}") from None
        self._ready = True
        self.startup_seconds = time.monotonic() - self._started_at
        self.preload_errors = ready.get("errors", {})

    def ensure_running(self) -> None:
        with self._lock:
            if not self.alive:
                self.start()

    def wait_started(self) -> None:
        """Until the server runs with its preloaded modules imported (starting it if it is not
        running). A server that fails to start is left to `fork`, which retries once and raises."""
        with self._lock:
            try:
                self.ensure_running()
                self._wait_ready()
            except ForkServerError:
                pass

    def close(self) -> None:
        """Stop the server (it kills the kernels it forked) and remove its workdir if we made it."""
        with self._lock:
            self._closed = True
            self._stop()
            if self._own_workdir:
                _rmtree(self.workdir)

    def _stop(self) -> None:
        sock, proc = self._sock, self._proc
        self._sock = self._proc = None
        if sock is not None:
            sock.close()  # EOF: the server kills its kernels and exits
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._sock is not None:
                self._sock.close()
        except Exception:
            pass

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"

    # --- messages ----------------------------------------------------------------------------

    def _recv(self, timeout: float, want_fds: int = 0) -> dict:
        assert self._sock is not None
        self._sock.settimeout(timeout)
        try:
            if want_fds:
                data, fds, _flags, _addr = socket.recv_fds(self._sock, MAX_MESSAGE, want_fds)
            else:
                data, fds = self._sock.recv(MAX_MESSAGE), []
        except TimeoutError:
            raise ForkServerError(f"fork server (pid {self.pid}) did not answer in {timeout:g} s") from None
        except OSError as e:
            raise ForkServerError(f"fork server connection failed: {e}") from None
        if not data:
            code = self._proc.poll() if self._proc else None
            raise ForkServerError(f"fork server {describe_exit(code)}")
        reply = json.loads(data)
        if fds:
            reply["_fds"] = fds
        return reply

    def _request(self, req: dict, *, want_fds: int = 0, timeout: float | None = None) -> dict:
        with self._lock:
            if not self.alive:
                raise ForkServerError("fork server is not running")
            self._wait_ready()
            try:
                self._sock.send(pickle.dumps(req))
                return self._recv(timeout or self.request_timeout, want_fds)
            except (ForkServerError, OSError) as e:
                self._stop()  # a server that failed once is not trusted again: restart it next time
                raise ForkServerError(str(e)) from None

    def ping(self) -> dict:
        return self._request({"op": "ping"})

    def fork(
        self,
        *,
        kernel_id: str,
        cwd: Path,
        connection_info: dict,
        connection_file: Path,
        kernel_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> ForkedProcess:
        """Fork a kernel child. Starts (or restarts, once) the server if it is not running.

        `cwd` and the directory of `connection_file` are the kernel's own (see the module
        docstring); they are made here, before the fork.
        """
        runtime = Path(connection_file).parent
        if self.kernel_isolation is not None:
            isolation = self.kernel_isolation(Path(cwd), runtime)
        else:
            isolation = None
            for d in (Path(cwd), runtime):
                d.mkdir(mode=0o700, exist_ok=True)
        req = {
            "op": "fork",
            "kernel_id": kernel_id,
            "cwd": str(cwd),
            "connection_info": connection_info,
            "connection_file": str(connection_file),
            "kernel_args": list(kernel_args),
            "env": dict(self.env if env is None or self.fixed_env else env),
            "child_hook": self.child_hook,
            "isolation": isolation,
        }
        with self._lock:
            for attempt in (1, 2):
                try:
                    self.ensure_running()
                    reply = self._request(req, want_fds=1)
                    break
                except ForkServerError:
                    if attempt == 2:
                        raise
        fds = reply.pop("_fds", [])
        if not reply.get("ok") or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ForkServerError(f"fork failed: {reply.get('error', reply)}")
        return ForkedProcess(pid=int(reply["pid"]), pidfd=fds[0])

    def signal_group(self, pid: int, sig: int) -> bool:
        """Signal a kernel's whole process group (the kernel and what it started); best effort."""
        try:
            return bool(self._request({"op": "signal", "pid": pid, "sig": int(sig)}).get("ok"))
        except ForkServerError:
            return False

    def exitcode(self, pid: int) -> int | None:
        """How a kernel ended (`os.waitstatus_to_exitcode`), None if running or unknown."""
        try:
            return self._request({"op": "status", "pid": pid}).get("exitcode")
        except ForkServerError:
            return None

    def kernel_manager(self, **kwargs) -> ForkKernelManager:
        """A kernel manager whose kernels this server forks (pass it to nbclient as `km`)."""
        return ForkKernelManager(fork_server=self, **kwargs)


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel through a `ForkServer` and watches it through a pidfd."""

    fork_server: ForkServer | None = None
    forked: ForkedProcess | None = None
    scratch: Path | None = None
    runtime: Path | None = None  # the kernel's own ipc sockets and connection file
    kernel_file: Path | None = None
    exitcode: int | None = None

    @property
    def has_process(self) -> bool:
        return self.forked is not None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        server = self.fork_server
        assert km is not None and server is not None
        short = self.kernel_id.replace("-", "")[:12]
        km.transport = "ipc"
        self.runtime = server.runtime_dir / f"k{short}"
        km.ip = str(self.runtime / "ipc")
        km.cache_ports = False
        km.connection_file = str(server.runtime_dir / f"k{short}.json")  # the client's copy
        self.kernel_file = self.runtime / "kernel.json"
        self.scratch = server.scratch_dir / f"k{short}"
        kwargs.pop("cwd", None)  # the kernel works in its private scratch directory instead
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict:
        # cmd is the kernel spec's argv, formatted: [python, -m, ipykernel_launcher, -f, FILE, ...]
        args = list(cmd[cmd.index("ipykernel_launcher") + 1 :]) if "ipykernel_launcher" in cmd else []
        if "-f" in args:  # the child writes its own connection file (it may run as another user)
            i = args.index("-f")
            del args[i : i + 2]
        info = dict(self.connection_info)
        for k, v in info.items():
            if isinstance(v, bytes):
                info[k] = v.decode()
        assert self.fork_server is not None and self.scratch is not None
        self.forked = self.fork_server.fork(
            kernel_id=self.kernel_id,
            cwd=self.scratch,
            connection_info=info,
            connection_file=self.kernel_file,
            kernel_args=args,
            env=kwargs.get("env"),
        )
        self.pid = self.pgid = self.forked.pid
        self.exitcode = None
        return self.connection_info

    async def poll(self) -> int | None:
        if self.forked is None:
            return self.exitcode if self.exitcode is not None else 0
        if self.forked.alive():
            return None
        if self.exitcode is None:
            code = self.fork_server.exitcode(self.forked.pid) if self.fork_server else None
            for _ in range(20):  # the server reaps on SIGCHLD: give it a moment
                if code is not None:
                    break
                await asyncio.sleep(0.01)
                code = self.fork_server.exitcode(self.forked.pid)
            self.exitcode = code if code is not None else -signal.SIGKILL
        return self.exitcode

    async def wait(self) -> int | None:
        while await self.poll() is None:
            await asyncio.sleep(0.05)
        code = await self.poll()
        if self.forked is not None:
            self.forked.close()
            self.forked = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.forked is None:
            return
        # The group first (the kernel's subprocesses), then the kernel itself through its pidfd,
        # which works even when the server is gone.
        if self.fork_server is not None and self.fork_server.alive:
            self.fork_server.signal_group(self.forked.pid, signum)
        self.forked.send_signal(signum)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        if self.forked is not None and not self.forked.alive():
            await self.wait()
        for path in (self.kernel_file,):
            if path is not None:
                try:
                    path.unlink()
                except OSError:
                    pass
        if not restart:
            for d in (self.scratch, self.runtime):
                if d is not None:
                    _rmtree(d)

    def exit_description(self) -> str:
        return describe_exit(self.exitcode)

    def resolve_path(self, path_str: str) -> str | None:
        path = Path(path_str).expanduser()
        if not path.is_absolute() and self.scratch:
            path = self.scratch / path
        return str(path) if path.exists() else None


class ForkKernelClient(AsyncKernelClient):
    """An AsyncKernelClient whose `wait_for_ready` does not idle, and whose next `execute` can
    carry extra user expressions.

    jupyter_client's version ends by waiting for 0.2 s of silence on IOPub, a third of a forked
    kernel's start. Here: the kernel is ready when it answered kernel_info on the shell channel
    AND a message came through IOPub (so the subscription is live: no output can be lost); what
    is already queued on IOPub is then drained without waiting.

    `next_user_expressions`: merged into the next `execute` request, then cleared. nbclient sends
    a cell with ``kc.execute(source, ...)`` and no expressions; the runner's hooks ride on it this
    way (see `autograder.engine.execute.ExecutionHooks.fold`) instead of costing a request each.
    """

    next_user_expressions: dict[str, str] | None = None

    def execute(self, code, silent=False, store_history=True, user_expressions=None, allow_stdin=None,
                stop_on_error=True):  # fmt: skip
        extra, self.next_user_expressions = self.next_user_expressions, None
        if extra:
            user_expressions = {**(user_expressions or {}), **extra}
        return super().execute(code, silent, store_history, user_expressions, allow_stdin, stop_on_error)

    def _context_default(self) -> zmq.asyncio.Context:
        # The client connects before the kernel has bound its sockets; zmq retries every 100 ms
        # by default, which was half of a forked kernel's start (jupyter_client gives each client
        # a context of its own: the manager's setting does not reach these sockets).
        context = super()._context_default()
        context.setsockopt(zmq.RECONNECT_IVL, 10)
        return context

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=0.5)
            except Empty:
                msg = None
            if msg is not None and msg["msg_type"] == "kernel_info_reply":
                try:
                    await self.iopub_channel.get_msg(timeout=0.2)
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(msg)
                    break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while True:
            try:
                await self.iopub_channel.get_msg(timeout=0)
            except Empty:
                break


_SPEC = KernelSpec(
    # No history database: it would keep every cell's source (hidden tests included) in a file
    # the notebook can read; IPython's in-memory history (In, _ih) still works.
    argv=["python", "-m", "ipykernel_launcher", "-f", "{connection_file}", "--HistoryManager.enabled=False"],
    display_name="Python 3 (ipykernel, forked)",
    language="python",
    interrupt_mode="message",
    metadata={},
)


def _without_test_sleep(decorated):
    """jupyter_client's ``in_pending_state`` (the manager's `ready` future, done when the method
    is) without the 10 ms it sleeps after every start and shutdown "to ensure tests can capture
    the state": 20 ms of idle per notebook."""
    method = decorated.__wrapped__

    @functools.wraps(method)
    async def wrapper(self, *args: Any, **kwargs: Any) -> Any:
        if self._attempted_start or not self._ready:
            self._ready = _get_future()
        try:
            out = await method(self, *args, **kwargs)
        except Exception as e:
            self._ready.set_exception(e)
            self.log.exception(self._ready.exception())
            raise
        if self.owns_kernel:
            self._ready.set_result(None)
        return out

    return wrapper


class ForkKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernel is forked by a `ForkServer` (``fork_server=``).

    Whatever kernel name the notebook asks for, the kernel is this Python's ipykernel: the
    course's notebooks all use ``python3``.
    """

    fork_server = AnyTrait(allow_none=False)
    client_class = DottedObjectName("autograder.engine.kernels.ForkKernelClient")
    client_factory = Type(ForkKernelClient, klass=AsyncKernelClient)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_name", "python3")
        super().__init__(**kwargs)
        self.transport = "ipc"
        self.shutdown_wait_time = 2.0
        # (the manager's own sockets, e.g. control for interrupts: see ForkKernelClient's context)
        self.context.setsockopt(zmq.RECONNECT_IVL, 10)

    @property
    def kernel_spec(self) -> KernelSpec:
        spec = KernelSpec(**_SPEC.to_dict())
        spec.name = self.kernel_name or "python3"
        return spec

    _async_start_kernel = _without_test_sleep(AsyncKernelManager._async_start_kernel)
    _async_shutdown_kernel = _without_test_sleep(AsyncKernelManager._async_shutdown_kernel)
    start_kernel = _async_start_kernel
    shutdown_kernel = _async_shutdown_kernel

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # After a kill, jupyter_client looks every 100 ms whether the kernel is gone; a forked
        # kernel is gone a few ms after SIGKILL, and that wait was a fifth of a notebook's overhead.
        await super()._async_wait(pollinterval=0.005)

    async def _async_pre_start_kernel(self, **kw: Any):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
        if self.provisioner is None:
            self.provisioner = ForkProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
            self.provisioner.fork_server = self.fork_server
        return await super()._async_pre_start_kernel(**kw)

    @property
    def scratch_dir(self) -> Path | None:
        """The kernel's working directory (exists while the kernel runs)."""
        return self.provisioner.scratch if isinstance(self.provisioner, ForkProvisioner) else None

    def exit_description(self) -> str:
        """How the kernel ended, for error messages ('was killed by signal 9 (SIGKILL) ...')."""
        if isinstance(self.provisioner, ForkProvisioner):
            return self.provisioner.exit_description()
        return "ended"
