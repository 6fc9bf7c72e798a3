"""The sandbox one grading kernel runs in: a bubblewrap command line and resource limits.

Student code is untrusted. Stock nbgrader runs it with the instructor's rights, from inside the
course directory, with the network up (see README, "Threat model"). Here a kernel (or the fork
server that forks kernels) is started as ``bwrap_prefix(...) + argv``:

* new network, PID, IPC, UTS (and, where possible, cgroup) namespaces: no interface but an
  isolated loopback, no other process of the machine visible or signalable;
* a filesystem of read-only binds: ``/usr`` and the ``/lib*``, ``/bin``, ``/sbin`` links, a few
  files of ``/etc``, the Python prefixes (base interpreter and virtualenv) and the ``autograder``
  package (the fork server and the guard's kernel half run from it). The course directory itself
  is a tmpfs with only those read-only pieces bound back, so ``source/`` (solutions, hidden
  tests), ``release/``, ``submitted/`` (other students), ``autograded/``, ``gradebook.db``,
  ``nbgrader_config.py`` and the ``course/`` tooling do not exist inside;
* one private writable scratch directory (the kernel's working directory and ``$HOME``), one
  writable runtime directory for the kernel's ipc sockets and connection file, and a small
  tmpfs ``/tmp``; every other path is read-only or absent;
* a cleared environment (no ``NBGRADER_*``, no database URLs, no ``JPY_PARENT_PID``);
* no capabilities, ``PR_SET_NO_NEW_PRIVS``, a new session (no TIOCSTI on the grader's tty), and
  ``--die-with-parent``: killing the bwrap process kills everything inside.

Resource limits (`autograder.engine.rlimits`, applied in each kernel process right after it starts):
address space, CPU seconds, open files, file size, processes, no core dumps. ``RLIMIT_NPROC``
counts every task (threads included) of the *real uid*, and Linux never enforces it for uid 0
(``INIT_USER`` is exempt in ``copy_process``, whatever the capabilities). So when the grader runs
as root, the sandboxed program is started under a dedicated unprivileged uid (``setpriv`` inside
the sandbox, after bwrap built it as root): each sandbox gets its own uid, so the limit counts
that sandbox's tasks only, and a fork bomb in one sandbox cannot starve another. When the grader
is not root, bwrap creates a user namespace and the count is per namespace, which is per sandbox.

What this does not bound: the machine's total memory (``RLIMIT_AS`` is per process; a forked
process gets its own 4 GiB) and total disk use in the scratch directory (``RLIMIT_FSIZE`` is per
file). Both need cgroups; the process limit and timeouts keep them small in practice.

How the grader uses it: `Box.fork_server_options()` gives `autograder.engine.kernels.ForkServer`
its bwrap prefix, its workdir (scratch/ and run/ bound read-write), `apply_rlimits` as the hook
each forked kernel runs right after the fork, a fixed per-kernel environment (``{scratch}`` in
HOME/IPYTHONDIR is the kernel's own directory) and `Box.kernel_isolation`. Many kernels run
in one sandbox, one after another, so each forked kernel is also walled off from the fork server
and from the others (`autograder.engine.isolation`): its own PID, mount and IPC namespaces (nothing
outlives its notebook; private ``/proc``, ``/tmp``, ``/dev/shm``; no other kernel's folders),
its own uid when the grader is root, and no capabilities. For that, and only for that, the fork
server keeps CAP_SYS_ADMIN, CAP_SETUID and CAP_SETGID (`FORK_SERVER_CAPS`); a kernel drops them
before any student code runs. `kernel_manager()` starts one plain (not forked) kernel in a
sandbox of its own (no capabilities at all), for tests and one-off runs.

Policy values come from the `Sandbox` configurable (``c.Sandbox`` in the course's
``nbgrader_config.py``; nbgrader ignores sections it does not know), then CLI flags::

    c.Sandbox.address_space_mb = 4096   # RLIMIT_AS per kernel process
    c.Sandbox.cpu_seconds = 600         # RLIMIT_CPU per kernel process (SIGXCPU, then SIGKILL)
    c.Sandbox.open_files = 1024         # RLIMIT_NOFILE
    c.Sandbox.file_size_mb = 64         # RLIMIT_FSIZE (a bigger write fails with EFBIG)
    c.Sandbox.processes = 512           # RLIMIT_NPROC: processes AND threads of the sandbox
    c.Sandbox.cell_timeout = 120        # seconds of wall clock per cell (default: c.Execute.timeout)
    c.Sandbox.notebook_timeout = 600    # per notebook (default: c.NotebookRunner.notebook_timeout)
    c.Sandbox.tmp_size_mb = 256         # size of the tmpfs /tmp inside the sandbox
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from traitlets import Bool, Float, Integer, List, TraitError, Unicode
from traitlets.config import Config, Configurable

from autograder.coursedir import CONFIG_FILE, CourseError
from autograder.engine.rlimits import KernelLimits, MiB, apply_rlimits, kernel_argv

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
    "`sudo dnf install bubblewrap`), or pass --no-sandbox to grade trusted submissions "
    "without isolation"
)

UNSANDBOXED_WARNING = (
    "WARNING: grading WITHOUT the sandbox (--no-sandbox). Student code runs with your rights: "
    "it can read source/ (solutions and hidden tests) and other students' submissions, write "
    "the gradebook, use the network and exhaust the machine. Use this only for trusted notebooks."
)

# Files of /etc that Python, NumPy and TensorFlow read; absent ones are skipped.
ETC_FILES = (
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/os-release",
    "/etc/fonts",  # matplotlib runs fc-list, which complains on stderr without it
)
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Inside the course directory only these are visible (read-only), when they exist.
# (Notebooks import nothing from the course repository, so its `course` package stays hidden.)
COURSE_VISIBLE = (".venv", "autograder")
# What the course directory must never show inside the sandbox (checked by tests).
COURSE_SECRETS = (
    "source", "release", "submitted", "autograded", "feedback", "gradebook.db", CONFIG_FILE, "course",
)  # fmt: skip
# Sandboxes started by a root grader run under uids from here up (see _sandbox_uid); the kernels
# a sandboxed fork server forks each get a random uid from KERNEL_UIDS (see kernel_isolation).
UID_BASE = 0x40000000
KERNEL_UIDS = (0x80000000, 0xFFFFFFFE)
# What a fork server needs to wall each kernel off (autograder.engine.isolation), and nothing else.
FORK_SERVER_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID")


@dataclass(frozen=True)
class SandboxPolicy:
    """Limits for one grading kernel. Defaults fit a 2-core machine grading TensorFlow notebooks."""

    enabled: bool = True
    # RLIMIT_AS. TensorFlow maps ~2 GiB of address space at import and dies creating its
    # thread pools below ~1.5 GiB; 4 GiB leaves room for the exercises and stops a memory bomb.
    address_space_mb: int = 4096
    # RLIMIT_CPU per kernel process (all its threads). A notebook's cells need a few seconds.
    cpu_seconds: int = 600
    # RLIMIT_NOFILE. A TensorFlow kernel keeps ~60 descriptors open.
    open_files: int = 1024
    # RLIMIT_FSIZE: the largest file a kernel may write.
    file_size_mb: int = 64
    # RLIMIT_NPROC: tasks (processes AND threads) of the sandbox's uid. A TensorFlow kernel on
    # 2 cores runs ~40 threads; a fork bomb stops here.
    processes: int = 512
    # Wall clock, enforced by the executor rather than by the kernel. None: the course's
    # c.Execute.timeout (per cell, 120 s here) and c.NotebookRunner.notebook_timeout (600 s).
    cell_timeout: float | None = None
    notebook_timeout: float | None = None
    # The tmpfs mounted on /tmp inside the sandbox (RAM-backed, so small).
    tmp_size_mb: int = 256
    # Extra read-only paths to show inside (data files an assignment ships, another prefix).
    extra_ro_paths: tuple[str, ...] = field(default_factory=tuple)

    @property
    def limits(self) -> KernelLimits:
        """The limits a kernel sets on itself (`autograder.engine.rlimits`: no nbgrader there)."""
        return KernelLimits(
            self.address_space_mb, self.cpu_seconds, self.open_files, self.file_size_mb, self.processes
        )

    def with_overrides(self, **values) -> SandboxPolicy:
        """A copy with the given fields changed; None values are ignored (unset CLI flags)."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CourseError(f"unknown sandbox setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    @classmethod
    def of(cls, config: Config, **overrides) -> SandboxPolicy:
        """Defaults, then ``c.Sandbox.*`` from the course's configuration, then `overrides`."""
        return Sandbox.from_config(config).policy().with_overrides(**overrides)


