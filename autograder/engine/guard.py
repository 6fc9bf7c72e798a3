"""Tamper resistance inside the grading kernel: test cells must not be fooled by earlier cells.

A notebook's test cells run in the same Python process as the student's code, after it. Code
that ran before a test cell can make a failing test look passed. The guard defeats the known
ways of doing that, in three layers:

1. **Pristine references, captured at kernel start** (`startup_expression`, evaluated once
   before any student code). In the kernel, `guard_kernel.install` records every module loaded at
   that moment (the standard library, NumPy, TensorFlow, Keras, IPython, ipykernel, zmq,
   jupyter_client ...: all trusted code) with the functions and classes in it, the Python
   classes those modules define (e.g. ``tf.Variable``, ``IPython``'s shell and
   ``ipykernel``'s kernel classes), the IPython shell's hooks (custom exception handlers,
   ``showtraceback``, input and AST transformers, prefilters, event callbacks, compiler,
   display hooks), the kernel's message handlers, and ``sys`` hooks (trace and profile
   functions, ``excepthook``, ``displayhook``, ``stdout``/``stderr``, import hooks). It removes
   ``NBGRADER_*`` variables from the environment (a notebook cannot tell grading from a normal
   run that way) and installs an audit hook that refuses any further audit hook (which would
   otherwise run student code between the guard and the test cell).

2. **Before each test cell** (`before_expression`): everything above is compared with the
   pristine state and *restored*; what differed is reported. Restored: replaced functions and
   classes in trusted modules (``np.testing.assert_allclose``, ``np.allclose``,
   ``tf.debugging.*``, ``math.isclose``, ``builtins.isinstance``, internals such as
   ``numpy._core.numeric.isclose``), methods set on trusted classes (``tf.Variable.__eq__``,
   ``InteractiveShell.run_cell``), shell and kernel instance overrides (``ip.showtraceback =``),
   ``set_custom_exc``, transformers, event callbacks (those not from trusted modules, so
   matplotlib's inline backend hook stays), ``sys.settrace``/``setprofile``/``excepthook`` and
   friends, replaced ``sys.modules`` entries, notebook globals that shadow test-critical builtins
   (``isinstance = lambda *a: True``) and conventional module aliases bound to impostors
   (``np = FakeNumpy()``). Comparing with a record of ~100,000 entries costs ~5 ms: only the
   namespaces whose dict version (PEP 509) changed since they were last found pristine are
   compared entry by entry. Then it watches the test cell for comparison-like dunders
   (``__eq__``, ``__bool__``, ``__len__``, ``__array__``, ``__instancecheck__`` ...) *defined by
   notebook code* that the test calls: every such method of a class made by the notebook is
   swapped for a recording wrapper until the test ends, and so is each one of a class a student
   function makes with a ``class`` statement while being tested (``builtins.__build_class__`` is
   watched meanwhile). An object whose ``__eq__`` always returns True is seen the moment a test
   compares with it. A watched method taken off or replaced during the test, and a class with
   such a method made by ``type(...)`` during the test, are reported too. (The former watch, a
   profile function, put CPython in tracing mode: TensorFlow-heavy tests ran about twice as slow.)

3. **After each test cell** (`after_expression`) the check runs again: anything the test cell
   itself triggered (a student function that patches ``np.allclose`` while being tested, or
   unwraps a watched method) is reported; the kernel's record of the exception the cell
   raised is returned. `verdict` then checks, *outside* the kernel, that both guard calls
   answered with this cell's random nonce, that nothing was reported, and that the cell's
   execute reply and outputs agree with what the kernel saw (an exception that was raised but
   hidden from the reply or the outputs is tampering).

The guard calls travel as ``user_expressions``, so input transformers, prefilters and cell hooks
never see them: the kernel evaluates them with ``eval`` after the code of the request. That
request is the cell's own (`GuardHooks.fold`): a test cell's after-call and the next test's
before-call ride on the execute request of the cell just before, evaluated once its code
finished and only if it succeeded. After a cell that failed they go in a silent, history-less
request with empty code of their own (`request`). Nothing of the kernel's runs in between either
way. (A cell can read its own request, so a before-call's nonce is known to the cell before it;
the nonce proves the reply is fresh, not secret: forging it needs code aimed at the guard, below.)
A test cell whose verdict is tampered scores 0 and the submission is flagged for review.

What it does NOT stop (documented, not hidden): a student who reads this module and writes code
aimed at it. Everything in the kernel's process is reachable from student code (``gc``,
``ctypes``), so code can forge the guard's answers (replace ``guard_kernel.before``,
``__import__``, or the kernel's message handlers with ones that echo the nonce), patch C-level
state through ``ctypes``, hide a fake comparison in code whose globals are a trusted module's
(``exec(src, np.__dict__)``), race the guard from a background thread (a change that is
still in place after the cell is reported), or make a comparison method that is not a Python
function (a callable object, a ``functools.partial``: only functions are wrapped). Modules
first imported *after* kernel start are not in the pristine record (a fork-server kernel has the
course's ``c.Kernels.preload`` imported; a plain kernel imports them in `guard_kernel.install`).
Timing-based grading detection (hostname, uid, missing network) is possible. The sandbox
(autograder.engine.sandbox) bounds what such code can reach; review of flagged submissions and spot
checks cover the rest.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

# --- host side ----------------------------------------------------------------------------------

EXPRESSION_KEY = "autograder_guard"
_KERNEL = "__import__('autograder.engine.guard_kernel', fromlist=['before'])"


def new_nonce() -> str:
    return secrets.token_hex(16)


def startup_expression(nonce: str, preload: tuple[str, ...] = ()) -> str:
    """Install the guard (once, after kernel start, before any student code)."""
    return f"{_KERNEL}.install({nonce!r}, {tuple(preload)!r})"


def before_expression(nonce: str) -> str:
    """Restore pristine state and watch the coming test cell."""
    return f"{_KERNEL}.before({nonce!r})"


def after_expression(nonce: str) -> str:
    """Check what the test cell changed and what it raised."""
    return f"{_KERNEL}.after({nonce!r})"


def request(expression: str) -> dict:
    """kwargs for `KernelClient.execute`: the guard call as a user expression, with no cell code.

    Empty code with ``silent=True`` runs no input transformer, no cell hook, adds nothing to the
    history and does not change the execution count; the expression's value comes back in the
    execute reply's ``user_expressions``.
    """
    return {
        "code": "",
        "silent": True,
        "store_history": False,
        "user_expressions": {EXPRESSION_KEY: expression},
        "allow_stdin": False,
        "stop_on_error": False,
    }


def read_reply(reply: dict | None, nonce: str) -> dict:
    """The guard's report from an execute reply, or a report that says why there is none."""
    if not reply:
        return {"ok": False, "reasons": ["the guard call got no reply"]}
    content = reply.get("content", reply)
    result = (content.get("user_expressions") or {}).get(EXPRESSION_KEY)
    if not result:
        return {"ok": False, "reasons": ["the guard call did not run (no user expression result)"]}
    if result.get("status") != "ok":
        return {
            "ok": False,
            "reasons": [f"the guard call failed: {result.get('ename')}: {result.get('evalue')}"],
        }
    text = result.get("data", {}).get("text/plain", "")
    try:
        report = json.loads(json.loads(text) if text.startswith(("'", '"')) else text)
    except (ValueError, TypeError):
        try:
            import ast

            report = json.loads(ast.literal_eval(text))
        except (ValueError, SyntaxError, TypeError):
            return {"ok": False, "reasons": [f"the guard answered garbage: {text[:200]!r}"]}
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        return {"ok": False, "reasons": ["the guard's answer does not carry this cell's nonce"]}
    report["ok"] = True
    return report


