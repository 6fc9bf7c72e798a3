"""In-kernel attacks on test cells, each as a tiny notebook: setup, wrong answer, attack, test.

Every attack below makes the failing test cell look passed when nothing protects it (no error
output, no stderr: what nbgrader scores as full points). With `autograder.engine.guard` the test must
still fail, or its verdict must say tampered (score 0, flagged): `expect` is the text one of the
verdict's reasons must contain. tests/test_guard.py runs each in a real kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

SETUP = "import math\nimport numpy as np\n"
SETUP_TF = SETUP + "import tensorflow as tf\n"


@dataclass(frozen=True)
class Attack:
    name: str
    answer: str  # the student's (wrong) answer cell
    attack: str  # the cell that tries to fool the test
    test: str  # the instructor's test cell (fails for the wrong answer)
    expect: str  # a substring of one of the guard's reasons
    tf: bool = False  # needs TensorFlow in the kernel
    still_fails: bool = True  # with the guard the test raises again (else: passes but tampered)


WRONG = "def answer():\n    return 1.0\n"
TEST_EQ = 'assert answer() == 2.0, "answer() must return 2.0"\nchecked = True\nprint("checked")\n'

ATTACKS = [
    Attack(
        "set_custom_exc",
        WRONG,
        "get_ipython().set_custom_exc((Exception,), lambda *args, **kwargs: None)",
        TEST_EQ,
        "set_custom_exc",
    ),
    Attack(
        "showtraceback_override",
        WRONG,
        "ip = get_ipython()\n"
        "ip.showtraceback = lambda *a, **k: None\n"
        "ip._showtraceback = lambda *a, **k: None",
        TEST_EQ,
        "showtraceback was overridden",
    ),
    Attack(
        "post_run_cell_clears_error",
        WRONG,
        "ip = get_ipython()\n"
        "ip.showtraceback = lambda *a, **k: None\n"
        "ip.events.register('post_run_cell', lambda result: setattr(result, 'error_in_exec', None))",
        TEST_EQ,
        "'post_run_cell' event callback was registered",
    ),
    Attack(
        "input_transformer_post",
        WRONG,
        "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])",
        TEST_EQ,
        "input_transformers_post were changed",
    ),
    Attack(
        "input_transformer_cleanup",
        WRONG,
        "get_ipython().input_transformers_cleanup.append("
        "lambda lines: [l for l in lines if not l.lstrip().startswith('assert')])",
        TEST_EQ,
        "input_transformers_cleanup were changed",
    ),
    Attack(
        "ast_transformer_drops_asserts",
        WRONG,
        "import ast\n"
        "class NoAsserts(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return ast.Pass()\n"
        "get_ipython().ast_transformers.append(NoAsserts())",
        TEST_EQ,
        "ast_transformers were changed",
    ),
    Attack(
        "np_testing_assert_allclose",
        WRONG,
        "np.testing.assert_allclose = lambda *a, **k: None",
        "np.testing.assert_allclose(answer(), 2.0)\n",
        "numpy.testing.assert_allclose was replaced",
    ),
    Attack(
        "np_allclose",
        WRONG,
        "np.allclose = lambda *a, **k: True",
        'assert np.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "numpy.allclose was replaced",
    ),
    Attack(
        "numpy_internal_isclose",
        WRONG,
        "import numpy._core.numeric as numeric\nnumeric.isclose = lambda *a, **k: np.array(True)",
        'assert np.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "numpy._core.numeric.isclose was replaced",
    ),
    Attack(
        "math_isclose",
        WRONG,
        "math.isclose = lambda *a, **k: True",
        'assert math.isclose(answer(), 2.0), "answer() must return 2.0"\n',
        "math.isclose was replaced",
    ),
    Attack(
        "tf_debugging_assert_equal",
        "def answer():\n    return tf.constant(1.0)\n",
        "tf.debugging.assert_equal = lambda *a, **k: None",
        "tf.debugging.assert_equal(answer(), tf.constant(2.0))\n",
        "assert_equal was replaced",
        tf=True,
    ),
    Attack(
        "tf_variable_eq_on_class",
        "def answer():\n    return tf.Variable(1.0)\n",
        "tf.Variable.__eq__ = lambda self, other: True\n"
        "type(tf.Variable(0.0)).__eq__ = lambda self, other: True",
        'assert answer() == 2.0, "answer() must hold 2.0"\n',
        "__eq__ was",
        tf=True,
    ),
    Attack(
        "builtins_isinstance",
        WRONG,
        "import builtins\n"
        "_real = isinstance\n"
        "builtins.isinstance = lambda o, t: True if (t is str and type(o) is float) else _real(o, t)",
        'assert isinstance(answer(), str), "answer() must return a str"\n',
        "builtins.isinstance was replaced",
    ),
    Attack(
        "global_shadows_isinstance",
        WRONG,
        "isinstance = lambda *a: True",
        'assert isinstance(answer(), str), "answer() must return a str"\n',
        "redefined the builtin 'isinstance'",
    ),
    Attack(
        "fake_numpy_alias",
        WRONG,
        "class _Testing:\n"
        "    @staticmethod\n"
        "    def assert_allclose(*a, **k):\n"
        "        pass\n"
        "class FakeNumpy:\n"
        "    testing = _Testing()\n"
        "    allclose = staticmethod(lambda *a, **k: True)\n"
        "np = FakeNumpy()",
        "np.testing.assert_allclose(answer(), 2.0)\n",
        "bound 'np' to something that is not the module numpy",
    ),
    Attack(
        "fake_numpy_in_sys_modules",
        WRONG,
        "import sys, types\n"
        "fake = types.ModuleType('numpy')\n"
        "fake.allclose = lambda *a, **k: True\n"
        "sys.modules['numpy'] = fake",
        'import numpy\nassert numpy.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "sys.modules['numpy'] was replaced",
    ),
    Attack(
        "settrace_skips_asserts",
        WRONG,
        "import sys, linecache\n"
        "saved = []\n"
        "def tracer(frame, event, arg):\n"
        "    if event == 'call':\n"
        "        return tracer if frame.f_code.co_name == '<module>' else None\n"
        "    g = frame.f_globals\n"
        "    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)\n"
        "    if event == 'line' and line.lstrip().startswith('assert'):\n"
        "        saved.append(g['answer'])\n"
        "        g['answer'] = lambda: 2.0  # swapped only while a test line runs\n"
        "    elif event == 'return' and saved:\n"
        "        g['answer'] = saved.pop()\n"
        "    return tracer\n"
        "sys.settrace(tracer)",
        TEST_EQ,
        "sys.settrace was used",
    ),
    Attack(
        "excepthook_and_stderr",
        WRONG,
        "import sys, io\n"
        "sys.excepthook = lambda *a: None\n"
        "get_ipython().showtraceback = lambda *a, **k: None\n"
        "sys.stderr = io.StringIO()",
        TEST_EQ,
        "sys.stderr was replaced",  # IPython itself puts sys.excepthook back after each cell
    ),
    Attack(
        "kernel_do_execute_says_ok",
        WRONG,
        "k = get_ipython().kernel\n"
        "_orig = k.do_execute\n"
        "async def do_execute(*a, **kw):\n"
        "    reply = await _orig(*a, **kw)\n"
        "    return {'status': 'ok', 'execution_count': reply.get('execution_count'),\n"
        "            'user_expressions': reply.get('user_expressions', {}), 'payload': []}\n"
        "k.do_execute = do_execute\n"
        "get_ipython().showtraceback = lambda *a, **k: None",
        TEST_EQ,
        "the kernel's do_execute was overridden",
    ),
    Attack(
        "audit_hook_repatches",
        WRONG,
        "import sys\n"
        "def hook(event, args):\n"
        "    if event == 'exec':\n"
        "        np.allclose = lambda *a, **k: True\n"
        "try:\n"
        "    sys.addaudithook(hook)\n"
        "except Exception:\n"
        "    pass\n"
        "np.allclose = lambda *a, **k: True",
        'assert np.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "sys.addaudithook was called",
    ),
    Attack(
        "eq_always_true",
        "class Anything:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "def answer():\n"
        "    return Anything()\n",
        "pass  # the lie is in the answer itself",
        TEST_EQ,
        "the test called __eq__",
        still_fails=False,
    ),
    Attack(
        "patch_while_being_tested",
        "def answer():\n    np.testing.assert_allclose = lambda *a, **k: None\n    return 1.0\n",
        "pass  # the patch happens when the test calls answer()",
        "value = answer()\nnp.testing.assert_allclose(value, 2.0)\n",
        "during the test: numpy.testing.assert_allclose was replaced",
        still_fails=False,
    ),
    Attack(
        "patch_undone_inside_the_test",
        "def answer():\n"
        "    real = np.testing.assert_allclose\n"
        "    def fake(*a, **k):\n"
        "        np.testing.assert_allclose = real  # put the real one back, then pass\n"
        "    np.testing.assert_allclose = fake\n"
        "    return 1.0\n",
        "pass  # the patch happens when the test calls answer(), and is gone when the test ends",
        "value = answer()\nnp.testing.assert_allclose(value, 2.0)\n",
        "during the test: numpy.testing was changed and put back",
        still_fails=False,
    ),
    Attack(
        "builtin_patch_undone_inside_the_test",
        "import builtins\n"
        "def answer():\n"
        "    real = builtins.abs\n"
        "    def fake(x):\n"
        "        builtins.abs = real\n"
        "        return 0.0\n"
        "    builtins.abs = fake\n"
        "    return 1.0\n",
        "pass  # the patch happens when the test calls answer()",
        'value = answer()\nassert abs(value - 2.0) < 1e-6, "answer() must return 2.0"\n',
        "during the test: builtins.abs was replaced",  # the test's own `abs` was the pristine one
    ),
    Attack(
        "class_property_lie",
        "class FakeVariable:\n"
        "    @property\n"
        "    def __class__(self):\n"
        "        return tf.Variable\n"
        "def answer():\n"
        "    return FakeVariable()\n",
        "pass  # the lie is in the answer itself",
        'assert isinstance(answer(), tf.Variable), "answer() must return a tf.Variable"\n',
        "claimed to be a Variable",
        tf=True,
    ),
    Attack(
        "background_thread_repatches",
        WRONG,
        "import threading, time\n"
        "def keep_patching():\n"
        "    while True:\n"
        "        np.allclose = lambda *a, **k: True\n"
        "        time.sleep(0.0005)\n"
        "threading.Thread(target=keep_patching, daemon=True).start()\n"
        "time.sleep(0.05)",
        'assert np.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "numpy.allclose was replaced",
        still_fails=False,  # the thread may win the race: then the verdict must say tampered
    ),
    Attack(
        "nbgrader_execution_only_when_graded",
        WRONG,
        "import os\n"
        "print('NBGRADER_EXECUTION =', os.environ.get('NBGRADER_EXECUTION'))\n"
        "if os.environ.get('NBGRADER_EXECUTION'):\n"
        "    np.allclose = lambda *a, **k: True",
        'assert np.allclose(answer(), 2.0), "answer() must return 2.0"\n',
        "",  # nothing to report: the switch never fires, the test just fails
    ),
]