class Sandbox(Configurable):
    """How each grading kernel is confined: ``c.Sandbox.*`` in nbgrader_config.py (nbgrader itself
    ignores this section). `policy()` is the plain, picklable snapshot the engine passes around."""

    enabled = Bool(True, help="Run kernels in bubblewrap (False: no isolation, trusted work only).").tag(
        config=True
    )
    address_space_mb = Integer(
        SandboxPolicy.address_space_mb,
        help="RLIMIT_AS per kernel process. TensorFlow maps ~2 GiB at import and fails below ~1.5 GiB.",
    ).tag(config=True)
    cpu_seconds = Integer(SandboxPolicy.cpu_seconds, help="RLIMIT_CPU per kernel process.").tag(config=True)
    open_files = Integer(SandboxPolicy.open_files, help="RLIMIT_NOFILE per kernel process.").tag(config=True)
    file_size_mb = Integer(
        SandboxPolicy.file_size_mb, help="RLIMIT_FSIZE: the largest file a kernel writes."
    ).tag(config=True)
    processes = Integer(
        SandboxPolicy.processes, help="RLIMIT_NPROC: processes and threads of one kernel (its own uid)."
    ).tag(config=True)
    cell_timeout = Float(
        None, allow_none=True, help="Wall-clock seconds per cell (default: c.Execute.timeout)."
    ).tag(config=True)
    notebook_timeout = Float(
        None,
        allow_none=True,
        help="Wall-clock seconds per notebook (default: c.NotebookRunner.notebook_timeout).",
    ).tag(config=True)
    tmp_size_mb = Integer(SandboxPolicy.tmp_size_mb, help="Size of each kernel's private /tmp (RAM).").tag(
        config=True
    )
    extra_ro_paths = List(
        Unicode(), help="More host paths shown read-only inside (data, another prefix)."
    ).tag(config=True)

    @classmethod
    def from_config(cls, config: Config) -> Sandbox:
        """From a course's configuration; a misspelt or mistyped setting is a CourseError."""
        section = dict(config.get("Sandbox", {}))
        unknown = sorted(set(section) - set(cls.class_trait_names(config=True)))
        if unknown:
            raise CourseError(f"unknown setting(s) c.Sandbox.{', c.Sandbox.'.join(unknown)} in {CONFIG_FILE}")
        try:
            return cls(config=config)
        except TraitError as e:
            raise CourseError(f"{CONFIG_FILE}: c.Sandbox: {e}") from None

    def policy(self) -> SandboxPolicy:
        values = {f.name: getattr(self, f.name) for f in fields(SandboxPolicy)}
        values["extra_ro_paths"] = tuple(str(p) for p in values["extra_ro_paths"])
        return SandboxPolicy(**values)


