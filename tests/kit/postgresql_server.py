"""A real PostgreSQL server for the gradebook tests, started in a temporary folder.

The server (Debian's `postgresql`, installed by `scripts/install-postgresql.sh` from `make`)
runs from a fresh data folder, listens only on a Unix socket in that folder (no TCP port), trusts
local connections, and is stopped and removed at the end. PostgreSQL refuses to run as root, so a
root test runs it as `nobody`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

UNPRIVILEGED_USER = "nobody"


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest installed version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parts[4]) if Path(path).parts[4].isdigit()
                   else 0)  # fmt: skip
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


class PostgresServer:
    """One server in a temporary folder; `url()` gives a fresh database on it."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
        self.data = self.folder / "data"
        self.as_user: dict = {}
        if os.getuid() == 0:
            account = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.folder.chmod(0o700)
            self.as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _run(self, *command: str) -> None:
        done = subprocess.run([str(self.binaries / command[0]), *command[1:]], cwd=self.folder,
                              capture_output=True, text=True, timeout=120, **self.as_user)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {(done.stderr or done.stdout).strip()[-500:]}")

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
                  "-E", "UTF8", "--locale", "C")  # fmt: skip
        self.resume()  # socket only (no TCP port); no fsync (tests)
        return self

    def pause(self) -> None:
        """Stop the server and keep its data (a database that restarts: `resume` starts it)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = f"-k {self.folder} -c listen_addresses='' -F"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-o", options, "start")  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.folder}"

    def new_database(self) -> str:
        """The URL of a new, empty database on this server."""
        import psycopg

        name = f"gradebook_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.folder), user="postgres", dbname="postgres",
                             autocommit=True) as connection:  # fmt: skip
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
