"""The guard in real kernels: each attack fools an unguarded test cell, and not a guarded one.

For every attack of tests/adversarial/guard_attacks.py a fresh kernel runs a tiny notebook:
setup, a wrong answer, the attack, then the failing test cell twice: once without the guard
(the attack works: no error is shown) and once between the guard's before/after calls (the test
fails again, or its verdict says tampered, with the expected reason).

The kernels are forked by one fork server per module (unsandboxed, set up like the grader's:
`Box.fork_server_options`), so a case pays well under a second of kernel start instead of
importing Python, NumPy (and TensorFlow) again; every case still gets its own fresh kernel process.
(That the solutions are never flagged, in the sandbox, is proven by `python -m autograder check`,
which grades every solution with the guard on and fails on any flag.)
"""

from __future__ import annotations

import textwrap

import pytest
from adversarial.guard_attacks import ATTACKS, SETUP, SETUP_TF, WRONG, Attack
from jupyter_client.blocking import BlockingKernelClient
from jupyter_core.utils import run_sync

from autograder.coursedir import REPO_ROOT, Course
from autograder.engine import guard
from autograder.engine.kernels import ForkServer
from autograder.engine.sandbox import Box, SandboxPolicy

pytestmark = pytest.mark.slow


def run_cell(kc, source: str, timeout: float = 120):
    """Execute like nbclient does: (execute reply, nbformat-style outputs)."""
    outputs = []

    def hook(msg):
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            outputs.append({"output_type": "stream", "name": c["name"], "text": c["text"]})
        elif t == "error":
            outputs.append({"output_type": "error", "ename": c["ename"], "evalue": c["evalue"]})
        elif t in ("execute_result", "display_data"):
            outputs.append({"output_type": t, "data": c.get("data", {})})

    reply = kc.execute_interactive(source, timeout=timeout, output_hook=hook, store_history=True)
    return reply, outputs


def call(kc, expression: str, nonce: str, timeout: float = 60.0) -> dict:
    """One guard call as the grader makes it (a silent user expression), through a blocking client."""
    return guard.read_reply(kc.execute_interactive(**guard.request(expression), timeout=timeout), nonce)


def guarded_cell(kc, source: str):
    n1, n2 = guard.new_nonce(), guard.new_nonce()
    before = call(kc, guard.before_expression(n1), n1)
    reply, outputs = run_cell(kc, source)
    after = call(kc, guard.after_expression(n2), n2)
    return reply, outputs, guard.verdict(before, after, reply, outputs)


def looks_passed(outputs) -> bool:
    """nbgrader's rule: a test cell scores when it shows no error and wrote nothing to stderr."""
    return not any(
        o["output_type"] == "error" or (o["output_type"] == "stream" and o["name"] == "stderr")
        for o in outputs
    )


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """One unsandboxed fork server for the module: it imported NumPy, TensorFlow ... once."""
    kernels = Course.repo().config.Kernels  # this course's: TensorFlow preloaded, its logs quiet
    workdir = tmp_path_factory.mktemp("kernels")
    box = Box.create(SandboxPolicy(enabled=False), REPO_ROOT, workdir, env=kernels.env)
    with ForkServer(**box.fork_server_options(kernels.preload)) as server:
        server.start()
        assert not server.preload_errors, server.preload_errors
        yield server


class Kernel:
    """A fresh kernel forked by `server`, with the guard installed."""

    def __init__(self, server: ForkServer, *, preload: tuple[str, ...], env=None):
        self.km = server.kernel_manager()
        run_sync(self.km.start_kernel)(**({"env": env} if env else {}))
        # A ForkKernelManager is a jupyter_client AsyncKernelManager: drive it with a blocking client.
        self.kc = BlockingKernelClient(parent=self.km, **self.km.get_connection_info(session=True))
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        n = guard.new_nonce()
        self.startup = call(self.kc, guard.startup_expression(n, preload), n, timeout=180)
        assert self.startup["ok"] and not self.startup["preload_errors"], self.startup

    def close(self):
        self.kc.stop_channels()
        run_sync(self.km.shutdown_kernel)(now=True)



