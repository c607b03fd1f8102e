"""A real PostgreSQL for the tests: Debian's `initdb` + `pg_ctl` in a temporary folder, on a free port of 127.0.0.1.

initdb refuses to run as root, so as root the server runs as the `postgres` user (created by
Debian's package) on a folder that user owns; otherwise as the current user. The server
listens on 127.0.0.1 only, with no Unix socket, password authentication (scram-sha-256), and a
non-UTC time zone on purpose (America/New_York): the source must not depend on the server's.

`pg_ctl` daemonises the server, so nothing ties it to the test process: `stop()` runs from the
fixture's finaliser and at exit, and the reaper (tests/reaper.py) stops the server (SIGQUIT, an
immediate shutdown) and removes its folder when pytest is killed.
"""

from __future__ import annotations

import atexit
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.reaper import watch

USER = "segsync"


def binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl, or None."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if (p.parent / "pg_ctl").exists()]
    found.sort(key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One throwaway cluster; `start()`, `create_database(name)`, `url(name)`, `stop()`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_user = "postgres" if os.geteuid() == 0 else None
        # as root, the postgres user must reach the folder: /tmp is open to all, a root-only TMPDIR may not be
        self.root = Path(tempfile.mkdtemp(prefix="segsync-pg-", dir="/tmp" if self.as_user else None))
        watch(folder=self.root)
        self.data = self.root / "data"
        self.password = secrets.token_urlsafe(18)
        self.port = free_port()

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_user is not None:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.root)
        if done.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{log[-2000:]}")

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.as_user is not None:
            owner = pwd.getpwnam(self.as_user)
            for path in (self.root, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                  "-E", "UTF8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                   "-c timezone=America/New_York -c fsync=off -c full_page_writes=off")
        atexit.register(self.stop)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", options, "start")
        watch(self.pid, stop=signal.SIGQUIT)
        return self

    @property
    def pid(self) -> int:
        """The postmaster's pid (the first line of postmaster.pid)."""
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=self.password, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://{USER}:{self.password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        atexit.unregister(self.stop)
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
