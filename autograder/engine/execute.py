"""One notebook through one fresh kernel, cell by cell: timeouts, a dead kernel, hooks, timings.

`NotebookRunner` is an nbclient ``NotebookClient`` (so nbgrader's Execute preprocessor can be
built on it, see `autograder.engine.grading`) that adds what grading untrusted notebooks needs:

* kernels forked by a `ForkServer` (``kernels=``), or stock kernels when it is None;
* a per-cell timeout (nbclient's ``timeout``, nbgrader's ``c.Execute.timeout``): the kernel is
  interrupted; if it has not answered ``interrupt_grace`` seconds later it is killed;
* a per-notebook wall-clock limit (``notebook_timeout``): the kernel is killed when it is reached;
* a kernel that dies (``os._exit``, segfault, OOM kill, killed after a timeout) does not lose the
  notebook: cells that ran keep their outputs (and so their points), the cell that was running
  gets an error output saying how the kernel ended, later code cells get an error output saying
  why they did not run (no later test cell can pass);
* `ExecutionHooks`: expressions evaluated silently in the kernel once it is up, before and after
  each cell, and a check of each cell that may add outputs (the tamper guard plugs in here);
  with ``fold`` they ride on the cells' own execute requests instead of one request each;
* `CellRun` records: per code cell, its time and how it ended.

Standalone use (the authoring gate, tests)::

    with ForkServer() as kernels:
        result = run_notebook(nb, kernels=kernels, timeout=30)
    result.nb            # executed notebook (outputs filled in)
    result.cells         # [CellRun(index, grade_id, seconds, status), ...]
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from traitlets import Any as AnyTrait
from traitlets import Bool, Enum, Float, Integer

from autograder.engine.kernels import ForkKernelClient, ForkKernelManager, ForkServer
from autograder.records import CellRun

__all__ = [
    "CellContext",
    "CellRun",
    "ExecutionHooks",
    "ExecutionResult",
    "NotebookRunner",
    "Probe",
    "error_output",
    "run_notebook",
]

# Error names put into cells by the runner (a test cell with an error output scores 0).
TIMEOUT_ENAME = "CellTimeoutError"  # the name nbgrader uses for a cell that timed out
DEAD_ENAME = "DeadKernelError"  # the kernel died in (or before) this cell
NOTEBOOK_TIMEOUT_ENAME = "NotebookTimeoutError"  # the notebook's wall-clock limit was reached

# Statuses of a CellRun.
OK, ERROR, TIMEOUT, DIED, NOT_RUN = "ok", "error", "timeout", "died", "not-run"


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An error output, as a kernel would have sent it (red in Jupyter, 0 points in nbgrader)."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


def _nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


@dataclass
class CellContext:
    """What a hook knows about the cell at hand."""

    index: int  # position in nb.cells
    cell: NotebookNode  # the cell itself: a hook may append outputs to cell.outputs
    grade_id: str | None
    is_test: bool  # an autograded test cell (nbgrader "grade" on a code cell)
    is_solution: bool
    points: float


@dataclass
class Probe:
    """The value of an expression a hook evaluated silently in the kernel (not in the notebook)."""

    code: str  # the expression
    status: str  # "ok", "error", "timeout" (killed or interrupted), "dead" (no kernel)
    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # text/plain of the expression's value
    ename: str | None = None
    evalue: str | None = None
    values: dict | None = None  # a request of several expressions: each one's reply entry


PROBE_KEY = "autograder_probe"
# Evaluated first and last among folded expressions: their own time, to leave out of the cell's.
_CLOCK = "__import__('time').perf_counter()"


class ExecutionHooks:
    """Extension points of `NotebookRunner`; subclass and override what you need.

    A hook returns a Python *expression*. It is evaluated in the student's kernel as a
    ``user_expressions`` entry of an execute request with empty code, ``silent`` and no history:
    IPython's input transformers, prefilters, cell hooks and history never see it, so code the
    notebook ran cannot recognise (let alone rewrite) it. Its value comes back in a `Probe`
    handed to `check_cell`.

    With ``fold = True`` the expressions around a cell ride on the cells' own execute requests
    (a forked kernel's client only): a cell's after-expression and the next code cell's
    before-expression are evaluated as that cell's ``user_expressions``, which the kernel runs
    right after the cell's code when the cell succeeded; the first cell's before-expression goes
    with `kernel_ready`'s. After a cell that failed, they run in one request of their own as
    before. The kernel runs nothing else in between, so the expressions see the same state, at a
    round trip less each (~4 ms). Only for expressions that print nothing: their output would
    join the cell's. Their own time is measured in the kernel and left out of the cell's.
    """

    fold = False

    def kernel_ready(self) -> str | None:
        """An expression to evaluate once, in the fresh kernel, before the notebook's first cell."""
        return None

    def before_cell(self, ctx: CellContext) -> str | None:
        """An expression to evaluate just before a code cell (e.g. restore what tests rely on)."""
        return None

    def after_cell(self, ctx: CellContext) -> str | None:
        """An expression to evaluate just after a code cell (e.g. check nothing was tampered with)."""
        return None

    def check_cell(self, ctx: CellContext, before: Probe | None, after: Probe | None) -> None:
        """Inspect a cell after it ran; may append outputs (an error output fails a test cell)."""


@dataclass
class ExecutionResult:
    """What `run_notebook` returns."""

    nb: NotebookNode
    cells: list[CellRun]
    seconds: float
    kernel_seconds: float | None  # kernel start until ready
    server_wait_seconds: float  # waited for the fork server's own start-up before that (its imports)
    stopped: str | None  # why cells stopped running (kernel died, time limit), None if all ran
    server_died: bool = False  # the kernel died with its fork server (maybe not the notebook's doing)

    @property
    def cell_seconds(self) -> dict[int, float]:
        return {c.index: c.seconds for c in self.cells}


class NotebookRunner(NotebookClient):
    """A NotebookClient for untrusted notebooks (see the module docstring)."""

    kernels = AnyTrait(None, allow_none=True, help="a ForkServer, or None for stock kernels")
    hooks = AnyTrait(None, allow_none=True, help="an ExecutionHooks, or None")
    notebook_timeout = Float(
        600.0,
        allow_none=True,
        help="Wall-clock seconds for the whole notebook (kernel start included); None: no limit. "
        "When reached, the kernel is killed and the remaining cells are not run.",
    ).tag(config=True)
    interrupt_grace = Float(
        5.0,
        help="Seconds a kernel gets to stop a timed-out cell after an interrupt before it is killed.",
    ).tag(config=True)
    probe_timeout = Float(30.0, help="Seconds for code run by hooks.").tag(config=True)
    interrupt_on_timeout = Bool(True, help="Interrupt a cell that timed out (else kill).").tag(config=True)
    shutdown_kernel = Enum(["graceful", "immediate"], default_value="immediate").tag(config=True)
    max_output_bytes = Integer(
        20_000_000,
        help="Outputs a notebook may produce in total (the grader keeps them in memory). Past "
        "this, outputs are dropped, except errors, execute results and one marker per cell and "
        "stream (so a cell that wrote to stderr still did).",
    ).tag(config=True)
    seed_working_dir = Bool(
        True,
        help="Copy the data files next to the notebook (not notebooks, not hidden files) into the "
        "kernel's private working directory.",
    ).tag(config=True)

    # --- per-notebook state --------------------------------------------------------------------

    def reset_execution_trackers(self) -> None:
        super().reset_execution_trackers()
        self.cell_runs: list[CellRun] = []
        self.stopped: str | None = None  # set once no more cells can run
        self._deadline: float | None = None
        self._timeout_kind: str | None = None
        self._timeout_seconds: int | None = None
        self._ready_done = False
        self._kernel_started_at: float | None = None
        self.kernel_seconds: float | None = None
        self.server_wait_seconds = 0.0
        self.ready_probe: Probe | None = None
        self._folded_before: dict[int, Probe | None] = {}  # cell index -> its before-probe, already run
        self._last_reply: dict | None = None
        self.server_died = False
        self._output_bytes = 0
        self._output_truncated = False

    def create_kernel_manager(self):
        if self.kernels is None:
            return super().create_kernel_manager()
        self.km = ForkKernelManager(fork_server=self.kernels, config=self.config)
        return self.km

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        if self.kernels is not None:
            # A worker's first notebook can find its fork server still importing the preloaded
            # modules (TensorFlow: seconds). That is the grader's start-up: not this notebook's
            # kernel start, and not part of its time limit.
            waiting = time.monotonic()
            self.kernels.wait_started()
            self.server_wait_seconds = time.monotonic() - waiting
        self._kernel_started_at = time.monotonic()
        if self.notebook_timeout:
            self._deadline = self._kernel_started_at + self.notebook_timeout
        await super().async_start_new_kernel(**kwargs)
        if self.seed_working_dir and isinstance(self.km, ForkKernelManager):
            src = self.resources.get("metadata", {}).get("path") if self.resources else None
            if src:
                _seed(Path(src), self.km)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        if self._kernel_started_at is not None:
            self.kernel_seconds = time.monotonic() - self._kernel_started_at
        return kc

    # --- timeouts ------------------------------------------------------------------------------

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        timeout = super()._get_timeout(cell)
        if cell is not None and self._deadline is not None:
            remaining = max(1, math.ceil(self._deadline - time.monotonic()))
            if timeout is None or remaining < timeout:
                timeout = remaining
        return timeout

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None):
        at_deadline = self._deadline is not None and time.monotonic() >= self._deadline - 0.5
        if cell is None:  # kernel_info during startup
            return await super()._async_handle_timeout(timeout, cell)
        self._timeout_kind = "notebook" if at_deadline else "cell"
        self._timeout_seconds = timeout
        if not at_deadline and self.interrupt_on_timeout:
            self.log.warning("Cell timed out after %ss: interrupting the kernel", timeout)
            await _maybe_await(self.km.interrupt_kernel())
            if await self._wait_for_shell_reply(self.interrupt_grace):
                error = self.error_on_timeout or {
                    "ename": TIMEOUT_ENAME,
                    "evalue": "",
                    "traceback": [f"{TIMEOUT_ENAME}: No reply from kernel before timeout"],
                }
                return {"content": {**error, "status": "error"}}
            self.log.warning("Kernel ignored the interrupt for %ss: killing it", self.interrupt_grace)
        await self._kill_kernel()
        raise DeadKernelError("killed after a timeout")

    async def _wait_for_shell_reply(self, seconds: float) -> bool:
        """True if the kernel answered the (interrupted) request within `seconds`."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await _maybe_await(self.kc.shell_channel.get_msg(timeout=min(remaining, 0.5)))
            except Empty:
                if not await _maybe_await(self.km.is_alive()):
                    return False
                continue
            if msg.get("msg_type") == "execute_reply":
                return True
        return False

    async def _kill_kernel(self) -> None:
        try:
            await _maybe_await(self.km.signal_kernel(signal.SIGKILL))
        except RuntimeError:  # already gone
            pass

    # --- cells ---------------------------------------------------------------------------------

    def _context(self, cell: NotebookNode, index: int) -> CellContext:
        meta = _nbgrader_meta(cell)
        return CellContext(
            index=index,
            cell=cell,
            grade_id=meta.get("grade_id"),
            is_test=bool(meta.get("grade")) and cell.cell_type == "code",
            is_solution=bool(meta.get("solution")),
            points=float(meta.get("points", 0) or 0),
        )

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        ctx = self._context(cell, cell_index)
        if self.stopped is None and self._deadline is not None and time.monotonic() >= self._deadline:
            self.stopped = self._notebook_limit_message(cell_index)
            await self._kill_kernel()
        if self.stopped is not None:
            cell.outputs = [error_output(self._stopped_ename, f"not run: {self.stopped}")]
            cell.execution_count = None
            self.cell_runs.append(CellRun(cell_index, ctx.grade_id, ctx.is_test, 0.0, NOT_RUN, self.stopped))
            return cell

        hooks = self.hooks
        fold = getattr(hooks, "fold", False) and isinstance(self.kc, ForkKernelClient)
        before = after = None
        if hooks is not None:
            before = await self._before_cell(hooks, ctx, fold)
        follow: list[str] = []  # what to evaluate once this cell ran (fold: in its own request)
        next_ctx = None
        if fold:
            follow = [hooks.after_cell(ctx) or ""]
            next_index = self._next_code_cell(cell_index)
            if next_index is not None:
                next_ctx = self._context(self.nb.cells[next_index], next_index)
                follow.append(hooks.before_cell(next_ctx) or "")

        self._timeout_kind = None
        self._last_reply = None
        status, note = OK, ""
        t0 = time.monotonic()
        if self.stopped is not None:  # a hook's code killed the kernel
            cell.outputs = [error_output(self._stopped_ename, f"not run: {self.stopped}")]
            status, note = NOT_RUN, self.stopped
        else:
            if any(follow):
                self.kc.next_user_expressions = _folded_expressions(follow)
            try:
                cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
            except (DeadKernelError, CellTimeoutError) as e:
                status, note = await self._after_death(cell, cell_index, e)
            else:
                if self._timeout_kind is not None:
                    status, note = TIMEOUT, f"interrupted after {self._timeout_seconds} s"
                    if not any(o.get("ename") == TIMEOUT_ENAME for o in cell.outputs):
                        cell.outputs.append(
                            error_output(TIMEOUT_ENAME, f"cell interrupted after {self._timeout_seconds} s")
                        )
                elif any(o.output_type == "error" for o in cell.outputs):
                    status = ERROR
            finally:
                if isinstance(self.kc, ForkKernelClient):
                    self.kc.next_user_expressions = None  # not sent (the cell was skipped): not for the next
        seconds = time.monotonic() - t0
        if any(follow) and self.stopped is None:
            probes, folded_seconds = _folded_probes(follow, self._last_reply)
            seconds -= folded_seconds
            if probes is None:  # the cell failed: the kernel did not evaluate them
                probes = await self.run_probes(follow)
            after = probes[0] if follow[0] else None
            if next_ctx is not None:
                self._folded_before[next_ctx.index] = probes[1] if follow[1] else None

        if hooks is not None:
            if self.stopped is None and not fold:
                code = hooks.after_cell(ctx)
                if code:
                    after = await self.run_probe(code)
            ctx.cell = cell
            hooks.check_cell(ctx, before, after)
        self.cell_runs.append(CellRun(cell_index, ctx.grade_id, ctx.is_test, seconds, status, note))
        return cell

    async def _before_cell(self, hooks: ExecutionHooks, ctx: CellContext, fold: bool) -> Probe | None:
        """Run `kernel_ready` once, then this cell's before-expression (unless folded already)."""
        if self.stopped is not None:
            return None
        if ctx.index in self._folded_before:
            return self._folded_before.pop(ctx.index)
        ready = None
        if not self._ready_done:
            self._ready_done = True
            ready = hooks.kernel_ready()
        code = hooks.before_cell(ctx)
        if fold and ready and code:  # one request for both
            self.ready_probe, before = await self.run_probes([ready, code])
            return before
        if ready:
            self.ready_probe = await self.run_probe(ready)
        return await self.run_probe(code) if code and self.stopped is None else None

    def _next_code_cell(self, index: int) -> int | None:
        """The code cell nbclient runs after cell `index` (it skips empty and tagged cells)."""
        for j in range(index + 1, len(self.nb.cells)):
            cell = self.nb.cells[j]
            if (
                cell.cell_type == "code"
                and cell.source.strip()
                and self.skip_cells_with_tag not in cell.metadata.get("tags", [])
            ):
                return j
        return None

    async def _check_raise_for_error(self, cell, cell_index, exec_reply):
        self._last_reply = exec_reply  # the folded expressions' values are in it
        return await super()._check_raise_for_error(cell, cell_index, exec_reply)

    # nbclient binds its sync wrappers to its own coroutines; dispatch to the overrides instead.
    def execute_cell(self, *args: Any, **kwargs: Any) -> NotebookNode:
        return run_sync(self.async_execute_cell)(*args, **kwargs)

    def start_new_kernel(self, **kwargs: Any) -> None:
        return run_sync(self.async_start_new_kernel)(**kwargs)

    def start_new_kernel_client(self):
        return run_sync(self.async_start_new_kernel_client)()

    @property
    def _stopped_ename(self) -> str:
        return NOTEBOOK_TIMEOUT_ENAME if self._timeout_kind == "notebook" else DEAD_ENAME

    def _notebook_limit_message(self, index: int) -> str:
        self._timeout_kind = "notebook"
        return f"the notebook's time limit ({self.notebook_timeout:g} s) was reached at cell {index}"

    async def _after_death(self, cell: NotebookNode, index: int, exc: Exception) -> tuple[str, str]:
        """The kernel is gone while `cell` ran: say why in the cell, stop the notebook."""
        kind = self._timeout_kind
        if kind == "notebook":
            self.stopped = self._notebook_limit_message(index)
            cell.outputs.append(
                error_output(NOTEBOOK_TIMEOUT_ENAME, f"{self.stopped}; the kernel was killed")
            )
            return TIMEOUT, self.stopped
        if kind == "cell" or isinstance(exc, CellTimeoutError):
            why = (
                f"cell {index} timed out after {self._timeout_seconds} s and the "
                f"kernel did not stop when interrupted, so it was killed"
            )
            self.stopped = why
            cell.outputs.append(error_output(TIMEOUT_ENAME, why))
            if isinstance(exc, CellTimeoutError):
                await self._kill_kernel()
            return TIMEOUT, why
        how = self.km.exit_description() if isinstance(self.km, ForkKernelManager) else "died"
        self.stopped = f"the kernel {how} while running cell {index}"
        if isinstance(self.kernels, ForkServer) and not self.kernels.alive:
            # The kernel died with its fork server (which a kernel may have killed): not
            # necessarily the notebook's fault. Callers decide (grading retries once).
            self.server_died = True
            self.stopped += " (its fork server died too)"
        cell.outputs.append(error_output(DEAD_ENAME, self.stopped))
        return DIED, self.stopped

    # --- outputs -------------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's, within `max_output_bytes` for the whole notebook (a print loop must not
        exhaust the grader's memory before the cell's time limit stops it)."""
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            size = len(content.get("text", ""))
        else:
            size = sum(len(str(v)) for v in (content.get("data") or {}).values())
            size += sum(len(str(line)) for line in content.get("traceback") or [])
        self._output_bytes += size
        # Errors and results always count (they decide scores: an error or a partial-credit
        # result in a test cell); beyond the budget other outputs leave a marker only.
        if self._output_bytes <= self.max_output_bytes or kind in ("error", "execute_result"):
            return super().output(outs, msg, display_id, cell_index)
        notice = f"[output truncated by the grader: over {self.max_output_bytes} bytes]\n"
        name = content.get("name", "stdout") if kind == "stream" else "stdout"
        if any(
            o.get("output_type") == "stream" and o.get("name") == name and o.get("text") == notice
            for o in outs
        ):
            return None
        self._output_truncated = True
        out = nbformat.v4.new_output("stream", name=name, text=notice)
        outs.append(out)
        return out

    # --- hooks' code ---------------------------------------------------------------------------

    async def run_probe(self, code: str) -> Probe:
        """Evaluate the expression `code` in the kernel (see `ExecutionHooks`)."""
        return (await self.run_probes([code]))[0]

    async def run_probes(self, codes: list[str]) -> list[Probe]:
        """Evaluate expressions in order, in one request; an empty one gets no Probe's value."""
        request = await self._run_probe(codes)
        return _probes(codes, request.values or {}, request)

    async def _run_probe(self, codes: list[str]) -> Probe:
        """The request's Probe: how it ended, its output, and each expression's reply entry."""
        code = "\n".join(codes)
        if self.stopped is not None or self.kc is None:
            return Probe(code, "dead")
        msg_id = self.kc.execute(
            "",
            silent=True,
            store_history=False,
            user_expressions={_key(i): c for i, c in enumerate(codes) if c},
            allow_stdin=False,
            stop_on_error=False,
        )
        probe = Probe(code, "ok")
        deadline = time.monotonic() + self.probe_timeout
        reply = None
        while reply is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                msg = await _maybe_await(self.kc.shell_channel.get_msg(timeout=min(remaining, 1.0)))
            except Empty:
                if not await _maybe_await(self.km.is_alive()):
                    how = self.km.exit_description() if isinstance(self.km, ForkKernelManager) else "died"
                    self.stopped = f"the kernel {how} while the grader checked it"
                    return Probe(code, "dead")
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                reply = msg
        if reply is None:  # the kernel hangs in the hook's code: same treatment as a cell
            await _maybe_await(self.km.interrupt_kernel())
            if not await self._wait_for_shell_reply(self.interrupt_grace):
                await self._kill_kernel()
                self.stopped = "the kernel hung in the grader's checks and was killed"
            return Probe(code, "timeout")
        idle_by = time.monotonic() + self.iopub_timeout
        while time.monotonic() < idle_by:
            try:
                msg = await _maybe_await(
                    self.kc.iopub_channel.get_msg(timeout=max(0.05, idle_by - time.monotonic()))
                )
            except Empty:
                break
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            if kind == "stream":
                if content.get("name") == "stderr":
                    probe.stderr += content.get("text", "")
                else:
                    probe.stdout += content.get("text", "")
        content = reply["content"]
        if content.get("status") != "ok":
            probe.status = "error"
            probe.ename = content.get("ename") or "NoResult"
            probe.evalue = content.get("evalue") or "the expression was not evaluated"
        else:
            probe.values = content.get("user_expressions") or {}
        return probe