@dataclass
class GuardVerdict:
    tampered: bool
    reasons: list[str] = field(default_factory=list)


def verdict(before: dict, after: dict, reply: dict | None, outputs: list) -> GuardVerdict:
    """Was this test cell's result tampered with? From both guard reports and the cell's own reply.

    `reply` is the test cell's execute reply (message or content), `outputs` its nbformat outputs.
    """
    reasons: list[str] = []
    for when, report in (("before the test", before), ("after the test", after)):
        if not report.get("ok"):
            reasons += [f"{when}: {r}" for r in report.get("reasons", ["no report"])]
        else:
            reasons += [f"{when}: {r}" for r in report.get("reasons", [])]
    content = (reply or {}).get("content", reply or {})
    status = content.get("status")  # None when the engine only has the outputs
    error_outputs = [o for o in outputs if o.get("output_type") == "error"]
    raised = after.get("error") if after.get("ok") else None
    if raised and status == "ok":
        reasons.append(f"the test raised {raised} but the kernel replied 'ok'")
    if raised and not error_outputs:
        reasons.append(f"the test raised {raised} but no error was shown in its outputs")
    if status == "error" and not error_outputs:
        reasons.append("the kernel replied 'error' but the error was hidden from the outputs")
    return GuardVerdict(bool(reasons), reasons)


