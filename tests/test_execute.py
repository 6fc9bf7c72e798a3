"""One notebook through one kernel: timeouts, a kernel that dies, the time limit, hooks."""

from __future__ import annotations

import os

import nbformat
import pytest

from autograder.engine.execute import ExecutionHooks, run_notebook
from autograder.engine.kernels import ForkServer

pytestmark = pytest.mark.slow


def notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def errors(cell) -> list[str]:
    return [o.ename for o in cell.outputs if o.output_type == "error"]


@pytest.fixture(scope="module")
def kernels():
    with ForkServer() as s:
        s.start()
        yield s


def test_a_cell_that_times_out_is_interrupted_and_the_next_cells_run(kernels):
    result = run_notebook(
        notebook("x = 1", "import time\nwhile True:\n    time.sleep(0.05)", "print(x + 1)"),
        kernels=kernels,
        timeout=2,
    )
    assert [c.status for c in result.cells] == ["ok", "timeout", "ok"]
    assert errors(result.nb.cells[1]) == ["KeyboardInterrupt", "CellTimeoutError"]
    assert text(result.nb.cells[2]) == "2\n", "the same kernel goes on after the interrupt"
    assert result.stopped is None
    assert 1.5 < result.cells[1].seconds < 10


def test_a_cell_that_ignores_the_interrupt_gets_its_kernel_killed(kernels):
    result = run_notebook(
        notebook(
            "print('before')",
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
            "print('after')",
            "print('later')",
        ),
        kernels=kernels,
        timeout=2,
        interrupt_grace=1,
    )
    assert [c.status for c in result.cells] == ["ok", "timeout", "not-run", "not-run"]
    assert text(result.nb.cells[0]) == "before\n"
    assert errors(result.nb.cells[1]) == ["CellTimeoutError"]
    assert "did not stop when interrupted" in result.nb.cells[1].outputs[-1].evalue
    for cell in result.nb.cells[2:]:
        assert errors(cell) == ["DeadKernelError"] and text(cell) == ""
        assert cell.outputs[0].evalue.startswith("not run: cell 1 timed out")
    assert result.cells[1].seconds < 10


@pytest.mark.parametrize(
    "kill, how",
    [
        ("import os\nos._exit(3)", "exited with status 3"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "killed by signal 11 (SIGSEGV)"),
        ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "killed by signal 9 (SIGKILL)"),
    ],
    ids=["os._exit", "segfault", "sigkill"],
)
def test_a_kernel_that_dies_keeps_the_cells_that_ran_before(kernels, kill, how):
    result = run_notebook(
        notebook("print('one')", "print('two')", kill, "print('never')"), kernels=kernels, timeout=30
    )
    assert [c.status for c in result.cells] == ["ok", "ok", "died", "not-run"]
    assert [text(c) for c in result.nb.cells[:2]] == ["one\n", "two\n"]
    assert errors(result.nb.cells[2]) == ["DeadKernelError"]
    assert how in result.nb.cells[2].outputs[-1].evalue
    assert errors(result.nb.cells[3]) == ["DeadKernelError"]
    assert result.stopped == f"the kernel {result.nb.cells[2].outputs[-1].evalue.split('kernel ', 1)[1]}"


def test_the_notebook_time_limit_stops_the_rest(kernels):
    result = run_notebook(
        notebook("print(1)", "import time\ntime.sleep(1)", "time.sleep(30)", "print(4)"),
        kernels=kernels,
        timeout=60,
        notebook_timeout=4,
    )
    assert [c.status for c in result.cells] == ["ok", "ok", "timeout", "not-run"]
    assert errors(result.nb.cells[2]) == ["NotebookTimeoutError"]
    assert errors(result.nb.cells[3]) == ["NotebookTimeoutError"]
    assert result.seconds < 15


