"""A short reason per offer that a rep can read, from the evidence behind it.

- the customer bought it before: "bought it 4 times, last 2011-11-02";
- co-occurrence (co-occurrence and ranker methods): "bought A and B; customers who did buy C";
- otherwise popularity: "popular in High-Value Loyalists (12% bought it)" or "a best seller
  (9% of customers bought it)".

Vectorised over customers: the two products behind a co-occurrence reason are found with one
sort over the customers' purchases per offer slot, not a loop per customer.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

SEPARATOR = " | "
#: Methods whose non-personal picks come from the customer's segment; the others fill short
#: lists with overall best sellers, and their reasons say so.
SEGMENT_AWARE = ("segment_popularity", "ranker")


def explain_offers(
    picks: np.ndarray, history: PurchaseHistory, signals: ProductSignals, method: str, labels: np.ndarray,
    segment_names: Mapping[str, str],
) -> list[str]:
    """One text per customer: the reasons of its offers in order, joined by SEPARATOR.

    picks: (customers, k) catalog positions (-1 none), rows aligned with `history`;
    labels: what each product is called in the reason (name or code).
    """
    n, k = picks.shape
    per_slot = [_slot_reasons(picks[:, j], history, signals, method, labels, segment_names) for j in range(k)]
    out = []
    for i in range(n):
        out.append(SEPARATOR.join(f"{j + 1}: {per_slot[j][i]}" for j in range(k) if picks[i, j] >= 0))
    return out


def _slot_reasons(p, history, signals, method, labels, segment_names) -> np.ndarray:
    n = len(p)
    safe = np.maximum(p, 0)
    rows = np.arange(n)
    count = lookup(history.counts, rows, safe)
    last = lookup(history.last_days, rows, safe)
    text = np.empty(n, dtype=object)
    owned = (count > 0) & (p >= 0)
    when = (history.as_of.normalize() - pd.to_timedelta(np.maximum(last[owned] - 1, 0), unit="D")).strftime("%Y-%m-%d")
    times = np.where(count[owned] == 1, "once", [f"{c:g} times" for c in count[owned]])
    text[owned] = [f"bought it {t}, last {d}" for t, d in zip(times, when, strict=True)]
    todo = ~owned & (p >= 0)
    if method in ("cooccurrence", "ranker") and todo.any():
        a, b = _top_contributors(p, history, signals, todo)
        co = todo & (a >= 0)
        text[co] = [
            f"bought {labels[x]}{f' and {labels[y]}' if y >= 0 else ''}; customers who did buy {labels[z]}"
            for x, y, z in zip(a[co], b[co], p[co], strict=True)
        ]
        todo &= ~co
    if todo.any():
        text[todo] = _popularity_reasons(p[todo], signals, signals_codes(history, signals)[todo], method, segment_names)
    return text


def signals_codes(history: PurchaseHistory, signals: ProductSignals) -> np.ndarray:
    """Segment code per customer of `history` (the signals' codes when built from it)."""
    return signals.segment_codes if len(signals.segment_codes) == len(history.customer_ids) else np.full(len(history.customer_ids), -1)


def _top_contributors(p, history, signals, todo) -> tuple[np.ndarray, np.ndarray]:
    """The two products the customer bought that are most similar to their offer p (-1 none)."""
    owned = history.counts
    rows = np.repeat(np.arange(owned.shape[0]), np.diff(owned.indptr))
    sel = todo[rows]
    rows, items = rows[sel], owned.indices[sel]
    sim = lookup(signals.similarity, items, np.maximum(p[rows], 0))
    keep = sim > 0
    rows, items, sim = rows[keep], items[keep], sim[keep]
    order = np.lexsort((-sim, rows))
    rows, items = rows[order], items[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    rank = np.arange(len(rows)) - np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
    a = np.full(len(p), -1)
    b = np.full(len(p), -1)
    a[rows[rank == 0]] = items[rank == 0]
    b[rows[rank == 1]] = items[rank == 1]
    return a, b


def _popularity_reasons(p, signals, codes, method, segment_names) -> list[str]:
    out = []
    for prod, code in zip(p, codes, strict=True):
        if code >= 0 and method in SEGMENT_AWARE:
            name = segment_names.get(str(signals.segment_ids[code]), str(signals.segment_ids[code]))
            out.append(f"popular in {name} ({signals.segment_share[code, prod]:.0%} bought it)")
        else:
            out.append(f"a best seller ({signals.popularity[prod]:.0%} of customers bought it)")
    return out