@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_is_defeated(attack: Attack, kernels):
    env = None
    if attack.name == "nbgrader_execution_only_when_graded":
        import os

        # What nbgrader's kernels get (an unsandboxed fork server gives a kernel its manager's env).
        env = {**os.environ, "NBGRADER_EXECUTION": "autograde"}
    k = Kernel(kernels, preload=("numpy", "tensorflow") if attack.tf else ("numpy",), env=env)
    try:
        for src in (SETUP_TF if attack.tf else SETUP, attack.answer, attack.attack):
            reply, outputs = run_cell(k.kc, src)
            assert reply["content"]["status"] == "ok", outputs
        if attack.name == "nbgrader_execution_only_when_graded":
            # The guard removed the variable before any student code ran: the switch never fires.
            assert outputs[0]["text"] == "NBGRADER_EXECUTION = None\n"
        else:
            # Without the guard the attack works: the failing test shows no error.
            _, outputs = run_cell(k.kc, attack.test)
            assert looks_passed(outputs), f"the attack does not work even unguarded: {outputs}"

        reply, outputs, v = guarded_cell(k.kc, attack.test)
        if attack.still_fails:
            assert reply["content"]["status"] == "error"
            assert not looks_passed(outputs), outputs
        if attack.expect:
            assert v.tampered, (v, outputs)
            assert any(attack.expect in r for r in v.reasons), v.reasons
        else:
            assert not v.tampered, v.reasons

        # The next test cell runs in a restored kernel: an honest failure is just a failure.
        reply, outputs, v = guarded_cell(k.kc, 'assert 1 == 2, "honest failure"')
        if attack.name not in ("patch_while_being_tested", "background_thread_repatches"):
            assert not v.tampered, v.reasons
        assert [o.get("evalue") for o in outputs if o["output_type"] == "error"] == ["honest failure"]
    finally:
        k.close()


def test_honest_tests_pass_and_fail_without_flags(kernels):
    k = Kernel(kernels, preload=("numpy",))
    try:
        run_cell(k.kc, SETUP + WRONG_AND_PLOT)
        reply, outputs, v = guarded_cell(k.kc, 'assert answer() == 2.0, "answer() must return 2.0"')
        assert reply["content"]["status"] == "error" and not v.tampered, v.reasons
        errors = [o for o in outputs if o["output_type"] == "error"]
        assert [(e["ename"], e["evalue"]) for e in errors] == [("AssertionError", "answer() must return 2.0")]

        reply, outputs, v = guarded_cell(k.kc, 'assert answer() == 1.0\nprint("passed")')
        assert reply["content"]["status"] == "ok" and looks_passed(outputs)
        assert not v.tampered, v.reasons
        assert outputs == [{"output_type": "stream", "name": "stdout", "text": "passed\n"}]
    finally:
        k.close()


def test_test_cell_source_is_forgotten_after_it_ran(kernels):
    """IPython keeps each cell's source (hidden tests included) in In/_ih/_i*/linecache: after a
    test cell the guard drops it, so a later cell cannot print it."""
    k = Kernel(kernels, preload=("numpy",))
    try:
        run_cell(k.kc, SETUP + WRONG)
        test = 'x = 1\n### BEGIN HIDDEN TESTS\nassert answer() == 1.0, "secret_check_7"\n### END HIDDEN TESTS'
        reply, outputs, v = guarded_cell(k.kc, test)
        assert reply["content"]["status"] == "ok" and not v.tampered, (outputs, v.reasons)
        _, outputs = run_cell(
            k.kc,
            "import linecache\n"
            "print(In, _ih, _i, _ii, _iii, [v for n, v in globals().items() if n.startswith('_i')])\n"
            "print([''.join(v[2]) for k, v in linecache.cache.items() if not k.startswith('/')])",
        )
        shown = "".join(o.get("text", "") for o in outputs)
        assert "def answer" in shown  # other cells are still there
        assert "secret_check_7" not in shown and "HIDDEN TESTS" not in shown, shown
    finally:
        k.close()


