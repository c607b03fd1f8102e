"""engine.staging: the mirror's live purchases as one Parquet file, streamed, rewritten whole."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from connector.state import StateStore
from connector.state.staging import COLUMNS, TRANSACTIONS, export_transactions


def _purchase(i: int, **kw: object) -> dict[str, object]:
    return {"source_id": f"006{i}", "customer_source_id": f"003{i % 3}", "occurred_at": f"2026-01-0{1 + i % 9}",
            "amount": f"{10 + i}.50", **kw}


def test_live_purchases_land_in_parquet_as_the_mirror_holds_them(tmp_path: Path) -> None:
    folder = tmp_path / "staging"
    with StateStore(tmp_path / "s.sqlite") as store:
        store.mirror.commit_page("salesforce", "transactions", transactions=[_purchase(i) for i in range(7)])
        store.mirror.commit_page("hubspot", "transactions", transactions=[
            _purchase(1, amount="12,50 EUR"), _purchase(2, customer_source_id=None), _purchase(3, deleted=True)])
        # chunks of 2 rows: several row groups, one file
        assert export_transactions(store, folder, chunk_rows=2) == 9
        table = pq.read_table(folder / TRANSACTIONS)
        assert tuple(table.column_names) == COLUMNS
        assert {str(t) for t in table.schema.types} == {"string"}
        assert pq.ParquetFile(folder / TRANSACTIONS).num_row_groups == 5
        rows = table.to_pylist()
        assert rows == [
            {"source": "hubspot", "source_id": "0061", "customer_source_id": "0031", "occurred_at": "2026-01-02",
             "amount": "12,50 EUR"},  # bad values stay as text, for the quarantine to report
            {"source": "hubspot", "source_id": "0062", "customer_source_id": None, "occurred_at": "2026-01-03",
             "amount": "12.50"},
            *[{"source": "salesforce", **{k: str(v) for k, v in _purchase(i).items()}} for i in range(7)],
        ]

        # a purchase deleted in the CRM leaves the next export (a full rewrite), and no temp file stays
        store.mirror.commit_page("salesforce", "transactions", transactions=[_purchase(0, deleted=True)])
        assert export_transactions(store, folder) == 8
        assert "0060" not in [r["source_id"] for r in pq.read_table(folder / TRANSACTIONS).to_pylist()]
        assert sorted(p.name for p in folder.iterdir()) == [TRANSACTIONS]


def test_an_empty_mirror_exports_an_empty_file_with_the_columns(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.sqlite") as store:
        assert export_transactions(store, tmp_path / "staging") == 0
    table = pq.read_table(tmp_path / "staging" / TRANSACTIONS)
    assert table.num_rows == 0 and tuple(table.column_names) == COLUMNS
