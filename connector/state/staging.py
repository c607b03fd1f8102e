"""The mirror's purchases as Parquet, for an engine that reads files (`engine.staging`).

CRM and SQL pulls stay incremental: each page lands in the mirror with its cursor (DESIGN.md,
"crash safety"). The Spark engine, though, should not receive every purchase from the driver,
so after the pull the mirror's live purchases are written to `<staging>/transactions.parquet`,
and Spark reads that file on its executors (connector.engine.spark.sources.read_staged).

The export streams: SQLite rows are fetched `chunk_rows` at a time and each chunk is one Parquet
row group, so the driver holds one chunk, never the table. It is a full rewrite each cycle
(deletes, merged records and re-keyed customers need no tombstone logic), written to a temp
file and renamed into place, so a reader never sees half a file and a crash leaves the last
complete export. Values are the mirror's text, as the pandas engine reads them: the quarantine
judges them the same way on both engines.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.state.store import StateStore

TRANSACTIONS = "transactions.parquet"
COLUMNS = ("source", "source_id", "customer_source_id", "occurred_at", "amount")
_LIVE = ("SELECT source, source_id, customer_source_id, occurred_at, amount FROM mirror_transactions "
         "WHERE deleted = 0 ORDER BY source, source_id")
LEDGER_COLUMNS = ("record_key", "fields", "mapping_hash")
LIST_COLUMNS = ("record_key", "list_name")
_LEDGER = "SELECT record_key, fields, mapping_hash FROM ledger WHERE destination = ?"
_LIST_LEDGER = "SELECT record_key, list_name FROM list_ledger WHERE destination = ?"
ARMS = "arms.parquet"
ARM_COLUMNS = ("experiment", "customer_id", "arm", "segment_id", "assigned_at")
_ARMS = "SELECT experiment, customer_id, arm, segment_id, assigned_at FROM arms"
OFFERS = "offers.parquet"
OFFER_COLUMNS = ("customer_id", "offer_1_id", "offer_2_id", "offer_3_id")
_OFFERS = "SELECT customer_id, offer_1, offer_2, offer_3 FROM offers_current"


def export_transactions(store: StateStore, folder: Path, chunk_rows: int = 100_000) -> int:
    """Write the mirror's live purchases (COLUMNS, all text) to `folder`/TRANSACTIONS; the row count."""
    return _export(store, folder / TRANSACTIONS, COLUMNS, _LIVE, (), chunk_rows)


def export_ledger(store: StateStore, folder: Path, destination: str, chunk_rows: int = 100_000) -> tuple[Path, Path]:
    """One destination's push ledger as two Parquet files in `folder`, streamed like the purchases:
    (record_key, fields, mapping_hash) as confirmed (fields: the sorted JSON the ledger stores),
    and (record_key, list_name) of every confirmed list membership. The Spark engine diffs the
    desired state against them on the executors (connector.engine.spark.changes)."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in destination)
    fields, lists = folder / f"ledger-{safe}-fields.parquet", folder / f"ledger-{safe}-lists.parquet"
    _export(store, fields, LEDGER_COLUMNS, _LEDGER, (destination,), chunk_rows)
    _export(store, lists, LIST_COLUMNS, _LIST_LEDGER, (destination,), chunk_rows)
    return fields, lists


def export_arms(store: StateStore, folder: Path, chunk_rows: int = 100_000) -> Path:
    """Every stored arm (ARM_COLUMNS) as `folder`/ARMS, streamed like the purchases: the Spark
    engine hashes only the customers not in it (connector.engine.spark.arms) and measures them
    where they are (connector.engine.spark.outcomes)."""
    _export(store, folder / ARMS, ARM_COLUMNS, _ARMS, (), chunk_rows)
    return folder / ARMS


def export_offers(store: StateStore, folder: Path, chunk_rows: int = 100_000) -> Path:
    """Each customer's current offers (OFFER_COLUMNS) as `folder`/OFFERS, streamed like the purchases:
    the Spark engine diffs the new offers against them on the executors (connector.engine.spark.offer_changes)."""
    _export(store, folder / OFFERS, OFFER_COLUMNS, _OFFERS, (), chunk_rows)
    return folder / OFFERS


def _export(store: StateStore, path: Path, columns: tuple[str, ...], sql: str, params: tuple, chunk_rows: int) -> int:
    """A query's rows (as text) to the Parquet file `path`, one row group per chunk, renamed into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in columns])
    fd, tmp = tempfile.mkstemp(prefix=".segsync-", suffix=".parquet", dir=path.parent)
    os.close(fd)
    written = 0
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for rows in store.chunks(sql, params, size=chunk_rows):
                cols = [[None if v is None else str(v) for v in col] for col in zip(*rows, strict=True)]
                writer.write_table(pa.Table.from_arrays([pa.array(c, pa.string()) for c in cols], schema=schema))
                written += len(rows)
            if written == 0:  # a file with the schema and no rows: Spark reads it as an empty table
                writer.write_table(schema.empty_table())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return written
