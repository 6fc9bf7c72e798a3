"""Forked kernels: a fresh process per notebook that runs TensorFlow, shares nothing, and dies cleanly."""

from __future__ import annotations

import functools
import os
import resource
import signal
import subprocess
import time

import nbformat
import pytest

from autograder.engine.execute import run_notebook
from autograder.engine.kernels import ForkServer, describe_exit

pytestmark = pytest.mark.slow


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def server():
    # A child hook the sandbox will use for rlimits; here a visible one (a lower NOFILE limit).
    hook = functools.partial(resource.setrlimit, resource.RLIMIT_NOFILE, (512, 512))
    with ForkServer(child_hook=hook) as s:
        yield s


def test_forked_kernel_runs_tensorflow_in_a_fresh_process(server):
    result = run_notebook(
        notebook(
            "import os, tensorflow as tf\n"
            "v = tf.Variable([1.0, 2.0])\n"
            "with tf.GradientTape() as tape:\n"
            "    loss = tf.reduce_sum(v * v)\n"
            "v.assign_sub(0.25 * tape.gradient(loss, v))\n"
            "print(v.numpy().tolist())",
            "print(os.getpid(), os.getsid(0), os.getppid())",
            "print(os.getcwd())",
            "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE))",
        ),
        kernels=server,
        timeout=60,
    )
    cells = result.nb.cells
    assert [c.status for c in result.cells] == ["ok"] * 4, result.cells
    assert text(cells[0]) == "[0.5, 1.0]\n"
    pid, sid, ppid = map(int, text(cells[1]).split())
    assert pid == sid, "the kernel leads its own session (its process group can be killed whole)"
    assert pid not in (os.getpid(), server.pid) and ppid == server.pid
    cwd = text(cells[2]).strip()
    assert cwd.startswith(str(server.scratch_dir)) and cwd != str(server.scratch_dir)
    assert not os.path.exists(cwd), "the private working directory is removed with the kernel"
    assert text(cells[3]).strip() == "(512, 512)", "the child hook ran in the kernel process"
    assert not alive(pid), "the kernel process is gone after the notebook"
    assert result.kernel_seconds is not None


def test_two_notebooks_share_no_state(server):
    first = run_notebook(
        notebook(
            "import os, numpy as np, tensorflow as tf\n"
            "secret = 42\n"
            "os.environ['LEAK'] = '1'\n"
            "np.testing.assert_allclose = lambda *a, **k: None\n"
            "tf.leak = True\n"
            "open('left_behind.txt', 'w').write('x')\n"
            "print(os.getpid(), os.getcwd())"
        ),
        kernels=server,
    )
    second = run_notebook(
        notebook(
            "import os, numpy as np, tensorflow as tf\n"
            "print('secret' in globals(), 'LEAK' in os.environ, hasattr(tf, 'leak'),\n"
            "      np.testing.assert_allclose.__module__, os.listdir('.'))",
            "print(os.getpid(), os.getcwd())",
        ),
        kernels=server,
    )
    assert first.cells[0].status == "ok" and second.cells[0].status == "ok", (first.cells, second.cells)
    assert text(second.nb.cells[0]).strip() == "False False False numpy.testing._private.utils []"
    pid1, cwd1 = text(first.nb.cells[0]).split()
    pid2, cwd2 = text(second.nb.cells[1]).split()
    assert pid1 != pid2 and cwd1 != cwd2


def test_kernels_of_a_server_that_loaded_numpy_draw_different_random_numbers():
    """The server seeds NumPy's legacy generator once (its first seeding is ~9 ms, paid there);
    every kernel seeds it again, so no two share a sequence as forks of one process would."""
    draw = notebook("import numpy as np\nprint(np.random.rand())")
    with ForkServer(preload=["numpy"]) as numpy_server:
        draws = [text(run_notebook(draw, kernels=numpy_server).nb.cells[0]) for _ in range(3)]
    assert len(set(draws)) == 3, draws


def test_figures_are_png_as_in_a_normal_kernel(server):
    result = run_notebook(
        notebook("import tensorflow\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"),
        kernels=server,
    )
    kinds = {k for o in result.nb.cells[0].outputs for k in o.get("data", {})}
    assert "image/png" in kinds, result.nb.cells[0].outputs


def test_kernel_manager_uses_ipc_and_message_interrupts(server):
    km = server.kernel_manager()
    assert km.kernel_spec.interrupt_mode == "message"

    async def scenario():
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        assert km.transport == "ipc" and km.ip.startswith(str(server.runtime_dir))
        assert await km.is_alive()
        kc.execute("import os; os._exit(3)")
        for _ in range(100):
            if not await km.is_alive():
                break
            await asyncio.sleep(0.05)
        kc.stop_channels()
        alive_after = await km.is_alive()
        await km.shutdown_kernel(now=True)
        return alive_after

    import asyncio

    assert asyncio.run(scenario()) is False
    assert km.exit_description() == "exited with status 3"
    assert describe_exit(-9).startswith("was killed by signal 9 (SIGKILL)")


