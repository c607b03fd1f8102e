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


def test_a_destinations_ledger_lands_in_parquet_as_confirmed(tmp_path: Path) -> None:
    from connector.state.staging import export_ledger

    with StateStore(tmp_path / "s.sqlite") as store:
        ledger = store.ledger
        ledger.confirm_fields("salesforce", [(f"c{i}", f"003{i}", {"segment": f"s{i % 2}", "score": i / 10})
                                             for i in range(5)], mapping_hash="m1")
        ledger.confirm_fields("hubspot", [("c9", "9", {"segment": "s9"})], mapping_hash="m1")
        ledger.confirm_list_changes("salesforce", "segsync s0", added=[("c0", "0030"), ("c2", "0032")])
        ledger.confirm_list_changes("salesforce", "segsync s0", removed=["c2"])
        fields, lists = export_ledger(store, tmp_path / "staging", "salesforce", chunk_rows=2)
        values = pq.read_table(fields).to_pylist()
        assert sorted(r["record_key"] for r in values) == [f"c{i}" for i in range(5)]  # hubspot's row stays out
        c3 = next(r for r in values if r["record_key"] == "c3")
        assert c3 == {"record_key": "c3", "fields": '{"score": 0.3, "segment": "s1"}', "mapping_hash": "m1"}
        assert pq.read_table(lists).to_pylist() == [{"record_key": "c0", "list_name": "segsync s0"}]
        # the same rows as the in-memory read the engine takes without a staging folder
        assert ledger.tables("salesforce")[0].sort_values("record_key").to_dict("records") == \
            sorted(values, key=lambda r: r["record_key"])
        assert ledger.confirmed_fields_of("salesforce", ["c1", "c9", "nobody"]) == {
            "c1": {"crm_id": "0031", "fields": {"score": 0.1, "segment": "s1"},
                   "fields_hash": ledger.confirmed_fields("salesforce")["c1"]["fields_hash"], "mapping_hash": "m1"}}
        assert ledger.list_members_of("salesforce", ["c0", "c2"]) == {"segsync s0": {"c0": "0030"}}
        assert ledger.stale_mappings("salesforce", "m1") == 0 and ledger.stale_mappings("salesforce", "m2") == 5


def test_current_offers_land_in_parquet_and_only_their_changes_are_written(tmp_path: Path) -> None:
    """The stored current offers as Parquet (the Spark engine diffs against them on the executors),
    and CurrentOffers.apply writing only the changes it is handed, as save does after its own diff."""
    import pandas as pd

    from connector.state.staging import OFFER_COLUMNS, export_offers

    offers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "offer_1_id": ["p1", "p2", "p3"],
                           "offer_2_id": ["p2", None, "p1"], "offer_3_id": [None, None, "p2"]})
    with StateStore(tmp_path / "s.sqlite") as store:
        assert store.offers.save(offers, run_id=1) == 3
        path = export_offers(store, tmp_path / "staging", chunk_rows=2)
        assert tuple(pq.read_table(path).column_names) == OFFER_COLUMNS
        stored = store.offers.current()
        assert sorted(pq.read_table(path).to_pylist(), key=lambda r: r["customer_id"]) == \
            stored.where(stored.notna(), None).to_dict("records")
        changed = pd.DataFrame({"customer_id": ["c2", "c4"], "offer_1_id": ["p9", "p1"], "offer_2_id": [None, float("nan")],
                                "offer_3_id": [None, None]})
        assert store.offers.apply(changed, ["c3"], run_id=2) == 3
        now = store.offers.current()
        assert now.where(now.notna(), None).to_dict("records") == [
            {"customer_id": "c1", "offer_1_id": "p1", "offer_2_id": "p2", "offer_3_id": None},
            {"customer_id": "c2", "offer_1_id": "p9", "offer_2_id": None, "offer_3_id": None},
            {"customer_id": "c4", "offer_1_id": "p1", "offer_2_id": None, "offer_3_id": None}]
        assert store.offers.save(now, run_id=3) == 0  # saved again: nothing changed, nothing written
        stamps = store.frame("SELECT customer_id, run_id FROM offers_current ORDER BY customer_id")
        assert stamps["run_id"].tolist() == [1, 2, 2]
