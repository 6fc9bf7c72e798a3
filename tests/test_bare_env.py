"""Every released notebook runs wherever TensorFlow runs: in a bare virtual environment holding only
what a student installs (TensorFlow, NumPy, matplotlib, ipykernel, ipywidgets; no `course`, no `autograder`,
no nbgrader), each notebook alone in an empty folder runs top to bottom until its first code stub
raises NotImplementedError, with nothing on stderr before it.

The environment is built once (pip, with the versions pinned in constraints.txt, so pip reuses its
cache) and kept under the temporary directory, keyed by constraints.txt and the Python version: later
sessions reuse it. If it cannot be built, the test fails; it never skips.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from autograder.coursedir import REPO_ROOT

STUDENT_PACKAGES = ("tensorflow-cpu", "numpy", "matplotlib", "ipykernel", "ipywidgets")
STUB = "raise NotImplementedError()"


def _env_dir() -> Path:
    pinned = (REPO_ROOT / "constraints.txt").read_bytes()
    key = hashlib.sha256(pinned + " ".join(STUDENT_PACKAGES).encode() + sys.version.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"tf-variables-bare-env-{key}"


def _run(argv: list[str], what: str, timeout: float) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=tempfile.gettempdir())
    if proc.returncode != 0:
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        pytest.fail(f"cannot build the bare environment ({what}):\n{output}")


@pytest.fixture(scope="session")
def bare_python() -> Path:
    """The Python of a virtual environment with the student's packages only (built on first use)."""
    env_dir = _env_dir()
    python = env_dir / "bin" / "python"
    done = env_dir / ".complete"
    if not done.exists():
        shutil.rmtree(env_dir, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(env_dir)], "python -m venv", 300)
        constraints = str(REPO_ROOT / "constraints.txt")
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "-c", constraints, *STUDENT_PACKAGES],
            f"pip install -c constraints.txt {' '.join(STUDENT_PACKAGES)}",
            1800,
        )
        done.touch()
    return python


@pytest.fixture(scope="session")
def bare_kernels(bare_python, tmp_path_factory) -> KernelSpecManager:
    """A kernel spec named "bare" that starts the bare environment's ipykernel."""
    root = tmp_path_factory.mktemp("bare-kernels")
    spec = root / "bare"
    spec.mkdir()
    argv = [str(bare_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "bare", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return KernelSpecManager(kernel_dirs=[str(root)])


def test_the_bare_environment_has_none_of_this_repository(bare_python):
    for module in ("course", "autograder", "nbgrader"):
        argv = [str(bare_python), "-c", f"import {module}"]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tempfile.gettempdir())
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, f"{module} is importable"


def test_released_notebook_runs_alone_until_its_first_stub(bare_kernels, assignment, tmp_path):
    release = REPO_ROOT / "release" / assignment.id / assignment.notebook
    nb = nbformat.read(release, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first_stub = next(i for i, c in enumerate(code) if STUB in c.source)
    assert first_stub > 0, "the setup cell comes before every stub"
    folder = tmp_path / "student"  # the notebook alone: nothing of the course beside it
    (tmp_path / "home").mkdir()
    folder.mkdir()
    shutil.copy(release, folder)
    # A student's shell: none of the settings this test run exported (TF_CPP_MIN_LOG_LEVEL ...).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    km = KernelManager(kernel_name="bare", kernel_spec_manager=bare_kernels)
    km.start_kernel(env=env, cwd=str(folder))
    client = NotebookClient(nb, km=km, timeout=300, resources={"metadata": {"path": str(folder)}})
    try:
        with pytest.raises(CellExecutionError) as stopped:
            client.execute()
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    ran = [c for c in code if c.get("execution_count")]
    failed = ran[-1]
    errors = [o for o in failed.outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "NotImplementedError", (
        f"stopped at {failed.source[:80]!r} with {stopped.value}"
    )
    # The stub itself only defines a function; the first cell that calls it raises.
    assert len(ran) > first_stub, f"stopped at {failed.source[:80]!r}, before the first stub"
    noise = [(c.source[:60], o.text[:300]) for c in ran for o in c.outputs if o.get("name") == "stderr"]
    assert not noise, f"output on stderr before the first stub: {noise}"
