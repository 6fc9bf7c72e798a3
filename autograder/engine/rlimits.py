"""The sandbox's half that runs in the kernel process: its resource limits, set right after the
kernel process starts and before any student code (see `autograder.engine.sandbox`).

Standard library only, on purpose. A fork server unpickles `apply_rlimits` as the hook each
forked kernel runs, and a plain sandboxed kernel starts with ``python -m
autograder.engine.rlimits``: whatever this module imports is imported there, and every kernel
forked afterwards inherits it. `autograder.engine.sandbox` imports nbgrader (for the course's
configuration): ~0.8 s at the first fork, and ~3,000 classes (SQLAlchemy, Jinja2 ...) in every
kernel, each of which the tamper guard had to look at once per notebook.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import asdict, dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class KernelLimits:
    """What `apply_rlimits` sets (`SandboxPolicy.limits` makes one; the policy says why each)."""

    address_space_mb: int
    cpu_seconds: int
    open_files: int
    file_size_mb: int
    processes: int


def _lower(which: int, soft: int, hard: int | None = None) -> None:
    """Set a limit, never above the current hard limit (raising it needs privileges)."""
    hard = soft if hard is None else hard
    cur_soft, cur_hard = resource.getrlimit(which)
    if cur_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, cur_hard), min(hard, cur_hard)
    resource.setrlimit(which, (soft, hard))


def apply_rlimits(limits: KernelLimits, *, sandboxed: bool) -> None:
    """Apply the limits to the calling process (and so to everything it starts).

    The process limit is applied only inside the sandbox: outside, RLIMIT_NPROC would count every
    process of the grader's user (and is ignored for root), so it would either break honest
    kernels or do nothing.
    """
    _lower(resource.RLIMIT_AS, limits.address_space_mb * MiB)
    _lower(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5)
    _lower(resource.RLIMIT_NOFILE, limits.open_files)
    _lower(resource.RLIMIT_FSIZE, limits.file_size_mb * MiB)
    _lower(resource.RLIMIT_CORE, 0)
    if sandboxed:
        _lower(resource.RLIMIT_NPROC, limits.processes)


def expected_rlimits(limits: KernelLimits) -> dict[str, tuple[int, int]]:
    """What `resource.getrlimit` reports in a sandboxed kernel after `apply_rlimits` (for checks)."""
    return {
        "RLIMIT_AS": (limits.address_space_mb * MiB,) * 2,
        "RLIMIT_CPU": (limits.cpu_seconds, limits.cpu_seconds + 5),
        "RLIMIT_NOFILE": (limits.open_files,) * 2,
        "RLIMIT_FSIZE": (limits.file_size_mb * MiB,) * 2,
        "RLIMIT_CORE": (0, 0),
        "RLIMIT_NPROC": (limits.processes,) * 2,
    }


def kernel_argv(limits: KernelLimits, *, sandboxed: bool, python: str | None = None) -> list[str]:
    """argv of a plain (not forked) IPython kernel that applies `limits` first.

    For jupyter_client kernel specs: ``{connection_file}`` is filled in by the kernel manager.
    """
    spec = json.dumps({**asdict(limits), "sandboxed": sandboxed})
    return [python or sys.executable, "-m", "autograder.engine.rlimits", spec, "-f", "{connection_file}"]


def _main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    sandboxed = spec.pop("sandboxed")
    apply_rlimits(KernelLimits(**spec), sandboxed=sandboxed)
    from ipykernel.kernelapp import launch_new_instance

    # parent_handle=1: no parent poller (the parent is outside the PID namespace) and no
    # "Ctrl-C will not work" banner; interrupts arrive as messages (interrupt_mode "message").
    launch_new_instance(argv=[*argv[1:], "--IPKernelApp.parent_handle=1"])


if __name__ == "__main__":
    _main(sys.argv[1:])