def read_probe(probe, nonce: str) -> dict:
    """The guard's report from an `autograder.engine.execute.Probe` (the guard call run as code)."""
    if probe is None:
        return {"ok": False, "reasons": ["the guard call did not run"]}
    if getattr(probe, "status", "ok") != "ok":
        why = f"{probe.status}: {probe.ename or ''} {probe.evalue or ''}".strip()
        return {"ok": False, "reasons": [f"the guard call failed ({why})"]}
    text = probe.result or ""
    return read_reply(
        {"content": {"user_expressions": {EXPRESSION_KEY: {"status": "ok", "data": {"text/plain": text}}}}},
        nonce,
    )


TAMPER_ENAME = "TamperingDetected"


class GuardHooks:
    """The guard as `autograder.engine.execute.ExecutionHooks` (duck-typed: this module imports no engine).

    Once per notebook it installs the guard; around each *test* cell it evaluates the before/after
    checks as user expressions (their value comes back as the probe's result). A tampered test cell gets an
    error output (nbgrader then gives it 0 points) and is listed in `findings`, which the grader
    copies into the submission's result so the instructor reviews it.
    """

    fold = True  # its calls print nothing: they ride on the cells' own requests when they can

    def __init__(self, preload: tuple[str, ...] = ()) -> None:
        self.preload = tuple(preload)
        self.findings: list[tuple[str | None, list[str]]] = []
        self._nonces: dict[tuple[int, str], str] = {}  # (cell index, "before"/"after") -> nonce

    def kernel_ready(self) -> str:
        self._nonces.clear()  # a new notebook
        return startup_expression(new_nonce(), self.preload)

    def before_cell(self, ctx) -> str | None:
        if not ctx.is_test:
            return None
        self._nonces[ctx.index, "before"] = n = new_nonce()
        return before_expression(n)

    def after_cell(self, ctx) -> str | None:
        if not ctx.is_test:
            return None
        self._nonces[ctx.index, "after"] = n = new_nonce()
        return after_expression(n)

    def check_cell(self, ctx, before, after) -> None:
        if not ctx.is_test:
            return
        outputs = list(ctx.cell.get("outputs", []))
        b = read_probe(before, self._nonces.pop((ctx.index, "before"), ""))
        a = read_probe(after, self._nonces.pop((ctx.index, "after"), ""))
        if before is not None and getattr(before, "status", "") == "dead":
            return  # the kernel died: the engine already failed this cell, nothing to judge
        v = verdict(b, a, None, outputs)
        if v.tampered:
            self.findings.append((ctx.grade_id, v.reasons))
            ctx.cell.outputs.append(
                _error_output(
                    TAMPER_ENAME,
                    "this test's result cannot be trusted, so it scores 0 and the submission is "
                    "flagged for review: " + "; ".join(v.reasons),
                )
            )


def _error_output(ename: str, evalue: str):
    import nbformat

    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])
