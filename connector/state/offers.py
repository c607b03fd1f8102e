"""Each customer's current offers (product ids), what the next run's offer stability compares with.

The offers step reads them before it ranks and saves its decision after; only customers whose
offers changed (or who left) are written, so a quiet day writes a few rows, not the population.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from connector.state.store import StateStore

from connector.state.store import utcnow_iso

SLOTS = ("offer_1_id", "offer_2_id", "offer_3_id")


class CurrentOffers:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def current(self) -> pd.DataFrame:
        """customer_id, offer_1_id, offer_2_id, offer_3_id (None for an empty slot)."""
        frame = self.store.frame("SELECT customer_id, offer_1, offer_2, offer_3 FROM offers_current ORDER BY customer_id")
        return frame.rename(columns={f"offer_{j}": SLOTS[j - 1] for j in (1, 2, 3)}).astype(object)

    def save(self, offers: pd.DataFrame, run_id: int | None) -> int:
        """Make `offers` (customer_id, offer_1_id..offer_3_id) the current offers; returns how many
        customers' offers changed (new customers included; customers no longer offered are removed)."""
        now = self.current().set_index("customer_id")
        unique = offers.drop_duplicates("customer_id")
        new = unique[list(SLOTS)].set_axis(unique["customer_id"].astype(str).to_numpy()).astype(object)
        new = new.where(new.notna(), None)
        old = now.reindex(new.index)
        same = pd.Series(True, index=new.index)
        for col in SLOTS:
            same &= (old[col] == new[col]) | (old[col].isna() & new[col].isna())
        changed = new[~same.to_numpy()]
        return self.apply(changed.rename_axis("customer_id").reset_index(), list(now.index.difference(new.index)), run_id)

    def apply(self, changed: pd.DataFrame, gone: list[str], run_id: int | None) -> int:
        """Write only what changed: `changed` (customer_id, offer_1_id..offer_3_id) upserted, the
        customers in `gone` removed; returns how many customers that touched. An engine that diffs
        the offers itself (connector.engine.spark.offer_changes) hands its changes here."""
        stamp = utcnow_iso()
        rows = [(str(cid), *(None if v is None or v != v else str(v) for v in vals), run_id, stamp)
                for cid, *vals in changed[["customer_id", *SLOTS]].itertuples(index=False, name=None)]
        with self.store.transaction() as c:
            c.executemany(
                "INSERT INTO offers_current (customer_id, offer_1, offer_2, offer_3, run_id, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (customer_id) DO UPDATE SET offer_1 = excluded.offer_1, offer_2 = excluded.offer_2, "
                "offer_3 = excluded.offer_3, run_id = excluded.run_id, updated_at = excluded.updated_at", rows)
            c.executemany("DELETE FROM offers_current WHERE customer_id = ?", [(str(cid),) for cid in gone])
        return len(changed) + len(gone)
