"""The SQLite state store: one file, WAL mode, mode 0600, created on first use.

It holds runs and their steps, pull cursors, the local mirror of pulled records, models, the
push ledger, rejected rows, arms, outcomes, lift results and each customer's current offers. Each concept has its own
accessor object (`store.runs`, `store.mirror`, ...). Secrets are never written here: nothing
in the config is stored, and error texts pass through `redact` first.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from connector.crm.errors import ConfigurationError
from connector.crm.redaction import redact
from connector.logs import MASK
from connector.state.migrations import migrate


def describe_state_error(path: Path, exc: sqlite3.DatabaseError) -> str:
    """What is really wrong with the state file, and what to do that keeps its cursors and push ledger."""
    text = str(exc)
    if any(w in text for w in ("readonly", "read-only", "unable to open", "disk I/O error", "permission")):
        return (
            f"state file {path} cannot be written ({text}): give this user write access to it and to its folder "
            f"{path.parent} (SQLite creates -wal and -shm files next to it). The file itself is fine: do not move it aside"
        )
    return (
        f"state file {path} is damaged ({text}): restore it from a backup, or try `sqlite3 {path} .recover`; "
        "only if neither works, move it aside to start from nothing (arms, cursors and the push ledger are lost; "
        "a full resync follows)"
    )


def utcnow_iso() -> str:
    return datetime.now(UTC).isoformat()


class StateStore:
    """Open (creating if needed) the state file and run pending migrations."""

    def __init__(self, path: str | Path, *, redact: list[str] | None = None, synchronous: str = "NORMAL") -> None:
        """synchronous: NORMAL (a commit survives a process crash) or FULL (a machine crash too)."""
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self._synchronous = synchronous
        self.secrets = [s for s in (redact or []) if s]
        self._lock = threading.RLock()
        self.conn = self._connect()
        try:
            self.applied_migrations = migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise ConfigurationError(describe_state_error(self.path, exc)) from None
        from connector.state.api_keys import ApiKeys
        from connector.state.events import Events
        from connector.state.experiment_data import ExperimentData
        from connector.state.ledger import Ledger
        from connector.state.mirror import Mirror
        from connector.state.models import Models
        from connector.state.offers import CurrentOffers
        from connector.state.rejected import Rejected
        from connector.state.runs import Runs

        self.runs = Runs(self)
        self.mirror = Mirror(self)
        self.ledger = Ledger(self)
        self.rejected = Rejected(self)
        self.experiments = ExperimentData(self)
        self.models = Models(self)
        self.api_keys = ApiKeys(self)
        self.events = Events(self)
        self.offers = CurrentOffers(self)

    def _connect(self) -> sqlite3.Connection:
        old = os.umask(0o077)  # the -wal and -shm files are created with this umask too
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            # touch the file so a corrupt one fails here, with its name
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(describe_state_error(self.path, exc)) from None
        except OSError as exc:
            raise ConfigurationError(
                f"state.path: cannot create {self.path} ({exc.strerror}); the folder {self.path.parent} must be writable"
            ) from None
        finally:
            os.umask(old)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: data and the state that describes it commit together."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self.conn.execute(sql, params)
            cur.row_factory = sqlite3.Row  # type: ignore[assignment]
            return cur.fetchall()

    def chunks(self, sql: str, params: tuple = (), size: int = 100_000) -> Iterator[list[tuple]]:
        """A query's rows `size` at a time, so a large table is never whole in memory (the store's
        lock is held until the rows are exhausted or the iterator is closed)."""
        with self._lock:
            cursor = self.conn.execute(sql, params)
            while rows := cursor.fetchmany(size):
                yield rows

    def frame(self, sql: str, params: tuple | list = ()) -> pd.DataFrame:
        """A query's rows as a DataFrame (the accessors' reads)."""
        with self._lock:
            return pd.read_sql_query(sql, self.conn, params=list(params))

    def redact(self, text: str | None) -> str | None:
        """Remove every known secret value (and anything shaped like a credential) before storing."""
        if text is None:
            return None
        return redact(text, self.secrets, mask=MASK)

    def get_meta(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as c:
            c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