def test_lies_are_seen_however_the_class_is_made_or_unwrapped(kernels):
    """The guard wraps the comparison methods notebook classes define while a test runs. A lie is
    seen after a nested run_cell showed a traceback; in a class a student function makes while
    being tested; and a student function that puts its own unwrapped method back, or makes its
    class with type(), is reported too. The test cell's own classes are the test's: not flagged."""
    k = Kernel(kernels, preload=("numpy",))
    try:
        run_cell(k.kc, SETUP + NESTED_THEN_LIE)
        reply, outputs, v = guarded_cell(k.kc, 'assert answer() == 2.0, "answer() must return 2.0"')
        assert reply["content"]["status"] == "ok"  # the nested cell failed, the test's own code did not
        lie = [r for r in v.reasons if "__eq__" in r and "defined in the notebook" in r]
        assert v.tampered and lie, v.reasons

        run_cell(k.kc, MADE_WHILE_TESTED)
        for answer, reason in (
            ("made_inside", "the test called __eq__"),
            ("unwrapped", "Liar.__eq__, defined in the notebook, was replaced"),
            ("made_by_type", "class Sneaky with __eq__ was made by type()"),
        ):
            _, _, v = guarded_cell(k.kc, f'assert {answer}() == 2.0, "must return 2.0"')
            assert v.tampered and any(reason in r for r in v.reasons), (answer, v.reasons)

        # A library class the fork server looked at (clean) before this kernel existed: the lie
        # the notebook puts on it is seen all the same.
        _, outputs = run_cell(k.kc, LIBRARY_CLASS_LIE)
        assert [o.get("text") for o in outputs] == ["looked at in the server: True\n"], outputs
        _, _, v = guarded_cell(k.kc, 'assert from_library() == 2.0, "must return 2.0"')
        assert v.tampered and any("the test called __eq__" in r for r in v.reasons), v.reasons

        test_own_class = "class Expected:\n    def __eq__(self, other):\n        return other == 2.0\n"
        reply, outputs, v = guarded_cell(k.kc, test_own_class + "assert Expected() == 2.0")
        assert reply["content"]["status"] == "ok" and not v.tampered, v.reasons
    finally:
        k.close()


NESTED_THEN_LIE = textwrap.dedent(
    """
    class Liar:
        def __eq__(self, other):
            return True

    def answer():
        get_ipython().run_cell("raise ValueError('shown by a nested cell')")
        return Liar()
    """
)

MADE_WHILE_TESTED = textwrap.dedent(
    """
    def made_inside():
        class Inner:
            def __eq__(self, other):
                return True
        return Inner()

    def unwrapped():
        Liar.__eq__ = Liar.__eq__.__wrapped__  # the guard's wrapper, peeled off
        return Liar()

    def made_by_type():
        def eq(self, other):
            return True
        return type("Sneaky", (), {"__eq__": eq})()
    """
)


LIBRARY_CLASS_LIE = textwrap.dedent(
    """
    import email.message
    from autograder.engine import guard_kernel
    seen = guard_kernel._identity(email.message.Message) in guard_kernel._PREPARED.looked[0].keys
    print("looked at in the server:", seen)

    email.message.Message.__eq__ = lambda self, other: True

    def from_library():
        return email.message.Message()
    """
)


WRONG_AND_PLOT = textwrap.dedent(
    """
    import matplotlib.pyplot as plt  # the inline backend registers its own cell hooks: not tampering
    plt.plot([1, 2, 3])
    plt.show()

    class Point:  # a notebook class with __eq__ that the tests never compare: not tampering
        def __eq__(self, other):
            return True

    def answer():
        return 1.0
    """
)


