"""Group commit: the API's writes (events, arms) share one durable commit, each answered after it.

A request hands its write to the journal and is answered only once the transaction holding it
has committed (the API's store runs with synchronous=FULL: on disk, surviving a crash of the
machine, not only of the process). One thread takes every write pending at that moment and
commits them in one transaction, each under its own savepoint, so one failing write fails only
its own request. Under load many requests share one commit and one fsync, which is what lets
events be acknowledged by the thousand per second without weakening "acknowledged only once
durable"; when idle, a lone write commits at once (no timer to wait for).

The journal has its own connection to the state file (SQLite in WAL mode: readers on the
API's connection neither wait for a commit nor see a write before it is durable).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from connector.state import StateStore

log = logging.getLogger("segsync.serve")
T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]
After = Callable[[Any], None]
_STOP = object()


class Journal:
    """``submit(write)`` runs ``write(connection)`` in the next group commit; its future resolves
    after the commit. ``after(result)``, if given, runs in the journal's thread after the commit
    and before the future resolves (what the answer must already reflect)."""

    def __init__(self, store: StateStore, max_batch: int = 512) -> None:
        self.store = store
        self.max_batch = max_batch
        self.commits = 0  # how many transactions carried the writes (tests and metrics read it)
        self.writes = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="segsync-serve-journal", daemon=True)
        self._thread.start()

    def submit(self, write: Callable[[sqlite3.Connection], T], after: Callable[[T], None] | None = None) -> Future[T]:
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the journal is closed"))
            return future
        self._queue.put((write, after, future))
        return future

    def close(self) -> None:
        """Commit what is pending, stop the thread and close the journal's connection."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
            self.store.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch = []
            stop = item is _STOP
            if not stop:
                batch.append(item)
            while not stop and len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = item is _STOP
                if not stop:
                    batch.append(item)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[Write, After | None, Future[Any]]]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.store.transaction() as c:
                for write, _, _ in batch:
                    outcomes.append(_attempt(c, write))
        except Exception as exc:  # noqa: BLE001 - the commit itself failed: nothing in it is durable
            log.error("journal commit of %d write(s) failed: %s", len(batch), type(exc).__name__)
            for _, _, future in batch:
                future.set_exception(exc)
            return
        self.commits += 1
        self.writes += len(batch)
        for (_, after, future), (ok, value) in zip(batch, outcomes, strict=True):
            if not ok:
                future.set_exception(value)
                continue
            try:
                if after is not None:
                    after(value)
            except Exception as exc:  # noqa: BLE001 - durable, but the follow-up failed: the caller hears it
                future.set_exception(exc)
                continue
            future.set_result(value)


def _attempt(c: sqlite3.Connection, write: Write) -> tuple[bool, Any]:
    """Run one write under a savepoint: (True, result), or (False, exception) with it undone."""
    c.execute("SAVEPOINT journal_write")
    try:
        result = write(c)
    except Exception as exc:  # noqa: BLE001 - this write fails alone; the others commit
        c.execute("ROLLBACK TO journal_write")
        c.execute("RELEASE journal_write")
        return False, exc
    c.execute("RELEASE journal_write")
    return True, result