class Recorder(ExecutionHooks):
    def __init__(self):
        self.seen = []

    def kernel_ready(self):
        return "setattr(__import__('builtins'), '_guard_token', 'pristine')"

    def before_cell(self, ctx):
        return "print(_guard_token)" if ctx.is_test else None

    def after_cell(self, ctx):
        return "_guard_token" if ctx.is_test else None

    def check_cell(self, ctx, before, after):
        self.seen.append((ctx.index, ctx.grade_id, before and before.stdout, after and after.result))
        if after is not None and after.result != "'pristine'":
            ctx.cell.outputs.append(
                nbformat.v4.new_output("error", ename="TamperedError", evalue="", traceback=[])
            )


def test_hooks_run_code_around_test_cells_without_touching_the_notebook(kernels):
    nb = notebook("print('student')", "assert True", "import builtins\nbuiltins._guard_token = 'x'", "pass")
    for i in (1, 3):
        nb.cells[i].metadata["nbgrader"] = {"grade": True, "grade_id": f"t{i}", "points": 1}
    hooks = Recorder()
    result = run_notebook(nb, kernels=kernels, hooks=hooks)
    assert hooks.seen == [
        (0, None, None, None),
        (1, "t1", "pristine\n", "'pristine'"),
        (2, None, None, None),
        (3, "t3", "x\n", "'x'"),
    ]
    assert text(result.nb.cells[0]) == "student\n", "the hooks' output is not in the notebook"
    assert result.nb.cells[1].outputs == []
    assert errors(result.nb.cells[3]) == ["TamperedError"]
    assert [c.execution_count for c in result.nb.cells] == [1, 2, 3, 4], "hooks stay out of the history"


def test_hooks_expressions_are_invisible_to_the_notebooks_input_transformers(kernels):
    """A transformer registered by the notebook sees every cell, but never a hook's expression
    (attack: recognise the guard's calls and answer them with a forged verdict)."""
    nb = notebook(
        "seen = []\n"
        "def spy(lines):\n"
        "    seen.append(''.join(lines))\n"
        "    return lines\n"
        "get_ipython().input_transformers_cleanup.append(spy)",
        "assert True",
        "print([s for s in seen if s.strip() in ('_guard_token', 'print(_guard_token)')],"
        " 'assert True\\n' in seen)",
    )
    nb.cells[1].metadata["nbgrader"] = {"grade": True, "grade_id": "t1", "points": 1}
    hooks = Recorder()
    result = run_notebook(nb, kernels=kernels, hooks=hooks)
    assert hooks.seen[1] == (1, "t1", "pristine\n", "'pristine'")
    assert text(result.nb.cells[2]) == "[] True\n"  # the spy saw the test cell, not the hooks


COUNT_REQUESTS = """
import builtins
builtins._requests = [0]
_handle = get_ipython().kernel.shell_handlers["execute_request"]
async def _counting(*args):
    builtins._requests[0] += 1
    return await _handle(*args)
get_ipython().kernel.shell_handlers["execute_request"] = _counting
"""


class FoldingRecorder(Recorder):
    """Hooks whose expressions ride on the cells' own requests: the same values as separate probes,
    one request fewer each, their time not counted as the cell's."""

    fold = True

    def kernel_ready(self):
        return f"(setattr(__import__('builtins'), '_guard_token', 'pristine'), exec({COUNT_REQUESTS!r}))"

    def before_cell(self, ctx):
        return "_guard_token" if ctx.is_test else None

    def after_cell(self, ctx):
        return "(__import__('time').sleep(0.4), _guard_token)[1]" if ctx.is_test else None

    def check_cell(self, ctx, before, after):
        self.seen.append((ctx.index, ctx.grade_id, before and before.result, after and after.result))