def test_verdict_needs_both_guard_answers_with_the_nonce():
    ok = {"ok": True, "nonce": "n", "reasons": [], "error": None}
    reply = {"content": {"status": "ok"}}
    assert not guard.verdict(ok, ok, reply, []).tampered
    missing = guard.read_reply({"content": {"status": "ok", "user_expressions": {}}}, "n")
    assert guard.verdict(missing, ok, reply, []).tampered
    forged = guard.read_reply(
        {
            "content": {
                "user_expressions": {
                    guard.EXPRESSION_KEY: {"status": "ok", "data": {"text/plain": '\'{"nonce": "x"}\''}}
                }
            }
        },
        "n",
    )
    assert not forged["ok"] and "nonce" in forged["reasons"][0]
    hidden = {**ok, "error": "AssertionError: no"}
    v = guard.verdict(ok, hidden, reply, [])
    assert v.tampered and any("replied 'ok'" in r for r in v.reasons)
    v = guard.verdict(ok, ok, {"content": {"status": "error"}}, [])
    assert v.tampered and any("hidden from the outputs" in r for r in v.reasons)


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "ctypes"])
def test_words_made_at_once_report_the_namespaces_written_since_last_seen(numpy, monkeypatch):
    """`_Words.of` (the guard's per-check read of ~7,000 namespace versions) in both readers."""
    import sys

    from autograder.engine import guard_kernel as gk

    if not gk._dict_versions_work():
        return  # the guard compares entries instead
    if numpy:
        __import__("numpy")
    else:
        monkeypatch.setitem(sys.modules, "numpy", None)
    namespaces = [{"a": 1}, {"b": 2}, {"c": 3}]
    words = gk._Words.of([gk._address_of(gk._dict_version_view(d)) for d in namespaces])
    assert (words._np is not None) == numpy
    assert words.changed(words.read()) == []
    namespaces[1]["b"] = 20
    namespaces[2]["c"] = namespaces[2]["c"]  # the same object: no write
    assert words.changed(words.read()) == [1]
    words.see(1)
    assert words.changed(words.read()) == []


INHERITED_EQUALS_FULL = """
from operator import is_
from autograder.engine import guard_kernel as gk
st, ip = gk._STATE, get_ipython()
full_mods, full_classes = gk._record(st.modules, [ip, ip.kernel, ip.compile, ip.displayhook], None)
written = set(st._stale(st.mod_clean))  # since the install (this cell's own run): not compared
kept = {e[0]: e for i, e in enumerate(st.mod_snap) if i not in written}
assert {e[0] for e in full_mods} == {e[0] for e in st.mod_snap} == set(st.modules)
for e in full_mods:
    if e[0] in kept:
        k = kept[e[0]]
        assert k[1] is e[1] and k[3] == e[3] and all(map(is_, k[4], e[4])), e[0]
written_cls = set(st._stale(st.cls_clean))
mine = {id(e[0]): (i, e) for i, e in enumerate(st.cls_snap)}
new_since = {id(v) for i in written for v in vars(st.mod_snap[i][1]).values() if isinstance(v, type)}
missing = [e[0] for e in full_classes if id(e[0]) not in mine and id(e[0]) not in new_since]
assert not missing, missing[:5]
compared = 0
for e in full_classes:
    i, k = mine.get(id(e[0]), (None, None))
    if k is not None and i not in written_cls:
        assert k[2:4] == e[2:4] and k[4] == e[4] and all(map(is_, k[5], e[5])), e[0]
        compared += 1
print(len(st.mod_snap) - len(written), compared, st.trusted_classes == {id(e[0]) for e in st.cls_snap})
"""


def test_the_record_a_kernel_inherits_from_its_fork_server_is_the_full_record(kernels):
    """`_Prepared.inherit` (the server's record patched in place: only namespaces written since
    and what is new are recorded afresh) gives what recording every module and class gives."""
    k = Kernel(kernels, preload=("numpy",))
    try:
        assert k.startup["inherited"] is True, k.startup
        reply, outputs = run_cell(k.kc, INHERITED_EQUALS_FULL)
        assert reply["content"]["status"] == "ok", outputs
        modules, classes, trusted = outputs[0]["text"].split()
        assert int(modules) > 1000 and int(classes) > 3000 and trusted == "True", outputs
    finally:
        k.close()


