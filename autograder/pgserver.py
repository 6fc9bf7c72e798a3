"""A throw-away PostgreSQL server for a gradebook: the PostgreSQL test and `bench`'s ceiling.

Debian's `postgresql` package (installed by ``.ci/system-deps``) provides the server binaries.
The server listens on a Unix socket only (no TCP port), keeps its data in a temporary directory
(no fsync: nothing in it must survive), and is stopped and deleted on exit. As root it runs as the
package's ``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autograder.coursedir import CourseError

__all__ = ["postgres_bindir", "throwaway_postgres"]


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are; CourseError (one line) when PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise CourseError("no PostgreSQL server: install the Debian package `postgresql` (sudo make system-deps)")


@contextmanager
def throwaway_postgres(database: str = "gradebook") -> Iterator[str]:
    """Start a server with one empty database; yield its SQLAlchemy URL; stop and delete it."""
    bindir = postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")

    def pg(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120, cwd=base)

    started = False
    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8", "--no-sync")
        options = f"-k {sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        log = str(base / "server.log")
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
        started = True
        pg(str(bindir / "createdb"), "-h", str(sock), "-U", "grader", database)
        yield f"postgresql+psycopg2://grader@/{database}?host={sock}"
    finally:
        if started:
            pg(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
