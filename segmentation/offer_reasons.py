"""A short reason per offer that a rep can read, from the evidence behind it.

- the customer bought it before: "bought it 4 times, last 2011-11-02";
- co-occurrence (co-occurrence and ranker methods): "bought A and B; customers who did buy C";
- otherwise popularity: "popular in High-Value Loyalists (12% bought it)" or "a best seller
  (9% of customers bought it)".

Vectorised over customers: the two products behind a co-occurrence reason are found with one
sort over the customers' purchases per offer slot, not a loop per customer, and each distinct
reason is written once (the evidence is kept as integer keys until then).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from segmentation.offer_signals import ProductSignals
from segmentation.purchases import PurchaseHistory, lookup

SEPARATOR = " | "
DAY_NS = 86_400 * 10**9
#: Methods whose non-personal picks come from the customer's segment; the others fill short
#: lists with overall best sellers, and their reasons say so.
SEGMENT_AWARE = ("segment_popularity", "ranker")


def explain_offers(
    picks: np.ndarray, history: PurchaseHistory, signals: ProductSignals, method: str, labels: np.ndarray,
    segment_names: Mapping[str, str], n_jobs: int = 1,
) -> list[str]:
    """One text per customer: the reasons of its offers in order, joined by SEPARATOR.

    picks: (customers, k) catalog positions (-1 none), rows aligned with `history`;
    labels: what each product is called in the reason (name or code); n_jobs: threads, one offer
    slot each (the look-ups and sorts release the GIL).
    """
    n, k = picks.shape

    def slot(j: int) -> np.ndarray:
        return _slot_reasons(picks[:, j], history, signals, method, labels, segment_names, f"{j + 1}: ")

    if n_jobs > 1 and k > 1:
        with ThreadPoolExecutor(min(n_jobs, k)) as pool:
            texts = list(pool.map(slot, range(k)))
    else:
        texts = [slot(j) for j in range(k)]
    out = np.full(n, "", dtype=object)
    filled = np.zeros(n, dtype=bool)
    for j, text in enumerate(texts):
        has = picks[:, j] >= 0
        first = has & ~filled
        out[first] = text[first]
        later = has & filled
        out[later] = out[later] + SEPARATOR + text[later]
        filled |= has
    return out.tolist()


def _slot_reasons(p, history, signals, method, labels, segment_names, prefix) -> np.ndarray:
    """Each customer's reason for offer p (prefix + text; "" when p is -1). Every reason is
    keyed by a few integers, and only the distinct keys are written out: a million customers
    share a few thousand texts, not a million f-strings."""
    n = len(p)
    safe = np.maximum(p, 0)
    rows = np.arange(n)
    count = lookup(history.counts, rows, safe)
    last = lookup(history.last_days, rows, safe)
    text = np.full(n, "", dtype=object)
    owned = (count > 0) & (p >= 0)
    if owned.any():
        day = (history.as_of.normalize() - pd.to_timedelta(np.maximum(last[owned] - 1, 0), unit="D")).normalize()
        day = day.tz_localize(None) if day.tz is not None else day  # whole local days since the epoch below
        text[owned] = _by_key((count[owned], day.as_unit("ns").asi8 // DAY_NS), lambda c, d: (
            f"{prefix}bought it {'once' if c == 1 else f'{c:g} times'}, last {pd.Timestamp(int(d) * DAY_NS).strftime('%Y-%m-%d')}"))
    todo = ~owned & (p >= 0)
    if method in ("cooccurrence", "ranker") and todo.any():
        a, b = _top_contributors(p, history, signals, todo)
        co = todo & (a >= 0)
        text[co] = _by_key((a[co], b[co], p[co]), lambda x, y, z: (
            f"{prefix}bought {labels[x]}{f' and {labels[y]}' if y >= 0 else ''}; customers who did buy {labels[z]}"))
        todo &= ~co
    if todo.any():
        codes = signals_codes(history, signals)[todo]
        text[todo] = _by_key((p[todo], codes), lambda prod, code: prefix + _popularity_reason(prod, code, signals, method, segment_names))
    return text


def _by_key(keys: tuple[np.ndarray, ...], write: Callable[..., str]) -> np.ndarray:
    """write(*key) for each row's key (parallel arrays), called once per distinct key."""
    values, codes = zip(*(np.unique(k, return_inverse=True) for k in keys), strict=True)
    combined = np.ravel_multi_index(tuple(c.ravel() for c in codes), tuple(len(v) for v in values))
    distinct, inverse = np.unique(combined, return_inverse=True)
    parts = np.unravel_index(distinct, tuple(len(v) for v in values))
    texts = np.array([write(*(v[i] for v, i in zip(values, at, strict=True))) for at in zip(*parts, strict=True)], dtype=object)
    return texts[inverse.ravel()]


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


def _popularity_reason(prod: int, code: int, signals: ProductSignals, method: str, segment_names: Mapping[str, str]) -> str:
    if code >= 0 and method in SEGMENT_AWARE:
        name = segment_names.get(str(signals.segment_ids[code]), str(signals.segment_ids[code]))
        return f"popular in {name} ({signals.segment_share[code, prod]:.0%} bought it)"
    return f"a best seller ({signals.popularity[prod]:.0%} of customers bought it)"
