"""The grading sandbox, shown from code running INSIDE a real IPython kernel started in it.

Every test here needs bubblewrap: without it `require_bwrap()` raises and the tests fail
(they never skip), because grading untrusted code without the sandbox is not a supported setup.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from autograder.coursedir import REPO_ROOT, Course, CourseError
from autograder.engine.rlimits import expected_rlimits
from autograder.engine.sandbox import (
    COURSE_SECRETS,
    Box,
    SandboxPolicy,
    kernel_manager,
    require_bwrap,
)

pytestmark = pytest.mark.slow

# This course's kernel settings (c.Kernels: TensorFlow preloaded, its logs quiet).
PRELOAD, ENV = Course.repo().config.Kernels.preload, Course.repo().config.Kernels.env
# Non-default limits, so the test shows the configured values (not defaults) reach the kernel.
POLICY = SandboxPolicy(address_space_mb=3072, cpu_seconds=300, open_files=512, file_size_mb=8, processes=128)


def run_code(kc, code: str, timeout: float = 120) -> tuple[str, str, str]:
    """Execute `code` in the kernel: (status, stdout, error name)."""
    out, err = [], []

    def hook(msg):
        c = msg["content"]
        if msg["msg_type"] == "stream":
            out.append(c["text"])
        elif msg["msg_type"] == "error":
            err.append(c["ename"])

    reply = kc.execute_interactive(textwrap.dedent(code), timeout=timeout, output_hook=hook)
    return reply["content"]["status"], "".join(out), "".join(err)


def host_tasks_of(uid: int) -> int:
    """Tasks (processes) of `uid` anywhere on the machine, seen from outside the sandbox."""
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += os.stat(f"/proc/{pid}").st_uid == uid
            except FileNotFoundError:
                pass
    return n


@pytest.fixture(scope="module")
def listener():
    """A TCP port listening on the host's loopback: the kernel must not reach it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    require_bwrap()  # fails, does not skip, when bubblewrap is missing
    return Box.create(POLICY, REPO_ROOT, tmp_path_factory.mktemp("sandbox"), env=ENV)


@pytest.fixture(scope="module")
def kernel(sandbox):
    km = kernel_manager(sandbox)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if sandbox.uid is not None:  # nothing of the sandbox outlives its kernel
        deadline = time.time() + 10
        while host_tasks_of(sandbox.uid) and time.time() < deadline:
            time.sleep(0.1)
        assert host_tasks_of(sandbox.uid) == 0


def test_runs_as_unprivileged_user_without_capabilities(kernel):
    status, out, _ = run_code(
        kernel,
        """
        import os
        caps = [l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm'))]
        print(os.getuid(), os.geteuid(), caps)
        """,
    )
    uid, euid, caps = out.split(maxsplit=2)
    assert status == "ok" and uid == euid and int(uid) != 0
    assert caps.strip() == "['0000000000000000', '0000000000000000']"


def test_no_network(kernel, listener):
    status, out, _ = run_code(
        kernel,
        f"""
        import socket
        print(sorted(name for _, name in socket.if_nameindex()))
        try:
            socket.create_connection(("127.0.0.1", {listener}), timeout=5)
            print("connected")
        except OSError as e:
            print(type(e).__name__)
        """,
    )
    assert status == "ok"
    assert out.split("\n")[:2] == ["['lo']", "ConnectionRefusedError"]


def test_course_secrets_are_invisible(kernel):
    root = REPO_ROOT
    present = [name for name in COURSE_SECRETS if (root / name).exists()]
    assert "source" in present and "nbgrader_config.py" in present  # there to be hidden
    status, out, _ = run_code(
        kernel,
        f"""
        import os
        root = {str(root)!r}
        print(sorted(os.listdir(root)))
        print([n for n in {COURSE_SECRETS!r} if os.path.lexists(os.path.join(root, n))])
        print(os.path.exists(os.path.join(os.getcwd(), "../../../source")))
        """,
    )
    visible, secrets, relative = out.split("\n")[:3]
    assert status == "ok"
    assert visible == str(sorted({".venv", "autograder"}))
    assert secrets == "[]" and relative == "False"