# --- is bubblewrap there? ----------------------------------------------------------------------


def require_bwrap() -> str:
    """The path of a working `bwrap`, or a CourseError saying how to install it."""
    path = shutil.which("bwrap")
    if path is None:
        raise CourseError(f"bubblewrap (`bwrap`) is not installed: {INSTALL_HINT}")
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        raise CourseError("`setpriv` (util-linux) is needed to drop root inside the sandbox")
    probe = [path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    try:
        r = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CourseError(f"bubblewrap does not run: {e}") from None
    if r.returncode != 0:
        raise CourseError(
            f"bubblewrap is installed but cannot create a sandbox here ({r.stderr.strip()}); "
            "unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone"
            " or an AppArmor profile for bwrap), or run the grader as root"
        )
    return path


def warn_unsandboxed() -> None:
    """Say loudly, on stderr, that student code runs without isolation."""
    print(UNSANDBOXED_WARNING, file=sys.stderr, flush=True)
    warnings.warn(UNSANDBOXED_WARNING, RuntimeWarning, stacklevel=2)


# --- the command line ----------------------------------------------------------------------------

_uid_counter = 0


def _sandbox_uid() -> int:
    """A uid no other living sandbox started from this machine uses: from this process's pid.

    RLIMIT_NPROC counts the tasks of a uid machine-wide, so sandboxes must not share one.
    """
    global _uid_counter
    _uid_counter = (_uid_counter + 1) % 256
    return UID_BASE + (os.getpid() << 8) + _uid_counter


@dataclass(frozen=True)
class Box:
    """One sandbox: where its writable directories are on the host, and how to start a program in it.

    `scratch` is the kernel's working directory and HOME (a fork server makes one per notebook
    below it); `runtime` holds the ipc sockets and connection files. Both are bound read-write at
    the same path inside, so host and sandbox agree on connection-file paths.
    """

    policy: SandboxPolicy
    course_root: Path
    scratch: Path
    runtime: Path
    uid: int | None  # the uid the program runs as when the grader is root; None otherwise
    extra_env: tuple[tuple[str, str], ...] = ()  # the course's c.Kernels.env

    @classmethod
    def create(
        cls, policy: SandboxPolicy, course_root: Path, workdir: Path, env: dict[str, str] | None = None
    ) -> Box:
        """Make `workdir`/scratch and `workdir`/run, owned by the sandbox's uid. `env`: more
        environment variables for the sandboxed programs (the course's ``c.Kernels.env``)."""
        scratch, runtime = Path(workdir) / "scratch", Path(workdir) / "run"
        uid = _sandbox_uid() if (os.geteuid() == 0 and policy.enabled) else None
        for d in (scratch, runtime):
            d.mkdir(parents=True, exist_ok=True)
            # 0711: bwrap (root without capabilities) must be able to chdir into scratch.
            os.chmod(d, 0o711 if d is scratch else 0o700)
            if uid is not None:
                os.chown(d, uid, uid)
        extra = tuple(sorted((env or {}).items()))
        return cls(policy, Path(course_root).resolve(), scratch.resolve(), runtime.resolve(), uid, extra)

    def env(self) -> dict[str, str]:
        """The whole environment of the sandboxed program (everything else is cleared)."""
        home = str(self.scratch)
        return {
            **dict(self.extra_env),
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "USER": "student",
            "LOGNAME": "student",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": "/tmp/ipython",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            # ipykernel's own default: plt.show() puts the figure in the notebook, so graded
            # notebooks and feedback keep the student's plots.
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AUTOGRADER_SANDBOX": "1",
        }

    def kernel_env(self) -> dict[str, str]:
        """The environment of each kernel a fork server in this sandbox forks.

        ``{scratch}`` is replaced by the kernel's own working directory in the child, so HOME and
        IPython's profile (whose startup files IPython runs) are private to one notebook: a
        student cannot leave code there for the next student's kernel.
        """
        return {
            **self.env(),
            "HOME": "{scratch}",
            "IPYTHONDIR": "{scratch}/.ipython",
            "MPLCONFIGDIR": "{scratch}/.matplotlib",
        }

    def fork_server_options(self, preload: tuple[str, ...] | list[str] = ()) -> dict:
        """Keyword arguments for `autograder.engine.kernels.ForkServer` so that it runs in this sandbox.

        The server runs as ``prefix + [python, -m, autograder.engine.forkserver, ...]`` inside bwrap;
        each kernel child applies the rlimits right after the fork and gets `kernel_env`.
        `preload`: the course's ``c.Kernels.preload``.
        """
        from functools import partial

        sandboxed = self.policy.enabled
        options = {
            "preload": list(preload),
            "prepare_guard": True,
            "child_hook": partial(apply_rlimits, self.policy.limits, sandboxed=sandboxed),
        }
        if not sandboxed:
            return {**options, "env": {**os.environ, **dict(self.extra_env)}}
        return {
            **options,
            "prefix": self.prefix(caps=FORK_SERVER_CAPS),
            "workdir": self.scratch.parent,
            "env": self.kernel_env(),
            "fixed_env": True,
            "kernel_isolation": self.kernel_isolation,
        }

    def kernel_isolation(self, scratch: Path, runtime: Path) -> dict:
        """Prepare one forked kernel's own directories; the spec `autograder.engine.isolation.enter` takes.

        `scratch` (its working directory) and `runtime` (its sockets and connection file) are
        subdirectories of this sandbox's scratch/ and run/. When the grader is root the kernel
        gets a uid of its own, random in `KERNEL_UIDS` (a clash between two kernels alive at the
        same time is a one-in-two-billion event), which owns those two directories.
        """
        import secrets

        uid = None
        if self.uid is not None:
            low, high = KERNEL_UIDS
            uid = low + secrets.randbelow(high - low)
        for d in (scratch, runtime):
            d.mkdir(mode=0o700, exist_ok=True)
            if uid is not None:
                os.chown(d, uid, uid)
        return {
            "uid": uid,
            "tmp_size_mb": self.policy.tmp_size_mb,
            "private_dirs": [[str(self.scratch), str(scratch)], [str(self.runtime), str(runtime)]],
        }

    def ro_paths(self) -> list[Path]:
        """Host paths shown read-only, in mount order (system, Python prefixes, course pieces)."""
        paths = [Path(p) for p in ETC_FILES if os.path.lexists(p)]
        prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        paths += sorted(Path(p).resolve() for p in prefixes)
        import autograder

        paths.append(Path(autograder.__file__).resolve().parent)
        paths += [self.course_root / name for name in COURSE_VISIBLE]
        paths += [Path(p).resolve() for p in self.policy.extra_ro_paths]
        unique = dict.fromkeys(p for p in paths if p.exists())
        return list(unique)

    def prefix(self, caps: tuple[str, ...] = ()) -> list[str]:
        """The argv prefix that starts a program inside this sandbox ([] when disabled).

        `caps`: capabilities the program keeps (a fork server's `FORK_SERVER_CAPS`); never give
        any to a program that runs student code itself.
        """
        if not self.policy.enabled:
            return []
        argv = [
            require_bwrap(),
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
        ]
        # bwrap runs as root: keep what setpriv needs to drop root, plus what the program keeps.
        for cap in dict.fromkeys((*caps, *(("CAP_SETUID", "CAP_SETGID") if self.uid is not None else ()))):
            argv += ["--cap-add", cap]
        argv += ["--clearenv", "--unsetenv", "JPY_PARENT_PID"]
        for k, v in self.env().items():
            argv += ["--setenv", k, v]
        argv += _mounts(self)
        argv += ["--chdir", str(self.scratch)]
        if self.uid is not None:
            argv += [
                shutil.which("setpriv") or "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.uid}",
                "--clear-groups",
            ]
            if caps:  # kept across the uid change and the exec (ambient capabilities)
                names = ",".join("+" + c.removeprefix("CAP_").lower() for c in caps)
                argv += [f"--inh-caps={names}", f"--ambient-caps={names}"]
            argv += ["--"]
        return argv


def _mounts(sb: Box) -> list[str]:
    """bwrap mount arguments. Order matters: later mounts cover earlier ones."""
    out: list[str] = []
    binds: list[Path] = []  # destinations of host binds: their subdirectories exist on the host
    made: set[Path] = {Path("/")}

    def parents(dest: Path) -> None:
        # bwrap creates missing parents with mode 0700 when it runs as root, which would lock
        # the sandbox's uid out of e.g. /root/.pyenv/...: create them 0755 first.
        for a in reversed(dest.parents):
            if a in made or any(a == b or b in a.parents for b in binds):
                continue
            out.extend(["--perms", "0755", "--dir", str(a)])
            made.add(a)

    def bind(flag: str, path: Path) -> None:
        parents(path)
        out.extend([flag, str(path), str(path)])
        binds.append(path)

    for d in SYSTEM_DIRS:
        p = Path(d)
        if p.is_symlink():
            out.extend(["--symlink", os.readlink(p), d])
        elif p.is_dir():
            bind("--ro-bind", p)
    out.extend(["--proc", "/proc", "--dev", "/dev"])
    out.extend(["--perms", "1777", "--size", str(sb.policy.tmp_size_mb * MiB), "--tmpfs", "/tmp"])
    made.add(Path("/tmp"))
    root = sb.course_root
    inside = [p for p in sb.ro_paths() if p == root or root in p.parents]
    for p in sb.ro_paths():
        if p not in inside:
            bind("--ro-bind", p)
    # Hide the course directory: an empty tmpfs, then only the allowed pieces bound back.
    parents(root)
    out.extend(["--perms", "0755", "--tmpfs", str(root)])
    binds[:] = [b for b in binds if not (b == root or root in b.parents)]
    made.add(root)
    for p in inside:
        if p != root:
            bind("--ro-bind", p)
    for p in (sb.scratch, sb.runtime):
        bind("--bind", p)
    # Last, make the course directory's tmpfs read-only (the binds on it stay as they are).
    out.extend(["--remount-ro", str(root)])
    return out


def kernel_manager(sandbox: Box, name: str = "kernel"):
    """A jupyter_client KernelManager whose kernel runs in `sandbox` (plain start, no fork server).

    ipc transport in the sandbox's runtime directory, interrupt by message (a signal to bwrap
    would not reach the kernel), and the connection file readable by the sandbox's uid only.
    Used by the tests and as the simplest way to run one notebook in the sandbox.
    """
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec

    class SandboxedKernelManager(KernelManager):
        def write_connection_file(self, **kw):
            super().write_connection_file(**kw)
            if sandbox.uid is not None:
                os.chown(self.connection_file, sandbox.uid, sandbox.uid)

    km = SandboxedKernelManager(
        transport="ipc",
        ip=str(sandbox.runtime / name),
        connection_file=str(sandbox.runtime / f"{name}.json"),
    )
    km._kernel_spec = KernelSpec(
        argv=sandbox.prefix() + kernel_argv(sandbox.policy.limits, sandboxed=sandbox.policy.enabled),
        language="python",
        display_name="Python 3 (sandboxed)",
        interrupt_mode="message",
    )
    return km