def _key(i: int) -> str:
    return PROBE_KEY if i == 0 else f"{PROBE_KEY}_{i}"


def _probes(codes: list[str], values: dict, request: Probe) -> list[Probe]:
    """One Probe per expression of a request (`request`: how the request itself ended)."""
    probes = []
    for i, code in enumerate(codes):
        probe = dataclasses.replace(request, code=code, values=None)
        if probe.status == "ok":
            _read_value(probe, values.get(_key(i)))
        probes.append(probe)
    return probes


def _read_value(probe: Probe, value: dict | None) -> None:
    """Fill `probe` from its expression's entry in an execute reply's ``user_expressions``."""
    if not value or value.get("status") != "ok":
        failed = value if value and value.get("status") == "error" else {}
        probe.status = "error"
        probe.ename = failed.get("ename") or "NoResult"
        probe.evalue = failed.get("evalue") or "the expression was not evaluated"
    else:
        probe.result = (value.get("data") or {}).get("text/plain")


def _folded_expressions(codes: list[str]) -> dict[str, str]:
    """A cell's user_expressions: the hooks' (empty ones left out) between two clock readings."""
    exprs = {f"{PROBE_KEY}_t0": _CLOCK}
    exprs.update({_key(i): c for i, c in enumerate(codes) if c})
    exprs[f"{PROBE_KEY}_t1"] = _CLOCK
    return exprs