def test_other_students_and_host_paths_are_invisible(kernel, sandbox):
    # Another student's scratch directory next to this one, and the grader's home.
    other = sandbox.scratch.parent.parent / "other_student"
    other.mkdir(exist_ok=True)
    (other / "answer.py").write_text("secret = 42\n")
    status, out, _ = run_code(
        kernel,
        f"""
        import os
        print([p for p in ({str(other)!r}, {str(REPO_ROOT / "submitted")!r}, "/root/.bashrc",
                           "/work/shared", "/home") if os.path.exists(p)])
        print(sorted(os.listdir("/")))
        """,
    )
    assert status == "ok"
    seen, top = out.split("\n")[:2]
    assert seen == "[]"
    assert "home" not in top and "mnt" not in top and "var" not in top


def test_writes_outside_scratch_fail(kernel, sandbox):
    targets = [
        REPO_ROOT / "gradebook.db",
        REPO_ROOT / "new_file",
        REPO_ROOT / "autograder" / "evil.py",
        REPO_ROOT / ".venv" / "lib" / "evil.pth",
        Path("/usr/evil"),
        Path("/etc/evil"),
        Path(sys.base_prefix) / "evil",
    ]
    status, out, _ = run_code(
        kernel,
        f"""
        import os
        results = []
        for t in {[str(t) for t in targets]!r}:
            try:
                with open(t, "a") as f:
                    f.write("x")
                results.append("written")
            except OSError as e:
                results.append(type(e).__name__)
        open("mine.txt", "w").write("ok")  # the scratch directory is writable
        print(results)
        print(os.path.abspath("mine.txt"))
        """,
    )
    results, mine = out.split("\n")[:2]
    assert status == "ok"
    assert "written" not in results, results
    assert Path(mine) == sandbox.scratch / "mine.txt" and (sandbox.scratch / "mine.txt").exists()
    for t in targets[1:]:
        assert not t.exists(), t


def test_rlimits_are_the_configured_ones(kernel):
    names = sorted(expected_rlimits(POLICY.limits))
    status, out, _ = run_code(
        kernel,
        f"""
        import resource, sys
        print({{n: resource.getrlimit(getattr(resource, n)) for n in {names!r}}})
        print("nbgrader" in sys.modules)
        """,
    )
    assert status == "ok"
    limits, grader_loaded = out.splitlines()[:2]
    assert eval(limits) == expected_rlimits(POLICY.limits)
    # The kernel applied them with autograder.engine.rlimits alone: nothing of the grader loaded.
    assert grader_loaded == "False"


def test_file_size_limit(kernel):
    status, out, _ = run_code(
        kernel,
        """
        try:
            with open("big.bin", "wb") as f:
                f.write(b"x" * (9 * 1024 * 1024))
            print("written")
        except OSError as e:
            print(e.errno)
        """,
    )
    assert status == "ok" and out.strip() == "27"  # EFBIG


def test_tensorflow_works(kernel):
    status, out, _ = run_code(
        kernel,
        """
        import tensorflow as tf
        v = tf.Variable([1.0, 2.0])
        v.assign_add([1.0, 1.0])
        print(v.numpy().tolist())
        """,
    )
    assert (status, out.strip()) == ("ok", "[2.0, 3.0]")


def test_memory_bomb_raises_memory_error_and_kernel_survives(kernel):
    status, out, err = run_code(
        kernel,
        """
        hog = []
        try:
            while True:
                hog.append(bytearray(256 * 1024 * 1024))
        except MemoryError:
            print("MemoryError after", len(hog) * 256, "MiB")
        del hog
        """,
    )
    assert status == "ok" and out.startswith("MemoryError after"), (out, err)
    assert int(out.split()[2]) < POLICY.address_space_mb
    assert run_code(kernel, "print(1 + 1)")[1].strip() == "2"


def test_fork_loop_is_stopped_by_the_process_limit(kernel):
    status, out, _ = run_code(
        kernel,
        """
        import os, time
        pids, err = [], None
        try:
            for _ in range(10_000):
                pid = os.fork()
                if pid == 0:
                    time.sleep(60)
                    os._exit(0)
                pids.append(pid)
        except OSError as e:
            err = type(e).__name__
        for p in pids:
            os.kill(p, 9)
            os.waitpid(p, 0)
        print(len(pids), err)
        """,
    )
    n, err = out.split()
    assert status == "ok" and err == "BlockingIOError"
    assert 0 < int(n) < POLICY.processes


