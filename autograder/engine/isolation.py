"""One kernel, walled off from the fork server and from every other kernel (Linux namespaces).

A sandboxed fork server (`autograder.engine.forkserver`, inside bubblewrap) forks one kernel per
notebook. Sharing the server's sandbox is not enough: a kernel that could see the server (its
parent, same uid) could write the server's memory through ``/proc/<ppid>/mem`` and so poison every
later kernel, signal the next kernel, or leave files in ``/tmp`` for it. So each kernel gets,
on top of the sandbox:

* **its own PID namespace**. The kernel is that namespace's init (pid 1): it sees only its own
  descendants, has no visible parent (``getppid() == 0``), and when it ends the Linux kernel kills
  every process left in the namespace at once (``zap_pid_ns_processes``). No process can outlive
  its notebook, and there is no race for a process that keeps forking or ignores signals to win.
  The kernel does not reap orphaned processes (as pid 1 it becomes their parent): they stay
  zombies until the notebook ends. Two ways to get there (`PidNamespaces`):
  *direct*: the server unshares a PID namespace, forks the kernel and goes back to its own
  namespace (``setns``): one fork, when the grader is root; *warden*: where ``setns`` back is
  refused (bwrap in an unprivileged user namespace), the forked child unshares and forks the
  kernel, and stays outside as its warden (unprivileged, ending the way the kernel ended;
  killing it kills the kernel through ``PR_SET_PDEATHSIG``): one more fork per kernel.
* **its own mount and IPC namespaces** (`enter`): a fresh ``/proc`` (only the kernel's processes),
  a private tmpfs on ``/tmp`` and ``/dev/shm`` (what the sandbox bound below ``/tmp``, such as a
  course cloned there, bound back), and the shared scratch and runtime directories
  covered by an empty tmpfs with only this kernel's own subdirectory bound back, so no kernel can
  list or open another's folder; SysV shared memory and semaphores die with the kernel.
* **its own uid** when the grader is root (one random uid in ``[2**31, 2**32 - 2)`` per kernel,
  chosen by the grader): the server runs under another uid *and* holds capabilities, so the
  kernel can neither signal it nor ptrace it nor open its ``/proc/<pid>/mem`` (Linux requires
  the same uid and a superset of the target's capabilities). The process limit (RLIMIT_NPROC,
  counted per uid) then counts this kernel's tasks only.
* **no capabilities**: the server keeps CAP_SYS_ADMIN, CAP_SETUID and CAP_SETGID to do the above
  (bwrap's ``--cap-add``; setpriv's ambient set when the grader is root); the kernel drops all of
  them (permitted, effective, inheritable, ambient) before any student code runs, and `enter`
  refuses to continue if any remain. ``PR_SET_NO_NEW_PRIVS`` (set by bwrap) means nothing it
  executes can regain them. The server itself is not dumpable (``PR_SET_DUMPABLE`` 0).

Cost: one more fork (the warden) and a few mounts per kernel, measured by
``tests/adversarial/test_isolation_batch.py``'s note in the README. Everything here is plain Linux
system calls through ctypes (no helper binary).
"""

from __future__ import annotations

import ctypes
import os
import re
import signal

__all__ = ["IsolationError", "PidNamespaces", "enter", "enter_own_pid_namespace"]

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(OSError):
    """A namespace or privilege step failed: the kernel must not run."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationError(err, f"{what}: {os.strerror(err)}")


class PidNamespaces:
    """How this (fork server) process gives each kernel a PID namespace of its own."""

    def __init__(self) -> None:
        self.direct: bool | None = None  # None: not probed yet
        self._own: int | None = None  # fd of this process's own PID namespace

    def fork(self, warden: bool = False) -> tuple[int, bool]:
        """(pid, direct). With direct, the child is pid 1 of a new PID namespace; otherwise an
        ordinary fork, whose child must call `enter_own_pid_namespace` (it becomes the warden).
        `warden`: use the warden way even where the direct one works (tests)."""
        if self.direct is None:
            self.direct = _can_reenter_pid_namespace()
        if warden or not self.direct:
            return os.fork(), False
        if self._own is None:
            self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        pid = os.fork()
        if pid != 0:  # back to our own namespace for the next kernel; failing that, we are unusable
            _check(_libc.setns(self._own, CLONE_NEWPID), "setns back to the server's PID namespace")
        return pid, True


def _can_reenter_pid_namespace() -> bool:
    """Try unshare + fork + setns back, in a throwaway child (a failed setns would leave the
    process unable to fork into a fresh namespace again)."""
    probe = os.fork()
    if probe == 0:
        try:
            own = os.open("/proc/self/ns/pid", os.O_RDONLY)
            _check(_libc.unshare(CLONE_NEWPID), "unshare")
            child = os.fork()
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            _check(_libc.setns(own, CLONE_NEWPID), "setns")
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(probe, 0)
    return os.waitstatus_to_exitcode(status) == 0


def enter_own_pid_namespace(spec: dict) -> int:
    """Called in the process the fork server forked: returns in the kernel, pid 1 of a new PID
    namespace; the calling process stays outside as the kernel's warden and never returns.
    Returns a pipe end that reads EOF once the warden is gone (for `enter`)."""
    _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
    alive_r, alive_w = os.pipe()
    kernel = os.fork()
    if kernel == 0:
        os.close(alive_w)
        return alive_r
    os.close(alive_r)
    _warden(kernel, spec.get("uid"))


def _warden(kernel: int, uid: int | None) -> None:
    """Wait for the kernel and end as it ended. Killing the warden kills the kernel."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts reach the kernel as messages
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        _drop_privileges(uid)
        while True:
            _, status = os.waitpid(kernel, 0)
            if os.WIFEXITED(status):
                os._exit(os.WEXITSTATUS(status))
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                if sig != signal.SIGKILL:
                    signal.signal(sig, signal.SIG_DFL)
                os.kill(os.getpid(), sig)
                os._exit(128 + sig)
    except BaseException:
        os._exit(70)