def _folded_probes(codes: list[str], reply: dict | None) -> tuple[list[Probe] | None, float]:
    """The Probes of expressions folded into a cell's request, and their time in the kernel; None
    when the kernel did not evaluate them (it does only after a cell that succeeded)."""
    content = (reply or {}).get("content", {})
    values = content.get("user_expressions") or {}
    if content.get("status") != "ok" or _key(0 if codes[0] else 1) not in values:
        return None, 0.0
    probes = _probes(codes, values, Probe("", "ok"))
    try:
        clock = [float((values[f"{PROBE_KEY}_{t}"].get("data") or {})["text/plain"]) for t in ("t0", "t1")]
        seconds = max(0.0, clock[1] - clock[0])
    except (KeyError, TypeError, ValueError):  # the notebook broke __import__: count it as the cell's
        seconds = 0.0
    return probes, seconds


async def _maybe_await(value):
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


def _seed(src: Path, km: ForkKernelManager) -> None:
    """Copy the data files next to the notebook into the kernel's working directory."""
    dest = km.scratch_dir
    if dest is None or not src.is_dir():
        return
    for p in src.iterdir():
        if p.name.startswith(".") or p.suffix == ".ipynb" or p.name == "__pycache__":
            continue
        if p.is_symlink():  # a submitted link to ../../source/... would be copied as its target
            continue
        target = dest / p.name
        if target.exists():
            continue
        if p.is_dir():
            shutil.copytree(p, target, symlinks=True)  # links inside stay links (dangling in the sandbox)
        elif p.is_file():
            shutil.copy2(p, target)