def test_sandbox_environment_is_clean(kernel):
    status, out, _ = run_code(
        kernel,
        """
        import os
        print(sorted(k for k in os.environ if k.startswith(("NBGRADER", "JPY_", "NBGRADER_DB"))))
        """,
    )
    assert (status, out.strip()) == ("ok", "[]")


def test_interrupt_by_message(kernel):
    import threading

    def interrupt_soon():  # what KernelManager.interrupt_kernel sends in "message" mode
        time.sleep(1.0)
        msg = kernel.session.msg("interrupt_request", {})
        kernel.control_channel.send(msg)

    threading.Thread(target=interrupt_soon, daemon=True).start()
    status, _, err = run_code(kernel, "while True:\n    pass", timeout=60)
    assert (status, err) == ("error", "KeyboardInterrupt")


def test_true_fork_bomb_is_contained_and_killed_with_its_sandbox(tmp_path):
    """`while True: os.fork()` in a sandbox: the machine keeps working, and killing bwrap ends it."""
    require_bwrap()
    policy = SandboxPolicy(processes=64)
    sb = Box.create(policy, REPO_ROOT, tmp_path, env=ENV)
    bomb = textwrap.dedent(
        f"""
        import os, resource
        resource.setrlimit(resource.RLIMIT_NPROC, ({policy.processes}, {policy.processes}))
        print("armed", flush=True)
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """
    )
    proc = subprocess.Popen(sb.prefix() + [sys.executable, "-c", bomb], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "armed"
        time.sleep(2)
        if sb.uid is not None:
            assert 1 < host_tasks_of(sb.uid) <= policy.processes
        # The grader can still start processes while the bomb runs.
        assert subprocess.run(["true"], timeout=10).returncode == 0
    finally:
        proc.kill()
        proc.wait(timeout=30)
    if sb.uid is not None:
        deadline = time.time() + 10
        while host_tasks_of(sb.uid) and time.time() < deadline:
            time.sleep(0.1)
        assert host_tasks_of(sb.uid) == 0


def test_kernel_ignoring_sigint_dies_with_its_sandbox(tmp_path):
    """A cell that ignores interrupts: killing the kernel (bwrap) ends it and its children."""
    require_bwrap()
    sb = Box.create(SandboxPolicy(), REPO_ROOT, tmp_path, env=ENV)
    km = kernel_manager(sb)
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        kc.execute(
            "import os, signal, subprocess\n"
            "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
            "while True:\n    pass\n"
        )
        time.sleep(2)
        km.interrupt_kernel()
        time.sleep(1)
        assert km.is_alive()  # the interrupt was ignored
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert not km.is_alive()
    if sb.uid is not None:
        deadline = time.time() + 10
        while host_tasks_of(sb.uid) and time.time() < deadline:
            time.sleep(0.1)
        assert host_tasks_of(sb.uid) == 0


def test_a_course_without_venv_inside_hides_everything(tmp_path):
    """Another course layout: submissions and the gradebook of a course dir stay invisible."""
    require_bwrap()
    course = tmp_path / "course"
    (course / "submitted" / "alice" / "01").mkdir(parents=True)
    (course / "submitted" / "alice" / "01" / "nb.ipynb").write_text("{}")
    (course / "source").mkdir()
    (course / "gradebook.db").write_text("")
    sb = Box.create(SandboxPolicy(), course, tmp_path / "work", env=ENV)
    code = f"import os; print(os.listdir({str(course)!r}))"
    r = subprocess.run(sb.prefix() + [sys.executable, "-c", code], capture_output=True, text=True)
    assert (r.returncode, r.stdout.strip()) == (0, "[]"), r.stderr


def test_require_bwrap_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CourseError, match="apt-get install bubblewrap"):
        require_bwrap()


def test_disabled_sandbox_has_no_prefix(tmp_path):
    sb = Box.create(SandboxPolicy(enabled=False), REPO_ROOT, tmp_path, env=ENV)
    assert sb.prefix() == [] and sb.uid is None


def test_limits_from_nbgrader_config(tmp_path):
    """c.Sandbox.* is a traitlets section of nbgrader_config.py; CLI overrides win; a misspelt or
    mistyped setting is a one-line error."""
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'x'\n"
        "c.Sandbox.address_space_mb = 2048\n"
        "c.Sandbox.cell_timeout = 30\n"
        "c.Sandbox.processes = 100\n"
    )
    policy = SandboxPolicy.of(Course(tmp_path).config, processes=200, cpu_seconds=None)
    assert (policy.address_space_mb, policy.cell_timeout, policy.processes) == (2048, 30.0, 200)
    assert policy.cpu_seconds == SandboxPolicy().cpu_seconds
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Sandbox.adress_space_mb = 1\n")
    with pytest.raises(CourseError, match="adress_space_mb"):
        SandboxPolicy.of(Course(tmp_path).config)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Sandbox.processes = 'many'\n")
    with pytest.raises(CourseError, match="processes"):
        SandboxPolicy.of(Course(tmp_path).config)