def test_folded_hooks_see_what_separate_probes_would_in_fewer_requests(kernels):
    nb = notebook(
        "print('student')",  # 0: its request carries the before-expression of 1
        "assert True",  # 1: test; carries its after and the before of 2
        "import builtins\nbuiltins._guard_token = 'x'",
        "assert True",  # 3: test after a cell that changed the token
        "1/0",  # 4: failed: the before of 5 runs in a request of its own
        "assert False",  # 5: failed test: its after runs in a request of its own
        "print(_requests[0])",
    )
    for i in (1, 3, 5):
        nb.cells[i].metadata["nbgrader"] = {"grade": True, "grade_id": f"t{i}", "points": 1}
    hooks = FoldingRecorder()
    result = run_notebook(nb, kernels=kernels, hooks=hooks)
    assert hooks.seen == [
        (0, None, None, None),
        (1, "t1", "'pristine'", "'pristine'"),
        (2, None, None, None),
        (3, "t3", "'x'", "'x'"),
        (4, None, None, None),
        (5, "t5", "'x'", "'x'"),
        (6, None, None, None),
    ]
    assert text(result.nb.cells[0]) == "student\n", "nothing of the hooks joins a cell's outputs"
    assert result.nb.cells[1].outputs == []
    # ready+before(1) in one request, 7 cells, 1 for the failed cell 4, 1 for the failed test 5
    # (the pre_execute of the last cell's own request counts before it prints).
    assert text(result.nb.cells[6]) == "9\n"
    seconds = {c.index: c.seconds for c in result.cells}
    assert seconds[1] < 0.4 and seconds[3] < 0.4, "the folded after-expression's 0.4 s is not the cell's"
    assert [c.execution_count for c in result.nb.cells] == [1, 2, 3, 4, 5, 6, 7]


def test_data_files_next_to_the_notebook_are_in_the_working_directory(kernels, tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "other.ipynb").write_text("{}")
    (tmp_path / ".hidden").write_text("")
    result = run_notebook(
        notebook("import os\nprint(sorted(os.listdir('.')))"), kernels=kernels, cwd=tmp_path
    )
    assert text(result.nb.cells[0]) == "['data.csv']\n"


def test_stock_kernels_get_the_same_treatment(tmp_path):
    result = run_notebook(
        notebook("print(1)", "import os\nos._exit(1)", "print(3)"), kernels=None, timeout=60, cwd=tmp_path
    )
    assert [c.status for c in result.cells] == ["ok", "died", "not-run"]


def test_a_print_loop_cannot_flood_the_grader(kernels):
    result = run_notebook(
        notebook(
            "for i in range(20000):\n    print('x' * 100)",
            "import sys\nsys.stderr.write('e' * 1000)",
            "3 * 7",
        ),
        kernels=kernels,
        max_output_bytes=100_000,
    )
    outs = [o for c in result.nb.cells for o in c.outputs]
    assert sum(len(o.get("text", "")) for o in outs) < 200_000
    assert "[output truncated by the grader" in text(result.nb.cells[0])
    stderr = [o for o in result.nb.cells[1].outputs if o.get("name") == "stderr"]
    assert stderr, "a cell that wrote to stderr still shows it (nbgrader gives such a test 0)"
    assert result.nb.cells[2].outputs[0]["data"]["text/plain"] == "21", "results are kept"


def test_a_kernel_that_kills_its_fork_server_is_not_blamed_on_the_notebook():
    with ForkServer() as server:
        result = run_notebook(
            notebook(
                "print(1)",
                # The kernel dies (PR_SET_PDEATHSIG) once its parent is gone, which takes a moment.
                "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(10)",
                "print(3)",
            ),
            kernels=server,
            timeout=30,
        )
        assert result.server_died and "fork server died" in result.stopped
        assert [c.status for c in result.cells] == ["ok", "died", "not-run"]
        assert run_notebook(notebook("print(4)"), kernels=server).cells[0].status == "ok"


def test_waiting_for_the_fork_servers_start_up_is_neither_kernel_start_nor_the_time_limit(tmp_path):
    # A worker's first notebook can find its fork server still importing (TensorFlow: seconds).
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(3)\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    with ForkServer(preload=["slow_import"], env=env) as server:
        server.start(wait=False)
        result = run_notebook(notebook("print(1)"), kernels=server, timeout=30, notebook_timeout=2)
    assert [c.status for c in result.cells] == ["ok"], "the 3 s import is not the notebook's 2 s"
    assert result.server_wait_seconds > 2
    assert result.kernel_seconds < 2
