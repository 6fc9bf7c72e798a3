"""A class on one machine: JupyterHub with nbgrader's exchange for this course (`sudo make hub`).

`make hub` (as root) first runs hub/setup.sh, which creates what this file relies on: a local
account for every name in the roster (hub/roster.csv), nbgrader's exchange, the course's Python
environment that every user runs, and the instructor's copy of the course in their home. Then it
starts `jupyterhub -f jupyterhub_config.py` in this directory. Read this file top to bottom: the
class, how people log in, where it listens, what each user's server runs and which nbgrader tools
each role gets.

Settings come from the environment (make passes them on): HUB_DIR (the hub's own files, default
/srv/tf-variables-hub), HUB_ROSTER, HUB_PORT (default 8000), HUB_IP (default 127.0.0.1: this
machine only), HUB_HOST (default localhost), HUB_PASSWORD (default: a new one, printed at start).
"""

import csv
import json
import os
import pwd
import secrets
import socket
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets.config.loader import PyFileConfigLoader

c = get_config()  # noqa: F821 (injected by traitlets when JupyterHub loads this file)

# --- the class -------------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
HUB_DIR = Path(os.environ.get("HUB_DIR", "/srv/tf-variables-hub"))
ENV = HUB_DIR / "env"  # the course's Python environment, runnable by every account (hub/setup.sh)
EXCHANGE = HUB_DIR / "exchange"  # nbgrader's exchange: created mode 1777 by hub/setup.sh
ROSTER = Path(os.environ.get("HUB_ROSTER", HERE / "hub" / "roster.csv"))
COURSE_ID = PyFileConfigLoader("nbgrader_config.py", path=str(HERE)).load_config().CourseDirectory.course_id


def read_roster(path: Path) -> dict[str, str]:
    """{username: role} from the roster: a `username,role` header, then one account per line."""
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {row["username"].strip(): row["role"].strip() for row in csv.DictReader(lines)}


ROLES = read_roster(ROSTER)
(INSTRUCTOR,) = [user for user, role in ROLES.items() if role == "instructor"]
STUDENTS = sorted(user for user, role in ROLES.items() if role == "student")
# The instructor grades in their own copy of the course (hub/setup.sh cloned it there): private to
# them, so no student can read source/ (solutions, hidden tests) or the gradebook.
COURSE = Path(pwd.getpwnam(INSTRUCTOR).pw_dir) / COURSE_ID

# --- logging in --------------------------------------------------------------------------------
# Local demo: everyone on the roster logs in with one shared password, printed below. For a real
# class switch to NativeAuthenticator or your university's OAuth (README, "A class on JupyterHub").
c.JupyterHub.authenticator_class = "shared-password"
PASSWORD = os.environ.get("HUB_PASSWORD") or secrets.token_urlsafe(12)
c.SharedPasswordAuthenticator.user_password = PASSWORD
c.Authenticator.allowed_users = set(ROLES)  # only the roster; each name is a local account

# --- where it listens --------------------------------------------------------------------------
# configurable-http-proxy, the official proxy from the npm registry (`make hub` runs `npm ci`).
PORT = int(os.environ.get("HUB_PORT", "8000"))
HOST = os.environ.get("HUB_HOST", "localhost")
c.JupyterHub.bind_url = f"http://{os.environ.get('HUB_IP', '127.0.0.1')}:{PORT}"
# Every user's server on its own origin, http://<user>.localhost:8000 (browsers send *.localhost to
# this machine). JupyterHub >= 4.1 forbids framing single-user pages ("frame-ancestors 'none'"),
# because on one shared origin a page one user serves could frame another user's server. That is
# what leaves Formgrader's panel blank (nbgrader issue #1870): JupyterLab shows Formgrader in an
# iframe. With per-user origins, "frame-ancestors 'self'" lets only the instructor's own pages
# frame the instructor's Formgrader (nbgrader docs, "Formgrader with jupyterhub>=4.1"; JupyterHub
# docs, "Security Overview": subdomains are the only way to isolate user servers from each other).
# A real deployment needs wildcard DNS (and TLS) for *.its.host.name.
c.JupyterHub.subdomain_host = f"http://{HOST}:{PORT}"
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(HUB_DIR / "proxy.pid")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{free_port()}"  # internal: the hub talks to the proxy
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{free_port()}"  # internal: user servers talk to the hub
c.JupyterHub.db_url = f"sqlite:///{HUB_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_DIR / "jupyterhub_cookie_secret")