# --- the grading engine's fork server inside the sandbox ------------------------------------------


def _nb(*sources: str):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_fork_server_in_the_sandbox_isolates_one_kernel_from_the_next(tmp_path):
    """Forked kernels: limits applied, private HOME, no leftovers and no planted startup code."""
    from autograder.engine.execute import run_notebook
    from autograder.engine.kernels import ForkServer

    require_bwrap()
    box = Box.create(POLICY, REPO_ROOT, tmp_path / "box", env=ENV)
    with ForkServer(**box.fork_server_options(PRELOAD)) as server:
        server.start()
        first = run_notebook(
            _nb(
                "import os, resource, subprocess, pathlib\n"
                "print(os.getuid(), resource.getrlimit(resource.RLIMIT_NPROC)[0],"
                " resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)",
                "import sys\n"
                "print(os.environ['HOME'] == os.getcwd(), os.environ.get('NBGRADER_DB_URL'),"
                " 'nbgrader' in sys.modules)",
                # leave a daemon and a startup file behind for the next student's kernel
                "subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
                "for d in (os.environ['IPYTHONDIR'], os.path.expanduser('~/.ipython'), '/tmp/ipython'):\n"
                "    p = pathlib.Path(d, 'profile_default', 'startup')\n"
                "    p.mkdir(parents=True, exist_ok=True)\n"
                "    (p / '00-evil.py').write_text('EVIL = True')\n"
                "print('planted')",
            ),
            kernels=server,
            timeout=60,
        )
        uid, nproc, as_mb = _stdout(first.nb.cells[0]).split()
        assert int(uid) != 0 and int(nproc) == POLICY.processes and int(as_mb) == POLICY.address_space_mb
        # (nor the grader's code: the fork server unpickled a hook that needs no nbgrader)
        assert _stdout(first.nb.cells[1]).strip() == "True None False"
        assert _stdout(first.nb.cells[2]).strip() == "planted"

        second = run_notebook(
            _nb(
                "import os\n"
                "print('EVIL' in globals(), sorted(p for p in os.listdir('/proc') if p.isdigit() and"
                " open(f'/proc/{p}/comm').read().strip() == 'sleep'))",
                "import tensorflow as tf\nprint(float(tf.Variable(2.0) * 3))",
            ),
            kernels=server,
            timeout=60,
        )
        assert _stdout(second.nb.cells[0]).strip() == "False []"
        assert _stdout(second.nb.cells[1]).strip() == "6.0"


def test_grade_refuses_to_run_without_bubblewrap(tmp_path):
    """Safe by default: no bwrap, no grading (unless --no-sandbox), with the install hint."""
    import shutil as sh

    sh.copy(REPO_ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    r = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--course", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        timeout=120,
    )
    assert r.returncode == 2
    assert "apt-get install bubblewrap" in r.stderr and "--no-sandbox" in r.stderr
    assert r.stderr.count("\n") == 1  # one line, no traceback
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "--course",
            str(tmp_path),
            "--no-progress",
            "--no-sandbox",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(tmp_path)},
        timeout=120,
    )
    assert "WARNING: grading WITHOUT the sandbox" in r.stderr  # then it goes on (here: nothing to grade)


# --- each forked kernel walled off from the fork server and the other kernels ---------------------

WALLS = """
import os, json
me = {"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid(),
      "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapAmb"))],
      "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
      "tmp": os.listdir("/tmp")}
try:
    me["neighbours"] = os.listdir(os.path.dirname(os.getcwd()))
except OSError as e:
    me["neighbours"] = type(e).__name__
print(json.dumps(me))
"""

