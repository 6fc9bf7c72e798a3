"""Every released notebook runs wherever TensorFlow runs: in a bare virtual environment holding only
what a student installs (TensorFlow, NumPy, matplotlib, ipykernel, ipywidgets; no `course`, no `autograder`,
no nbgrader), each notebook alone in an empty folder runs top to bottom until its first code stub
raises NotImplementedError, with nothing on stderr before it.

The environment is made in a second from what pip installed for this project (constraints.txt pins
the same versions a student gets): those packages and their dependencies linked into a fresh venv,
nothing else. If it cannot be built, the test fails; it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder.coursedir import REPO_ROOT

STUDENT_PACKAGES = ("tensorflow-cpu", "numpy", "matplotlib", "ipykernel", "ipywidgets")
STUB = "raise NotImplementedError()"


def _distributions(names) -> dict[str, Distribution]:
    """The installed distributions `names` need: them and their dependencies (no extras)."""
    found: dict[str, Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # an optional dependency this platform does not install
        found[name] = dist
        for line in dist.requires or ():
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> Path:
    """The Python of a virtual environment holding the student's packages and their dependencies
    only: the very files pip installed for this project (so the same pinned versions), linked in
    distribution by distribution; nothing else of this environment, none of this repository."""
    env_dir = tmp_path_factory.mktemp("bare-env")
    proc = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"cannot build the bare environment (python -m venv): {proc.stderr[-2000:]}")
    python = env_dir / "bin" / "python"
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = env_dir / "lib" / ver / "site-packages"
    source = Path(sysconfig.get_paths()["purelib"])
    dists = _distributions(STUDENT_PACKAGES)
    missing = {canonicalize_name(n) for n in STUDENT_PACKAGES} - set(dists)
    assert not missing, f"not installed in this environment: {missing}"
    for dist in dists.values():
        for top in {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}:
            if not (target / top).exists() and (source / top).exists():
                (target / top).symlink_to(source / top)
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


@pytest.fixture(scope="session")
def matplotlib_cache(bare_python, tmp_path_factory) -> Path:
    """A matplotlib config folder with its font cache built. matplotlib builds the cache once per
    user, on its first import, and says so on stderr when that takes over 5 s (on a loaded CI
    machine it can): a student sees that once per machine, not in every notebook."""
    folder = tmp_path_factory.mktemp("matplotlib-config")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MPLCONFIGDIR": str(folder), "LANG": "C.UTF-8"}
    proc = subprocess.run([str(bare_python), "-c", "import matplotlib.font_manager"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def test_the_bare_environment_has_none_of_this_repository(bare_python):
    for module in ("course", "autograder", "nbgrader"):
        argv = [str(bare_python), "-c", f"import {module}"]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=tempfile.gettempdir())
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, f"{module} is importable"


def test_released_notebook_runs_alone_until_its_first_stub(
    bare_kernels, matplotlib_cache, assignment, tmp_path
):
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
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8",
           "MPLCONFIGDIR": str(matplotlib_cache)}  # fmt: skip
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
