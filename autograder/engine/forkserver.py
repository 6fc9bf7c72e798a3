"""The fork server: a process that imported TensorFlow once and forks a fresh kernel per notebook.

Started by `autograder.engine.kernels.ForkServer` as ``[*prefix, python, -m, autograder.engine.forkserver,
--fd, N, --preload, mod1,mod2,...]`` (a sandbox can put ``bwrap ... --`` in `prefix`). It talks
to its client over one inherited ``AF_UNIX``/``SOCK_SEQPACKET`` socket (fd N), one message per
request and one per reply:

* requests are pickled dicts (client -> server: the trusted direction; a request may carry a
  picklable `child_hook` callable);
* replies are JSON, so a compromised server could not make the grader run code. The reply to
  ``fork`` carries a *pidfd* of the child (``SCM_RIGHTS``): the client signals and watches the
  kernel through it, race-free and across PID namespaces.

Requests: ``{"op": "fork", "kernel_id", "cwd", "connection_info", "connection_file",
"kernel_args", "env", "child_hook", "isolation"}`` -> ``{"ok": true, "pid": ...}`` + pidfd;
``{"op": "signal", "pid", "sig"}`` (to the kernel's process group) -> ``{"ok": ...}``;
``{"op": "status", "pid"}`` -> ``{"ok": true, "running": bool, "exitcode": int | None}``
(exitcode as `os.waitstatus_to_exitcode`: negative = killed by that signal);
``{"op": "ping"}``; ``{"op": "shutdown"}``. When the client goes away (EOF) the server kills
every kernel it forked and exits.

The child of a ``fork`` (the kernel): new session (`os.setsid`), ``PR_SET_PDEATHSIG`` so it dies
with the server, control socket closed, stdin from /dev/null. With an ``isolation`` spec (a
sandbox's; see `autograder.engine.isolation`) the child stays outside as the kernel's warden and forks
the kernel into a PID namespace of its own, where it walls itself off (mounts, uid, capabilities)
before anything else. Then ``child_hook()`` (resource
limits), then it creates and enters its private scratch directory `cwd`, sets `env`, writes its
connection file and runs ``IPKernelApp`` exactly like ``python -m ipykernel_launcher -f FILE``.
No zmq context exists in this process before the fork (ipykernel creates its own in the child).
The server itself is not dumpable: no process of its uid can read or write its memory.

Start-up work done once here instead of in every kernel: the imports (`preload`), caches the first
traceback would fill (`prewarm`), the tamper guard's record of all that (``--prepare-guard``:
`autograder.engine.guard_kernel.prepare`), and ``gc.freeze()`` of the resulting heap, so that a kernel's
garbage collections do not touch (and copy-on-write) the hundreds of MB it shares with the server.
TensorFlow is imported but never *run* here: its thread pools would not survive a fork.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import pickle
import signal
import socket
import sys
import time
import traceback

# ipykernel's own modules (always preloaded: the child needs them to become a kernel). Not
# matplotlib_inline.backend_inline: importing it wires matplotlib into the *running* IPython
# shell, so it must happen in the kernel (when pyplot first selects its backend), as in a
# normally started kernel; otherwise figures are shown as text instead of PNG.
# What a kernel imports as it starts: ipykernel.debugger (debugpy, ~0.3 s) and sqlite3 (IPython's
# history) halve a kernel's start; the rest is what `IPKernelApp.initialize` imports (~5 ms).
KERNEL_MODULES = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "sqlite3", "IPython",
    "IPython.core.completerlib", "IPython.core.debugger", "IPython.core.oinspect",
    "IPython.extensions.storemagic", "IPython.utils.wildcard", "tornado.platform.asyncio",
)  # fmt: skip
# What ipykernel sets when it starts, so that matplotlib imported here picks the inline backend.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
MAX_MESSAGE = 1 << 20
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
EXIT_CHILD_SETUP_FAILED = 70

_exit_codes: dict[int, int] = {}  # pid -> os.waitstatus_to_exitcode, for children that ended
_children: set[int] = set()  # pids forked and not yet reaped
_pid_namespaces = None  # autograder.engine.isolation.PidNamespaces, made on the first isolated fork


def _reap(*_args) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _children.discard(pid)
        _exit_codes[pid] = os.waitstatus_to_exitcode(status)
        if len(_exit_codes) > 4096:  # bounded memory for a long-lived server
            for old in list(_exit_codes)[:1024]:
                del _exit_codes[old]


def _set_pdeathsig(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the kernel's parent poller still applies
        pass


def _reply(sock: socket.socket, payload: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(payload).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _run_kernel(req: dict, sock: socket.socket, server_pid: int, in_own_pid_ns: bool) -> int:
    """In the forked child: become the kernel. Returns the exit code (never raises)."""
    isolation = req.get("isolation")
    # A new session, so that signals to the kernel's group reach what it started. Not for a kernel
    # that is pid 1 of its own namespace: its group would be 1 there, and ipykernel's interrupt
    # (killpg of the kernel's own group) would become kill(-1), which never reaches pid 1.
    if not in_own_pid_ns:
        os.setsid()
    _set_pdeathsig(signal.SIGKILL)
    # The server died between fork and prctl? (An isolated child has no visible parent; if the
    # server is gone, so is the sandbox's PID namespace and the child with it.)
    if isolation is None and os.getppid() != server_pid:
        return EXIT_CHILD_SETUP_FAILED
    sock.close()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if isolation is not None:
        from autograder.engine.isolation import enter, enter_own_pid_namespace

        warden = None if in_own_pid_ns else enter_own_pid_namespace(isolation)  # now: pid 1
        enter(isolation, warden)  # raises: the caller exits with EXIT_CHILD_SETUP_FAILED
    if req.get("child_hook") is not None:
        req["child_hook"]()
    cwd = req["cwd"]
    os.makedirs(cwd, mode=0o700, exist_ok=True)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(req["env"])
    for k, v in list(os.environ.items()):  # a sandbox's per-kernel paths (HOME, IPYTHONDIR ...)
        if "{scratch}" in v:
            os.environ[k] = v.replace("{scratch}", os.getcwd())
    # ipykernel exits when its parent changes: the parent of this kernel is the server.
    os.environ["JPY_PARENT_PID"] = str(server_pid)
    if "numpy" in sys.modules:  # a fresh process would not share the server's legacy RNG state
        sys.modules["numpy"].random.seed()
    path = req["connection_file"]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(req["connection_info"], f)
    sys.argv = ["ipykernel_launcher", "-f", path, *req.get("kernel_args", [])]
    from ipykernel.kernelapp import IPKernelApp

    # parent_handle's default was read from the environment when ipykernel was imported (in the
    # server, before JPY_PARENT_PID existed): give it explicitly. An isolated kernel cannot see
    # its parent (getppid() is 0), which ipykernel's parent poller would take for the parent's
    # death: 1 turns the poller off (PR_SET_PDEATHSIG does that job).
    app = IPKernelApp.instance(parent_handle=1 if isolation is not None else server_pid)
    app.initialize(sys.argv[1:])
    app.start()
    return 0


def _fork(req: dict, sock: socket.socket) -> None:
    server_pid = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    # SIGCHLD stays blocked until the pid is registered and its pidfd open: a child that dies at
    # once is then still a zombie (pidfd_open works) and is reaped only after it is known.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        if req.get("isolation") is not None:
            from autograder.engine.isolation import PidNamespaces

            global _pid_namespaces
            _pid_namespaces = _pid_namespaces or PidNamespaces()
            pid, own_ns = _pid_namespaces.fork(warden=bool(req["isolation"].get("warden")))
        else:
            pid, own_ns = os.fork(), False
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        _reply(sock, {"ok": False, "error": f"fork: {e}"})
        return
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        code = EXIT_CHILD_SETUP_FAILED
        try:
            code = _run_kernel(req, sock, server_pid, own_ns)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            os._exit(code)
    _children.add(pid)
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:  # cannot happen for a child we have not reaped; be explicit anyway
        _reply(sock, {"ok": False, "error": f"pidfd_open: {e}", "pid": pid})
        return
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    try:
        _reply(sock, {"ok": True, "pid": pid}, [pidfd])
    finally:
        os.close(pidfd)


def _signal(req: dict) -> dict:
    pid, sig = int(req["pid"]), int(req["sig"])
    if pid not in _children:
        return {"ok": False, "error": f"no running kernel {pid}"}
    try:
        os.killpg(pid, sig)  # the kernel is the leader of its own session and process group
    except ProcessLookupError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return {"ok": False, "error": f"no process {pid}"}
    return {"ok": True}


def _kill_all() -> None:
    for pid in list(_children):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    deadline = time.monotonic() + 5
    while _children and time.monotonic() < deadline:
        _reap()
        time.sleep(0.01)


def serve(sock: socket.socket) -> None:
    while True:
        try:
            data = sock.recv(MAX_MESSAGE)
        except ConnectionResetError:
            data = b""
        if not data:  # the client went away: take every kernel with us
            _kill_all()
            return
        try:
            req = pickle.loads(data)
            op = req.get("op")
            if op == "fork":
                _fork(req, sock)
                continue
            if op == "signal":
                reply = _signal(req)
            elif op == "status":
                pid = int(req["pid"])
                _reap()
                reply = {"ok": True, "running": pid in _children, "exitcode": _exit_codes.get(pid)}
            elif op == "ping":
                reply = {"ok": True, "pid": os.getpid(), "children": sorted(_children)}
            elif op == "shutdown":
                _kill_all()
                _reply(sock, {"ok": True})
                return
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as e:  # a bad request must not take the server down
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        _reply(sock, reply)


def preload(modules: list[str]) -> dict[str, str]:
    """Import `modules` (errors are returned, not raised: a kernel imports them again anyway)."""
    import importlib

    errors = {}
    for name in [*KERNEL_MODULES, *modules]:
        try:
            importlib.import_module(name)
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"
    return errors


def prewarm() -> None:
    """Fill caches every kernel would otherwise fill itself (pure caches: no behaviour change).

    The first traceback a kernel shows calls `inspect.getmodule`, which scans every loaded module
    (TensorFlow brings ~3000) once: ~0.4 s per kernel, done here once for all of them. Formatting
    one traceback also imports what IPython's traceback machinery imports lazily.
    """
    try:
        import inspect

        from IPython.core import ultratb

        try:
            exec(compile("raise ValueError('warm-up')", "<autograder-forkserver>", "exec"), {})
        except ValueError:
            ultratb.AutoFormattedTB(mode="Context").structured_traceback(*sys.exc_info())
        inspect.getmodule(compile("0", "<autograder-forkserver>", "eval"))
        if "numpy" in sys.modules:  # each kernel reseeds (`_run_kernel`): a process's first seeding is ~9 ms
            sys.modules["numpy"].random.seed()
    except Exception:  # an optimisation only
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.engine.forkserver", description=__doc__)
    p.add_argument("--fd", type=int, required=True, help="inherited SOCK_SEQPACKET socket")
    p.add_argument("--preload", default="", help="comma-separated modules (c.Kernels.preload)")
    p.add_argument("--prepare-guard", action="store_true", help="record the libraries for the tamper guard")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    # Ctrl-C in the grader's terminal is for the grader: it closes our socket, and we exit then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, _reap)
    # Not dumpable: processes of our uid cannot ptrace us or open /proc/<pid>/mem (kernels forked
    # from here inherit the flag until they drop their privileges; see autograder.engine.isolation).
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    sock = socket.socket(fileno=args.fd)
    gc.disable()  # no collections while importing: fewer holes in the pages kernels share
    errors = preload([m for m in args.preload.split(",") if m])
    prewarm()
    if args.prepare_guard:  # last: what the imports and the warm-up made is the libraries'
        from autograder.engine import guard_kernel

        guard_kernel.prepare()
    # Move everything imported so far out of the collector's reach. Without this, the first full
    # collection in a kernel touches every inherited object and copies hundreds of MB of
    # copy-on-write pages (a plot cell took ~1 s instead of ~0.3 s). See gc.freeze's docs. No
    # collection first: it would free ~3,400 objects of import-time garbage (a few hundred kB)
    # for 0.2 s of the server's start, and leave holes that each kernel's allocations then copy.
    gc.freeze()
    gc.enable()
    _reply(
        sock,
        {
            "ok": True,
            "op": "ready",
            "pid": os.getpid(),
            "errors": errors,
            "seconds": round(time.monotonic() - t0, 3),
        },
    )
    serve(sock)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown: with TensorFlow loaded it takes seconds