def test_starting_and_shutting_down_a_kernel_do_not_sleep_for_jupyter_clients_tests(server, monkeypatch):
    """jupyter_client sleeps 10 ms after each start and shutdown "to ensure tests can capture the
    state" (20 ms of idle per notebook); a forked kernel's manager does not, and its `ready` future
    is still done after each."""
    import asyncio

    import jupyter_client.manager

    slept = []
    real_sleep = asyncio.sleep

    async def sleep(delay, *args, **kwargs):
        slept.append(delay)
        return await real_sleep(delay, *args, **kwargs)

    monkeypatch.setattr(jupyter_client.manager.asyncio, "sleep", sleep)

    async def scenario():
        km = server.kernel_manager()
        await km.start_kernel()
        started = km.ready.done() and km.ready.exception() is None
        await km.shutdown_kernel(now=True)
        return started, km.ready.done()

    assert asyncio.run(scenario()) == (True, True)
    assert 0.01 not in slept, slept


# The last two tests kill and close the module's server: keep them last.


def test_a_dead_fork_server_is_restarted(server):
    first = run_notebook(notebook("print(1)"), kernels=server)
    assert first.cells[0].status == "ok"
    old, starts = server.pid, server.starts
    os.kill(old, signal.SIGKILL)
    time.sleep(0.2)
    again = run_notebook(notebook("print(2)"), kernels=server)
    assert again.cells[0].status == "ok" and text(again.nb.cells[0]) == "2\n"
    assert server.pid != old and server.starts == starts + 1


def test_closing_the_server_kills_its_kernels_and_cleans_up(server):
    km = server.kernel_manager()

    import asyncio

    async def start():
        await km.start_kernel()
        return km.provisioner.forked.pid

    pid = asyncio.run(start())
    assert alive(pid)
    workdir = server.workdir
    server.close()
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    assert not alive(pid), "a kernel outlived its fork server"
    assert not workdir.exists()


def test_the_server_command_line_can_be_prefixed():
    with ForkServer(prefix=["/usr/bin/env", "AUTOGRADER_PREFIXED=1"]) as s:  # a sandbox: bwrap ... --
        assert s.argv[:3] == ["/usr/bin/env", "AUTOGRADER_PREFIXED=1", s.python]
        s.start()
        with open(f"/proc/{s.pid}/environ", "rb") as f:
            assert b"AUTOGRADER_PREFIXED=1" in f.read().split(b"\0")


def test_work_directories_of_killed_graders_are_removed(tmp_path):
    from autograder.engine.kernels import OWNER_FILE, _write_owner, remove_stale_workdirs

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale, live, unknown = (tmp_path / f"autograder-{n}" for n in ("stale", "live", "unknown"))
    for d in (stale, live, unknown):
        (d / "scratch").mkdir(parents=True)
    (stale / OWNER_FILE).write_text(f"{dead.pid} 1")
    _write_owner(live)
    assert remove_stale_workdirs(tmp_path) == 1
    assert not stale.exists() and live.exists() and unknown.exists()


def test_removing_a_work_directory_never_changes_its_parent(tmp_path, monkeypatch):
    """A scratch tree the student made read-only is still removed, and when the directory itself
    cannot be removed at first, its parent (in real use /tmp, shared with every user) keeps its
    mode: it was once chmod-ed to 0700, which locked PostgreSQL and the hub's users out of /tmp."""
    from autograder.engine.kernels import _rmtree

    parent = tmp_path / "shared"
    tree = parent / "autograder-x"
    (tree / "locked").mkdir(parents=True)
    (tree / "locked" / "answer.txt").write_text("42")
    os.chmod(tree / "locked", 0o500)
    os.chmod(parent, 0o1777)
    real_rmdir, failed = os.rmdir, []

    def rmdir_fails_once_on_the_root(path, *args, **kwargs):
        if os.fspath(path) == str(tree) and not failed:
            failed.append(path)
            raise PermissionError(13, "Permission denied", str(path))
        return real_rmdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "rmdir", rmdir_fails_once_on_the_root)
    _rmtree(tree)
    assert failed and not tree.exists()
    assert oct(os.stat(parent).st_mode & 0o7777) == oct(0o1777)


def test_a_kernel_client_reconnects_quickly_while_the_kernel_binds_its_sockets():
    """A forked kernel's client connects before the kernel has bound its sockets: with zmq's
    default 100 ms between attempts, half of a kernel's start was spent waiting for a retry."""
    import zmq

    from autograder.engine.kernels import ForkKernelClient

    client = ForkKernelClient()
    try:
        socket = client.context.socket(zmq.DEALER)
        assert socket.getsockopt(zmq.RECONNECT_IVL) == 10
        socket.close()
    finally:
        client.context.destroy()
