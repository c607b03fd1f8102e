"""The snapshot on disk and in memory: round trip, look-up indexes, atomic publication."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.config import IdentityConfig
from connector.identity import email_key, normalise_email
from connector.serve.snapshot import (
    KEEP,
    Snapshot,
    SnapshotTables,
    current_name,
    load_current,
    publish,
)

AS_OF = pd.Timestamp("2026-03-01", tz="UTC")


def tables(run_id: int = 3, segment_of_a: str = "seg-1") -> SnapshotTables:
    ids = ["a", "b", "c"]
    return SnapshotTables(
        run_id=run_id, as_of=AS_OF,
        customers=pd.DataFrame({"customer_id": ids, "email_key": [email_key("ann@x.com"), None, None],
                                "salesforce_id": ["003A", None, "003C"], "hubspot_id": [None, "77", None]}),
        segments=pd.DataFrame({"customer_id": ids, "segment_id": [segment_of_a, "seg-2", "seg-2"], "segment_name": [
            "Champions" if segment_of_a == "seg-1" else "Dormant", "Dormant", "Dormant"]}),
        scores=pd.DataFrame({"churn": [0.1, np.nan, 0.7], "churn_reasons": ["recency 3 days", None, "recency 300 days"],
                             "clv": [120.5, 3.0, np.nan]}, index=pd.Index(ids, name="customer_id")),
        features=pd.DataFrame({"frequency": [5, 1, 2], "country": ["US", None, "DE"]}, index=pd.Index(ids, name="customer_id")),
        arms=pd.DataFrame({"experiment": ["exp1", "exp1"], "customer_id": ["a", "c"], "arm": ["control", "offer"]}),
        actions={"seg-1": "VIP programme", "seg-2": "reactivation offer"}, score_names=["churn"],
        models={"segmentation": 4}, events_through=12,
    )


def test_round_trip_and_lookups(tmp_path: Path) -> None:
    folder = publish(tmp_path, tables())
    assert folder.name == "run-3" and current_name(tmp_path) == "run-3"
    snap = load_current(tmp_path)
    assert snap is not None and len(snap) == 3 and snap.version == 3 and snap.events_through == 12
    email = normalise_email("  Ann@X.com ", IdentityConfig())
    assert snap.locate(email_key(email or ""), "email") == 0
    assert snap.locate("003C", "salesforce_id") == 2 and snap.locate("77", "hubspot_id") == 1
    assert snap.locate("", "salesforce_id") is None and snap.locate("zz") is None
    assert snap.segment(0) == ("seg-1", "Champions", "VIP programme")
    assert snap.number("score.churn", 1) is None and snap.number("score.churn", 2) == pytest.approx(0.7)
    assert snap.text("reasons.churn", 2) == "recency 300 days" and snap.text("reasons.churn", 1) == ""
    assert snap.text("arm.exp1", 1) is None and snap.text("arm.exp1", 2) == "offer"
    row = snap.feature_row(2)
    assert row.to_dict("records") == [{"frequency": 2.0, "country": "DE"}] and list(row.index) == ["c"]
    assert snap.feature_row(1)["country"].isna().all()


def test_no_pickle_and_no_email_on_disk(tmp_path: Path) -> None:
    folder = publish(tmp_path, tables())
    with np.load(folder / "columns.npz", allow_pickle=False) as data:  # loads without pickle
        text = " ".join(str(v) for k in data.files if data[k].dtype.kind == "U" for v in data[k])
    assert "ann@x.com" not in text and email_key("ann@x.com") in text


def test_a_new_publication_replaces_current_and_old_ones_are_pruned(tmp_path: Path) -> None:
    for run in range(1, 5):
        publish(tmp_path, tables(run, "seg-1" if run % 2 else "seg-3"))
    assert current_name(tmp_path) == "run-4"
    snap = load_current(tmp_path)
    assert snap is not None and snap.segment(0)[0] == "seg-3"
    assert sorted(p.name for p in tmp_path.glob("run-*")) == [f"run-{r}" for r in range(5 - KEEP, 5)]
    assert not list(tmp_path.glob(".*tmp")) and not list(tmp_path.glob("*.tmp"))


def test_nothing_published_yet(tmp_path: Path) -> None:
    assert load_current(tmp_path) is None and current_name(tmp_path / "missing") is None


def test_snapshot_load_reads_the_folder_it_was_given(tmp_path: Path) -> None:
    publish(tmp_path, tables(1))
    publish(tmp_path, tables(2, "seg-3"))
    assert Snapshot.load(tmp_path / "run-1").segment(0)[0] == "seg-1"


def test_next_best_offers_are_served_with_their_reasons(tmp_path: Path) -> None:
    from connector.serve.record import base_record, offers_for

    t = tables()
    t.offers = pd.DataFrame({"customer_id": ["a", "c"], "offer_1": ["Tea", "Mug"], "offer_2": ["Cup", None], "offer_3": [None, None],
                             "offer_reasons": ["1: bought it once, last 2026-02-01 | 2: bought with Tea by 40 customers", "1: top seller in Dormant"],
                             "method": ["cooccurrence", "popular"]})
    t.segment_offers = {"seg-2": ("Mug", "Spoon", "Plate", "Bowl")}
    publish(tmp_path, t)
    snap = load_current(tmp_path)
    assert snap is not None
    assert base_record(snap, 0, ["exp1"])["offers"] == [
        {"offer": "Tea", "reason": "bought it once, last 2026-02-01", "source": "next_best_offer"},
        {"offer": "Cup", "reason": "bought with Tea by 40 customers", "source": "next_best_offer"},
    ]
    record_b = base_record(snap, 1, ["exp1"])  # no own offers: the segment's top three
    assert [o["offer"] for o in record_b["offers"]] == ["Mug", "Spoon", "Plate"] == [o["offer"] for o in offers_for(snap, "seg-2")]
    assert record_b["offers"][0]["source"] == "segment_offers"
    assert offers_for(snap, "seg-1") == [{"offer": "VIP programme", "reason": "action for segment Champions", "source": "segment_action"}]
    assert base_record(snap, 2, [])["arms"] == {} and base_record(snap, 2, ["exp1"])["arms"] == {"exp1": "offer"}
