"""The push ledger: what each CRM has confirmed, per record and destination.

A row moves only after the CRM confirmed that record (DESIGN.md), so the plan's diff of the
desired state against the ledger is exactly what still has to be sent, after a crash, a
quota stop or a partial batch failure alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from connector.state.store import StateStore

from connector.state.store import utcnow_iso


def fields_hash(fields: Mapping[str, Any]) -> str:
    """A stable digest of a record's desired fields (order-independent)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


class Ledger:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ fields
    def confirmed_fields(self, destination: str) -> dict[str, dict[str, Any]]:
        """record_key -> {crm_id, fields, fields_hash, mapping_hash} as last confirmed."""
        rows = self.store.query(
            "SELECT record_key, crm_id, fields, fields_hash, mapping_hash FROM ledger WHERE destination = ?",
            (destination,),
        )
        return {
            r["record_key"]: {
                "crm_id": r["crm_id"],
                "fields": json.loads(r["fields"]),
                "fields_hash": r["fields_hash"],
                "mapping_hash": r["mapping_hash"],
            }
            for r in rows
        }

    def confirmed_fields_of(self, destination: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """`confirmed_fields` of only these record keys (the Spark engine's changed rows)."""
        rows = self.store.query(
            "SELECT record_key, crm_id, fields, fields_hash, mapping_hash FROM ledger WHERE destination = ? "
            "AND record_key IN (SELECT value FROM json_each(?))", (destination, _json_keys(keys)))
        return {r["record_key"]: {"crm_id": r["crm_id"], "fields": json.loads(r["fields"]),
                                  "fields_hash": r["fields_hash"], "mapping_hash": r["mapping_hash"]} for r in rows}

    def tables(self, destination: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(record_key, fields, mapping_hash) and (record_key, list_name) of one destination, as
        connector.state.staging.export_ledger writes them (for an engine without a shared folder)."""
        return (self.store.frame("SELECT record_key, fields, mapping_hash FROM ledger WHERE destination = ?", [destination]),
                self.store.frame("SELECT record_key, list_name FROM list_ledger WHERE destination = ?", [destination]))

    def stale_mappings(self, destination: str, mapping_hash: str) -> int:
        """How many confirmed records were written under another mapping (or materiality policy)."""
        rows = self.store.query("SELECT COUNT(*) AS n FROM ledger WHERE destination = ? AND mapping_hash != ?",
                                (destination, mapping_hash))
        return int(rows[0]["n"])

    def confirm_fields(
        self,
        destination: str,
        confirmed: Iterable[tuple[str, str | None, Mapping[str, Any]]],
        *,
        mapping_hash: str = "",
        run_id: int | None = None,
    ) -> int:
        """Record (record_key, crm_id, fields) the CRM accepted. Returns the number of rows."""
        now = utcnow_iso()
        rows = [
            (destination, key, crm_id, json.dumps(dict(f), sort_keys=True, default=str), fields_hash(f), mapping_hash, now, run_id)
            for key, crm_id, f in confirmed
        ]
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO ledger (destination, record_key, crm_id, fields, fields_hash, mapping_hash, confirmed_at, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(destination, record_key) DO UPDATE SET "
                "crm_id = excluded.crm_id, fields = excluded.fields, fields_hash = excluded.fields_hash, "
                "mapping_hash = excluded.mapping_hash, confirmed_at = excluded.confirmed_at, run_id = excluded.run_id",
                rows,
            )
        return len(rows)

    def forget(self, destination: str) -> None:
        """Drop a destination's ledger: the next plan resends everything (a forced full resend)."""
        with self.store.transaction() as c:
            c.execute("DELETE FROM ledger WHERE destination = ?", (destination,))
            c.execute("DELETE FROM list_ledger WHERE destination = ?", (destination,))

    # ------------------------------------------------------------------ lists
    def list_id(self, destination: str, name: str) -> str | None:
        rows = self.store.query("SELECT list_id FROM crm_lists WHERE destination = ? AND name = ?", (destination, name))
        return rows[0]["list_id"] if rows else None

    def remember_list(self, destination: str, name: str, list_id: str) -> None:
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO crm_lists (destination, name, list_id, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(destination, name) DO UPDATE SET list_id = excluded.list_id",
                (destination, name, list_id, utcnow_iso()),
            )

    def list_members(self, destination: str) -> dict[str, dict[str, str | None]]:
        """list_name -> {record_key: crm_id} as last confirmed."""
        out: dict[str, dict[str, str | None]] = {}
        for r in self.store.query(
            "SELECT list_name, record_key, crm_id FROM list_ledger WHERE destination = ?", (destination,)
        ):
            out.setdefault(r["list_name"], {})[r["record_key"]] = r["crm_id"]
        return out

    def list_members_of(self, destination: str, keys: Iterable[str]) -> dict[str, dict[str, str | None]]:
        """`list_members` of only these record keys (the Spark engine's changed and departed rows)."""
        out: dict[str, dict[str, str | None]] = {}
        for r in self.store.query(
            "SELECT list_name, record_key, crm_id FROM list_ledger WHERE destination = ? "
            "AND record_key IN (SELECT value FROM json_each(?))", (destination, _json_keys(keys))
        ):
            out.setdefault(r["list_name"], {})[r["record_key"]] = r["crm_id"]
        return out

    def confirm_list_changes(
        self,
        destination: str,
        list_name: str,
        *,
        added: Iterable[tuple[str, str | None]] = (),
        removed: Iterable[str] = (),
        run_id: int | None = None,
    ) -> None:
        now = utcnow_iso()
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO list_ledger (destination, list_name, record_key, crm_id, confirmed_at, run_id) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(destination, list_name, record_key) DO UPDATE SET "
                "crm_id = excluded.crm_id, confirmed_at = excluded.confirmed_at, run_id = excluded.run_id",
                [(destination, list_name, key, crm_id, now, run_id) for key, crm_id in added],
            )
            c.executemany(
                "DELETE FROM list_ledger WHERE destination = ? AND list_name = ? AND record_key = ?",
                [(destination, list_name, key) for key in removed],
            )



def _json_keys(keys: Iterable[str]) -> str:
    """Record keys as one JSON array parameter (`IN (SELECT value FROM json_each(?))`: any number of them)."""
    return json.dumps(sorted({str(k) for k in keys}))
