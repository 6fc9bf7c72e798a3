"""`make hub` for a test class: throw-away accounts, exchange and homes, stopped and removed by id.

Everything lives under one folder in /var/tmp (hub files, the exchange, the course environment, the
accounts' homes). The accounts get names no real user has (checked before `make hub` runs); after
the test, the processes of those accounts, the hub and its proxy are stopped by process id, and the
accounts are deleted by name only while the name still has the uid the test saw created.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from labserver import free_port

from autograder.coursedir import REPO_ROOT

PROXY = REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
ACCOUNT_MARK = "tf-variables hub account (make hub)"  # hub/setup.sh's comment on its accounts
START_TIMEOUT = 300  # s: setup.sh builds the environment, then JupyterHub and the proxy start


@dataclasses.dataclass
class HubClass:
    root: Path  # everything of this test class
    port: int
    password: str
    instructor: str
    students: list[str]
    log: Path
    uids: dict[str, int] = dataclasses.field(default_factory=dict)  # accounts the test saw created
    make: subprocess.Popen | None = None

    @property
    def hub_dir(self) -> Path:
        return self.root / "hub"

    @property
    def env_bin(self) -> Path:
        return self.hub_dir / "env" / "bin"

    @property
    def exchange(self) -> Path:
        return self.hub_dir / "exchange"

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    @property
    def course(self) -> Path:
        return self.home(self.instructor) / "tf-variables"

    @property
    def login_url(self) -> str:
        return f"http://localhost:{self.port}/hub/login"

    def server_url(self, user: str) -> str:
        return f"http://{user}.localhost:{self.port}/user/{user}"

    def run_as(self, user: str, *args: str, cwd: Path | None = None, timeout: float = 600) -> str:
        """A command as `user`, in the environment the hub gives its servers and terminals
        (jupyterhub_config.py's ENVIRONMENT and pre_spawn_hook)."""
        role = "instructor" if user == self.instructor else "student"
        env = [
            f"HOME={self.home(user)}", f"USER={user}", f"LOGNAME={user}", "LANG=C.UTF-8",
            f"PATH={self.env_bin}:/usr/local/bin:/usr/bin:/bin",
            "TF_CPP_MIN_LOG_LEVEL=2", "TF_ENABLE_ONEDNN_OPTS=0",
            f"JUPYTER_CONFIG_PATH={self.hub_dir / 'roles' / role}",
        ]  # fmt: skip
        cmd = ["runuser", "-u", user, "--", "env", "-i", *env, *args]
        proc = subprocess.run(
            cmd, cwd=cwd or self.home(user), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        output = proc.stdout + proc.stderr
        with open(self.log.with_name("commands.log"), "a") as f:
            f.write(f"\n$ ({user}) {' '.join(args)}   [exit {proc.returncode}]\n{output}")
        assert proc.returncode == 0, f"{' '.join(args)} as {user} exited {proc.returncode}:\n{output[-4000:]}"
        return output


def require_tools() -> None:
    """What the hub needs on this machine: missing pieces fail the test (never skip it)."""
    if os.geteuid() != 0:
        pytest.fail("the hub test creates local accounts and spawns servers as them: run it as root")
    if not shutil.which("node"):
        pytest.fail("node is missing: run `bash .ci/system-deps` as root (apt-get install nodejs npm)")
    if not PROXY.exists():
        pytest.fail(f"{PROXY} is missing: run `make hub-proxy` (npm ci)")
    for tool in ("useradd", "userdel", "runuser"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing")


@contextlib.contextmanager
def hub_class(n_students: int, out: Path):
    """`make hub` serving a fresh class of one instructor and `n_students` students."""
    require_tools()
    # Not under /tmp: the grader's sandbox gives kernels a private /tmp, which would hide the
    # course environment (it lives in the hub folder) from them.
    root = Path(tempfile.mkdtemp(prefix="tfv-hub-test-", dir="/var/tmp"))
    root.chmod(0o755)  # the accounts must reach their homes, the exchange and the environment
    tag = secrets.token_hex(3)
    names = [f"tfvt{tag}-i", *(f"tfvt{tag}-{chr(ord('a') + k)}" for k in range(n_students))]
    for name in names:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            pytest.fail(f"account {name} already exists")
    (root / "roster.csv").write_text(
        "username,role\n" + f"{names[0]},instructor\n" + "".join(f"{s},student\n" for s in names[1:])
    )
    hub = HubClass(
        root=root, port=free_port(), password=secrets.token_urlsafe(12), instructor=names[0],
        students=names[1:], log=out / "hub.log",
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    try:
        _start(hub)
        yield hub
    finally:
        _stop(hub)
        _remove(hub, names)


def _start(hub: HubClass) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    cmd = [
        "make", "--no-print-directory", "-C", str(REPO_ROOT),
        "-o", ".venv/.installed-stamp", "-o", str(PROXY.relative_to(REPO_ROOT)),  # never install here
        "hub", f"HUB_ROSTER={hub.root / 'roster.csv'}", f"HUB_DIR={hub.hub_dir}",
        f"HUB_HOMES={hub.root / 'home'}", f"HUB_PORT={hub.port}", f"HUB_PASSWORD={hub.password}",
    ]  # fmt: skip
    with open(hub.log, "wb") as log:
        hub.make = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        _note_accounts(hub)
        if hub.make.poll() is not None:
            pytest.fail(f"`make hub` exited with {hub.make.returncode}:\n{hub.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{hub.port}/hub/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the hub did not answer within {START_TIMEOUT} s; see {hub.log}")


def _note_accounts(hub: HubClass) -> None:
    """Record the uid of each test account `make hub` has created so far (the names were free
    before it ran, and carry hub/setup.sh's mark)."""
    for name in [hub.instructor, *hub.students]:
        if name not in hub.uids:
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                if entry.pw_gecos == ACCOUNT_MARK:
                    hub.uids[name] = entry.pw_uid


def _pids_of(uids: set[int]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        if int(uid_line.split()[1]) in uids:
            pids.append(int(entry.name))
    return pids


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _stop(hub: HubClass) -> None:
    """The process group of the `make` started here (JupyterHub stops the servers and the proxy it
    started), then whatever is left: the proxy (its pid file) and the test accounts' processes."""
    _note_accounts(hub)
    proxy_pid_file = hub.hub_dir / "proxy.pid"
    proxy_pid = int(proxy_pid_file.read_text()) if proxy_pid_file.exists() else None
    if hub.make is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(hub.make.pid, signal.SIGTERM)
        try:
            hub.make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hub.make.pid, signal.SIGKILL)
            hub.make.wait(timeout=10)
        deadline = time.monotonic() + 30  # JupyterHub (exec'd by make's shell) may outlive make a moment
        while time.monotonic() < deadline:
            try:
                os.killpg(hub.make.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(hub.make.pid, signal.SIGKILL)
    if proxy_pid is not None:
        with contextlib.suppress(OSError):
            if b"configurable-http-proxy" in Path(f"/proc/{proxy_pid}/cmdline").read_bytes():
                os.kill(proxy_pid, signal.SIGTERM)
    uids = set(hub.uids.values())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        deadline = time.monotonic() + 15
        while (pids := _pids_of(uids)) and time.monotonic() < deadline:
            _signal(pids, sig)
            time.sleep(0.5)


def _remove(hub: HubClass, names: list[str]) -> None:
    """The accounts (only while each name still has the uid seen created), then the folder."""
    for name in names:
        uid = hub.uids.get(name)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if uid is None or entry.pw_uid != uid or entry.pw_gecos != ACCOUNT_MARK:
            continue  # not one the test saw `make hub` create: leave it alone
        subprocess.run(["userdel", name], check=False, capture_output=True)
    shutil.rmtree(hub.root, ignore_errors=True)