def test_a_module_replaced_in_sys_modules_after_a_clean_check_is_caught(kernels):
    """The guard compares sys.modules entry by entry only when it was written since last found
    clean: a replacement after a clean check is still seen (and put back)."""
    k = Kernel(kernels, preload=("numpy",))
    try:
        _, _, v = guarded_cell(k.kc, "assert True")
        assert not v.tampered, v.reasons
        run_cell(k.kc, "import sys, types\nsys.modules['json'] = types.ModuleType('json')")
        reply, outputs, v = guarded_cell(k.kc, "import json\nassert hasattr(json, 'dumps')")
        assert v.tampered and "sys.modules['json'] was replaced" in v.reasons[0], v.reasons
        assert looks_passed(outputs), "restored before the test ran"
        _, _, v = guarded_cell(k.kc, "assert True")
        assert not v.tampered, v.reasons
    finally:
        k.close()


@pytest.mark.parametrize("numpy", [True, False], ids=["numpy", "ctypes"])
def test_the_class_tree_keeps_up_with_every_way_of_making_a_class(numpy, monkeypatch):
    """The guard finds the notebook's classes through `_ClassTree` (re-listing only the classes
    whose subclass list changed): after each way of making classes it knows every class a full
    walk finds, and reports exactly the new ones. Its memory reads (`_Words`) go through NumPy
    when a kernel has it loaded, through ctypes otherwise: both are checked."""
    import collections
    import dataclasses
    import enum
    import gc
    import sys

    from autograder.engine import guard_kernel as gk

    assert gk._subclass_slots_work() == (sys.version_info[:2] == (3, 11))
    if sys.version_info[:2] != (3, 11):
        return  # the guard walks every class instead (what the assertions below compare with)
    if numpy:
        __import__("numpy")
    else:
        monkeypatch.setitem(sys.modules, "numpy", None)
    tree = gk._ClassTree()
    assert (tree._slots._np is not None) == numpy

    class Clean:
        pass

    if numpy:  # an address the NumPy array does not cover turns that reader to ctypes views
        words = gk._Words()
        words.add(id(Clean) + gk._TP_SUBCLASSES)
        words._outside_the_array(gk._ADDRESS_LIMIT + 8)
        assert words._np is None and len(words._views) == 1
        assert words.changed(words.read()) == []

    clean = gk._CleanClasses()
    clean.add("Clean", Clean)
    assert clean.changed() == set()
    Clean.__eq__ = lambda self, other: True  # its namespace written: looked at again
    assert clean.changed() == {"Clean"}
    clean.add("Clean", Clean)
    assert clean.changed() == set()
    kept = []

    def made(make):
        before = gk._all_classes().keys()
        kept.append(make())
        added = tree.refresh()
        everything = gk._all_classes().keys()
        assert everything <= tree.classes.keys()
        assert added == everything - before

    class A:
        pass

    tree.refresh()
    made(lambda: type("B", (A,), {"__eq__": lambda self, other: True}))
    made(lambda: type("I", (int,), {}))  # a builtin base
    made(lambda: type("M", (A, dict), {}))  # two bases
    made(lambda: collections.namedtuple("P", "x y"))
    made(lambda: dataclasses.make_dataclass("D", ["x"]))
    made(lambda: enum.Enum("E", "a b"))
    made(lambda: type("Leaf", (kept[1],), {}))  # the first subclass of a class: its slot fills
    made(lambda: [type(f"T{i}", (A,), {}) for i in range(50)])
    kept.clear()
    gc.collect()  # subclass lists shrink (a slot may empty again)
    made(lambda: type("After", (A,), {}))