def _enc(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_enc(source), _enc(target), _enc(fstype), flags, _enc(data)), f"mount {target}")


def _private_dir(parent: str, own: str, fd: int) -> None:
    """Cover `parent` with an empty tmpfs and bind back only `own` (a directory inside it, opened
    as `fd` before any mount could hide it: the sandbox's work directory may sit below /tmp)."""
    os.makedirs(parent, 0o711, exist_ok=True)  # under the private /tmp: made afresh
    _mount("tmpfs", parent, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711")
    os.mkdir(own, 0o700)
    _mount(f"/proc/self/fd/{fd}", own, None, MS_BIND)
    _mount(None, parent, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=0711")


def _mounts_below(top: str, skip: list[str]) -> list[str]:
    """Mount points strictly below `top` in this mount namespace, in mount order, minus those at
    or below a `skip` directory. (The sandbox binds the Python environment and the course's
    visible pieces wherever they live on the host, /tmp included: a clone in /tmp still runs.)"""

    def unescape(field: str) -> str:  # mountinfo writes space, tab, newline, backslash as \ooo
        return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)

    def under(path: str, folder: str) -> bool:
        return path == folder or path.startswith(folder.rstrip("/") + "/")

    with open("/proc/self/mountinfo") as f:
        points = [unescape(line.split(" ")[4]) for line in f]
    return [p for p in points if under(p, top) and p != top and not any(under(p, s) for s in skip)]


def _private_tmp(size: str, skip: list[str]) -> None:
    """A fresh tmpfs on /tmp, with what the sandbox had bound below /tmp bound back (each mount
    cloned from a descriptor opened before the tmpfs hid it; a bind keeps the read-only flag)."""
    keep = []
    for point in dict.fromkeys(_mounts_below("/tmp", skip)):
        try:
            keep.append((point, os.open(point, os.O_PATH | os.O_NOFOLLOW)))
        except OSError:
            continue  # covered by a later mount: the later one is what the sandbox shows
    try:
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, size)
        for point, fd in keep:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(point, 0o755, exist_ok=True)
            elif not os.path.lexists(point):
                os.makedirs(os.path.dirname(point), 0o755, exist_ok=True)
                open(point, "x").close()
            _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND)
    finally:
        for _, fd in keep:
            os.close(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]


def _drop_privileges(uid: int | None) -> None:
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    _check(_libc.capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)), (_CapData * 2)()), "capset")
    with open("/proc/self/status") as f:
        caps = {k: v.strip() for k, _, v in (line.partition(":") for line in f) if k.startswith("Cap")}
    left = {k: v for k, v in caps.items() if k in ("CapInh", "CapPrm", "CapEff", "CapAmb") and int(v, 16)}
    if left:
        raise IsolationError(0, f"capabilities left after dropping them: {left}")


def _die_with_parent(parent_alive: int | None) -> None:
    """PR_SET_PDEATHSIG again: Linux clears it when the uid changes. If the parent (a warden) is
    gone already, its pipe reads EOF: stop here rather than live on as an orphan."""
    import select

    _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "PR_SET_PDEATHSIG")
    if parent_alive is not None:
        gone = select.select([parent_alive], [], [], 0)[0]
        os.close(parent_alive)
        if gone:
            raise IsolationError(0, "the kernel's warden is gone")


def enter(spec: dict, parent_alive: int | None = None) -> None:
    """In the forked kernel (pid 1 of its PID namespace, still privileged): wall it off, drop rights.

    `spec` (made by `autograder.engine.sandbox.Sandbox.kernel_isolation`): ``uid`` (int or None),
    ``tmp_size_mb``, ``private_dirs`` ([[parent, own], ...]: the kernel's scratch and runtime
    directories, each inside a directory shared by all kernels of the sandbox). `parent_alive`:
    what `enter_own_pid_namespace` returned, if the kernel has a warden.
    Raises `IsolationError`; the caller must then exit without running the kernel.
    """
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(CLONE_NEWNS | CLONE_NEWIPC)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    own = [(parent, path, os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW))
           for parent, path in spec.get("private_dirs", ())]  # fmt: skip
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        tmp = f"size={int(spec['tmp_size_mb'])}m,mode=1777"
        _private_tmp(tmp, [parent for parent, _ in spec.get("private_dirs", ())])
        if os.path.isdir("/dev/shm"):
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmp)
        for parent, path, fd in own:
            _private_dir(parent, path, fd)
    finally:
        for _, _, fd in own:
            os.close(fd)
    _drop_privileges(spec.get("uid"))
    _die_with_parent(parent_alive)