def run_notebook(
    nb: NotebookNode,
    *,
    kernels: ForkServer | None = None,
    timeout: int | None = 120,
    notebook_timeout: float | None = 600.0,
    interrupt_grace: float = 5.0,
    hooks: ExecutionHooks | None = None,
    cwd: str | Path | None = None,
    **client_kwargs: Any,
) -> ExecutionResult:
    """Execute `nb` (in place) in a fresh kernel and report how every code cell ran.

    Errors in cells never raise: they are outputs, like in Jupyter. Raises only when no kernel
    could be started (`autograder.engine.kernels.ForkServerError`, RuntimeError).
    `cwd`: a directory whose data files the kernel should find in its working directory.
    """
    runner = NotebookRunner(
        nb,
        kernels=kernels,
        timeout=timeout,
        notebook_timeout=notebook_timeout,
        interrupt_grace=interrupt_grace,
        hooks=hooks,
        allow_errors=True,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        **client_kwargs,
    )
    t0 = time.monotonic()
    resources = {"metadata": {"path": str(cwd)}} if cwd else {}
    runner.resources = resources
    runner.execute(**({"cwd": str(cwd)} if cwd else {}))
    return ExecutionResult(
        nb=nb,
        cells=list(runner.cell_runs),
        seconds=time.monotonic() - t0,
        kernel_seconds=runner.kernel_seconds,
        server_wait_seconds=runner.server_wait_seconds,
        stopped=runner.stopped,
        server_died=runner.server_died,
    )