# Leaves behind a process that forks for ever (a new pid each round) and one that ignores every
# signal it can; both write their pid and uid first.
SURVIVORS = """
import os, signal, time
def spawn(body):
    if os.fork() == 0:
        try:
            os.setsid()
            body()
        finally:
            os._exit(0)
def keep_forking():
    while True:
        if os.fork() != 0:
            os._exit(0)
        time.sleep(0.01)
def ignore_signals():
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, signal.SIG_IGN)
    while True:
        time.sleep(0.01)
spawn(keep_forking)
spawn(ignore_signals)
time.sleep(0.5)
print(os.getuid())
"""


def _forked_kernel_walls(tmp_path, warden: bool):
    from autograder.engine.execute import run_notebook
    from autograder.engine.kernels import ForkServer

    require_bwrap()
    box = Box.create(SandboxPolicy(), REPO_ROOT, tmp_path / "box", env=ENV)
    options = box.fork_server_options(PRELOAD)
    if warden:

        def isolation(scratch, runtime):
            return {**box.kernel_isolation(scratch, runtime), "warden": True}

        options["kernel_isolation"] = isolation
    with ForkServer(**options) as server:
        server.start()
        first = run_notebook(
            _nb(WALLS, "open('/tmp/for_the_next', 'w').write('hi')", SURVIVORS), kernels=server, timeout=60
        )
        walls = __import__("json").loads(_stdout(first.nb.cells[0]))
        uid = int(_stdout(first.nb.cells[2]))
        # The notebook is over: nothing of it is left anywhere on the machine. Directly forked,
        # the kernel's exit waits for its namespace to be empty; a warden's death makes the kernel
        # die a moment later.
        deadline = time.monotonic() + (5 if warden else 0)
        while host_tasks_of(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host_tasks_of(uid) == 0, f"processes of uid {uid} outlived their notebook"
        second = run_notebook(_nb(WALLS), kernels=server, timeout=60)
        walls2 = __import__("json").loads(_stdout(second.nb.cells[0]))
    return server, walls, walls2


@pytest.mark.parametrize("warden", [False, True], ids=["direct", "warden"])
def test_forked_kernels_are_walled_off_and_leave_nothing_behind(tmp_path, warden):
    """Each kernel: pid 1 of its own PID namespace (sees no fork server, no other kernel), its own
    uid, no capabilities, a private /tmp, no listing of other kernels' folders; what it started
    dies with it, a process that keeps forking and one that ignores signals included."""
    _, walls, walls2 = _forked_kernel_walls(tmp_path, warden)
    for w in (walls, walls2):
        assert (w["pid"], w["ppid"]) == (1, 0), w
        assert all(int(c, 16) == 0 for c in w["caps"]), w
        assert w["neighbours"] == "PermissionError", w
        assert w["processes"][0] == 1 and len(w["processes"]) < 30, w  # itself and its threads
    assert walls["uid"] != walls2["uid"] and min(walls["uid"], walls2["uid"]) >= 2**31
    assert walls2["tmp"] == [] or "for_the_next" not in walls2["tmp"], walls2


def test_a_course_cloned_below_tmp_still_runs_its_kernels(tmp_path):
    """`git clone . /tmp/fresh`: the Python environment and course pieces the sandbox binds from
    below /tmp stay visible (read-only) under each kernel's private /tmp; nothing else does."""
    from autograder.engine.execute import run_notebook
    from autograder.engine.kernels import ForkServer

    require_bwrap()
    course = tmp_path / "course"  # pytest's tmp_path is below /tmp
    (course / ".venv").mkdir(parents=True)
    (course / ".venv" / "marker").write_text("the environment")
    (course / "gradebook.db").write_text("secret")
    box = Box.create(SandboxPolicy(), course, tmp_path / "box", env=ENV)
    with ForkServer(**box.fork_server_options([])) as server:
        run = run_notebook(_nb(
            "import os\n"
            f"print(open({str(course / '.venv' / 'marker')!r}).read())\n"
            f"print(os.path.exists({str(course / 'gradebook.db')!r}), os.listdir('/tmp') == [] or "
            f"sorted(os.listdir('/tmp')))\n"
            f"try:\n    open({str(course / '.venv' / 'evil')!r}, 'w')\nexcept OSError as e:\n"
            "    print(type(e).__name__, e.errno)",
        ), kernels=server, timeout=60)  # fmt: skip
    out = _stdout(run.nb.cells[0]).splitlines()
    assert out[0] == "the environment", run.nb.cells[0].outputs
    assert out[1].startswith("False"), out
    assert out[2] == "OSError 30", out  # EROFS: read-only, as the sandbox bound it