# --- each user's server ------------------------------------------------------------------------
# Real accounts: a server runs as its user (JupyterHub must run as root for that), with only that
# user's rights. It runs the course's environment: JupyterLab, nbgrader's extensions, and the
# course's Python as the kernel (TensorFlow, NumPy, ...). Users can change neither that
# environment nor the server's configuration (JupyterHub's "Security Overview").
c.JupyterHub.spawner_class = LocalProcessSpawner
c.Spawner.cmd = [str(ENV / "bin" / "jupyterhub-singleuser")]
c.Spawner.disable_user_config = True
c.Spawner.args = ["--KernelManager.transport=ipc"]  # kernel sockets are files only their user can open
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = c.Spawner.http_timeout = 180  # TensorFlow and Lab on a busy 2-core machine
ENVIRONMENT = {
    "PATH": f"{ENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    # The notebooks' setup cells quiet TensorFlow too; Validate's fresh kernel inherits these.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def role_of(spawner) -> str:
    return ROLES[spawner.user.name]


def pre_spawn_hook(spawner):
    """Students start in their home; the instructor in the course (where nbgrader_config.py is).

    Kernel sockets go to a short private folder: a Unix socket's path has at most 107 bytes."""
    role = role_of(spawner)
    user = pwd.getpwnam(spawner.user.name)
    runtime = HUB_DIR / "run" / user.pw_name
    runtime.mkdir(parents=True, exist_ok=True)
    os.chown(runtime, user.pw_uid, user.pw_gid)
    runtime.chmod(0o700)
    spawner.environment = {
        **ENVIRONMENT,
        "JUPYTER_CONFIG_PATH": str(HUB_DIR / "roles" / role),
        "JUPYTER_RUNTIME_DIR": str(runtime),
    }
    spawner.notebook_dir = str(COURSE) if role == "instructor" else "~"


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- nbgrader: the exchange, and which tools each role gets ------------------------------------
# Every nbgrader in the course environment (servers, terminals, the command line) finds the
# exchange and the course id here: nbgrader reads <environment>/etc/jupyter/nbgrader_config.py.
NBGRADER_EVERYONE = f"""\
c = get_config()
c.Exchange.root = {str(EXCHANGE)!r}
c.CourseDirectory.course_id = {COURSE_ID!r}
"""
# The instructor's tools read the course's own settings (nbgrader_config.py in the course: paths,
# hidden tests' header, the safe `collect`) wherever their server or terminal starts. (Only the
# instructor can import the course's code: students' nbgrader must not be configured with it.)
NBGRADER_INSTRUCTOR = f"""\
c = get_config()
load_subconfig({str(COURSE / "nbgrader_config.py")!r})
# feedback/ holds only the HTML `python -m autograder feedback` wrote: release_feedback takes each
# submission's timestamp and secret from autograded/ (hub/nbgrader_exchange.py, in the course)
c.ExchangeFactory.release_feedback = "hub.nbgrader_exchange.ReleaseFeedback"
"""
# Students: Assignment List (fetch, submit, fetch feedback) and Validate. Formgrader, Course List
# and the Create Assignment toolbar are neither served nor shown to them.
SERVER_EXTENSIONS_EVERYONE = {
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.validate_assignment": True,
}
SERVER_CONFIG = {
    "student": {},
    "instructor": {
        "ServerApp": {
            "jpserver_extensions": {
                "nbgrader.server_extensions.formgrader": True,
                "nbgrader.server_extensions.course_list": True,
            },
            # The instructor's Lab may frame the instructor's Formgrader (same origin only).
            "tornado_settings": {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}},
        }
    },
}
LAB_PAGE_CONFIG = {
    "student": {
        "disabledExtensions": {
            "@jupyter/nbgrader:formgrader": True,
            "@jupyter/nbgrader:create-assignment": True,
            "@jupyter/nbgrader:course-list": True,
        }
    },
    "instructor": {},
}


def write(path: Path, text: str) -> None:
    """A root-owned file every user can read (and no one else can change)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text)
    path.chmod(0o644)


write(ENV / "etc" / "jupyter" / "nbgrader_config.py", NBGRADER_EVERYONE)
write(
    ENV / "etc" / "jupyter" / "jupyter_server_config.d" / "nbgrader.json",
    json.dumps({"ServerApp": {"jpserver_extensions": SERVER_EXTENSIONS_EVERYONE}}, indent=2),
)
for role in ("student", "instructor"):
    write(HUB_DIR / "roles" / role / "jupyter_server_config.json", json.dumps(SERVER_CONFIG[role], indent=2))
    write(HUB_DIR / "roles" / role / "labconfig" / "page_config.json", json.dumps(LAB_PAGE_CONFIG[role]))
write(HUB_DIR / "roles" / "instructor" / "nbgrader_config.py", NBGRADER_INSTRUCTOR)

print(
    f"\n  {COURSE_ID} on JupyterHub: http://{HOST}:{PORT}/  (instructor {INSTRUCTOR}, "
    f"students {', '.join(STUDENTS)})\n  password for everyone on the roster: {PASSWORD}\n",
    flush=True,
)
