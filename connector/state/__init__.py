"""The SQLite state store (runs, cursors, mirror, ledger, rejected rows, arms, outcomes, models)."""

from connector.cursor import Cursor
from connector.state.lock import EXIT_LOCKED, StateLock
from connector.state.store import StateStore

__all__ = ["StateStore", "StateLock", "Cursor", "EXIT_LOCKED"]
