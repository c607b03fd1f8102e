"""Versioned schema migrations for the SQLite state store.

Each migration runs once, inside a transaction, and records its version in
`schema_migrations`. Running them again is a no-op. Add new migrations at the end; never
edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "runs, cursors, mirror, ledger, rejected rows, arms, outcomes",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL CHECK (status IN
                ('running', 'succeeded', 'failed', 'interrupted', 'quota_stopped', 'resumed')),
            current_step TEXT,
            dry_run INTEGER NOT NULL DEFAULT 0,
            counts TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            resumed_from INTEGER REFERENCES runs(id)
        );
        CREATE TABLE run_steps (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            step TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'skipped')),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            checkpoint TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (run_id, step)
        );
        CREATE TABLE cursors (
            source TEXT NOT NULL,
            stream TEXT NOT NULL,
            ts TEXT,
            last_id TEXT,
            extra TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL,
            PRIMARY KEY (source, stream)
        );
        CREATE TABLE mirror_customers (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            email TEXT,
            created_at TEXT,
            modstamp TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, source_id)
        );
        CREATE INDEX mirror_customers_email ON mirror_customers (email);
        CREATE TABLE mirror_transactions (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            customer_source_id TEXT,
            occurred_at TEXT,
            amount TEXT,
            modstamp TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, source_id)
        );
        CREATE INDEX mirror_transactions_customer ON mirror_transactions (source, customer_source_id);
        CREATE TABLE models (
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            run_id INTEGER,
            meta TEXT NOT NULL DEFAULT '{}',
            data BLOB NOT NULL,
            PRIMARY KEY (kind, name, version)
        );
        CREATE TABLE ledger (
            destination TEXT NOT NULL,
            record_key TEXT NOT NULL,
            crm_id TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            fields_hash TEXT NOT NULL DEFAULT '',
            mapping_hash TEXT NOT NULL DEFAULT '',
            confirmed_at TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (destination, record_key)
        );
        CREATE TABLE crm_lists (
            destination TEXT NOT NULL,
            name TEXT NOT NULL,
            list_id TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (destination, name)
        );
        CREATE TABLE list_ledger (
            destination TEXT NOT NULL,
            list_name TEXT NOT NULL,
            record_key TEXT NOT NULL,
            crm_id TEXT,
            confirmed_at TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (destination, list_name, record_key)
        );
        CREATE TABLE rejected (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER,
            step TEXT NOT NULL,
            source TEXT NOT NULL,
            record_key TEXT,
            reason TEXT NOT NULL,
            payload TEXT,
            created_at TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE INDEX rejected_open ON rejected (resolved_at, step, source);
        CREATE TABLE arms (
            experiment TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            arm TEXT NOT NULL,
            segment_id TEXT,
            assigned_at TEXT NOT NULL,
            run_id INTEGER,
            PRIMARY KEY (experiment, customer_id)
        );
        -- An arm, once assigned, never changes (DESIGN.md, reliability rules).
        CREATE TRIGGER arms_are_sticky BEFORE UPDATE ON arms
        BEGIN SELECT RAISE(ABORT, 'arms are sticky: an assigned arm never changes'); END;
        CREATE TRIGGER arms_are_kept BEFORE DELETE ON arms
        BEGIN SELECT RAISE(ABORT, 'arms are sticky: an assigned arm is never deleted'); END;
        CREATE TABLE outcomes (
            experiment TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            metric TEXT NOT NULL,
            value REAL NOT NULL,
            observed_at TEXT NOT NULL,
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            PRIMARY KEY (experiment, metric, source, source_id)
        );
        CREATE TABLE lift_results (
            run_id INTEGER NOT NULL,
            experiment TEXT NOT NULL,
            computed_at TEXT NOT NULL,
            rows TEXT NOT NULL,
            PRIMARY KEY (run_id, experiment)
        );
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "serve: API keys (hashed) and live events",
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL,
            scopes TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT UNIQUE,
            customer_id TEXT NOT NULL,
            type TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            value REAL,
            properties TEXT NOT NULL DEFAULT '{}',
            received_at TEXT NOT NULL
        );
        CREATE INDEX events_customer ON events (customer_id, id);
        CREATE INDEX arms_customer ON arms (customer_id);
        """,
    ),
    (
        3,
        "model aliases (champion, challenger) and their history",
        """
        CREATE TABLE model_aliases (
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (kind, name, alias)
        );
        CREATE TABLE model_alias_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            alias TEXT NOT NULL,
            version INTEGER,
            set_at TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
    (
        4,
        "mirror of pulled line items (products per purchase)",
        """
        CREATE TABLE mirror_line_items (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            transaction_source_id TEXT,
            product_id TEXT,
            product_name TEXT,
            category TEXT,
            quantity TEXT,
            unit_price TEXT,
            modstamp TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, source_id)
        );
        CREATE INDEX mirror_line_items_transaction ON mirror_line_items (source, transaction_source_id);
        """,
    ),
    (
        5,
        "each customer's current offers (product ids), for offer stability",
        """
        CREATE TABLE offers_current (
            customer_id TEXT PRIMARY KEY,
            offer_1 TEXT,
            offer_2 TEXT,
            offer_3 TEXT,
            run_id INTEGER,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        6,
        "mirror of usage events a source pulls incrementally (sources.sql events)",
        """
        CREATE TABLE mirror_events (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            customer_source_id TEXT,
            type TEXT,
            occurred_at TEXT,
            value REAL,
            properties TEXT NOT NULL DEFAULT '{}',
            feature TEXT,
            modstamp TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, source_id)
        );
        """,
    ),
]


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply every pending migration; return the versions applied (empty when up to date)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied: list[int] = []
    for version, name, sql in MIGRATIONS:
        if version in done:
            continue
        # executescript commits first; wrap by hand so a failed migration leaves nothing behind
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).isoformat()),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    out: list[str] = []
    buf = ""
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
