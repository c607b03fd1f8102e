"""Offer stability: a customer's offer list changes only when the new one is materially better.

Scores move a little every day (a day more of recency, a purchase elsewhere in the segment), and
three near-equal products swap places; rewriting the CRM for that makes a rep's offers flap and
costs writes. So a customer keeps the offers they have unless:

- one of them is no longer allowed (the caller passes that per slot: bought when non-repeatable,
  excluded, not eligible in the customer's segment, owned in cross-sell mode, gone from the
  catalog);
- a slot can be filled that was empty (the new list is longer);
- a product not among them scores more than `min_gain` (relative) above the weakest of them:
  new > weakest + min_gain * |weakest|, both scored by today's model.

Then the new top list replaces the old one whole (it satisfies every rule, diversity included);
otherwise the old list stays in its order. Today's score of a kept offer is read from the
customer's fresh ranking (the top `W` products); an offer that fell out of it scores as the
lowest there, an upper bound, so a kept list is never judged better than it is by more than that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stabilised:
    """picks (n, k) catalog positions (-1 none) and their scores (NaN none); kept: the customer's
    previous list stayed; ineligible: it changed because an offer was no longer allowed; gained:
    because a new product beat it by the margin (or filled an empty slot)."""

    picks: np.ndarray
    scores: np.ndarray
    kept: np.ndarray
    ineligible: np.ndarray
    gained: np.ndarray


def stabilise_offers(
    fresh: np.ndarray, fresh_scores: np.ndarray, previous: np.ndarray, allowed: np.ndarray, min_gain: float, k: int = 3,
) -> Stabilised:
    """fresh (n, W >= k): today's ranking, catalog positions best first (-1 none), with scores
    (NaN none); previous (n, k): each customer's current offers (-1: empty slot, a row of -1: no
    list yet; -2: an offer no longer in the catalog); allowed (n, k): whether each current offer still passes every rule."""
    if min_gain < 0:
        raise ValueError(f"min_score_gain {min_gain!r}: expected 0 or more")
    top, top_scores = fresh[:, :k], fresh_scores[:, :k]
    has = previous != -1
    listed = has.any(axis=1)
    bad = listed & (has & ~allowed).any(axis=1)
    longer = listed & ((top >= 0).sum(axis=1) > has.sum(axis=1))
    now = _current_scores(fresh, fresh_scores, previous)
    weakest = np.where(has, now, np.inf).min(axis=1)
    newcomer = (top >= 0) & ~(top[:, :, None] == np.where(has, previous, -2)[:, None, :]).any(axis=2)
    challenger = np.where(newcomer, np.nan_to_num(top_scores, nan=-np.inf), -np.inf).max(axis=1)
    beaten = challenger > weakest + min_gain * np.abs(weakest)
    gained = listed & ~bad & (longer | beaten)
    kept = listed & ~bad & ~gained
    picks = np.where(kept[:, None], previous, top)
    scores = np.where(kept[:, None], np.where(has, now, np.nan), top_scores).astype(np.float32)
    return Stabilised(picks, scores, kept, bad, gained)


def _current_scores(fresh: np.ndarray, fresh_scores: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(n, k) today's score of each current offer: from the fresh ranking, or its lowest score
    when the offer is not in it (-inf when the ranking is empty)."""
    match = (previous[:, :, None] == fresh[:, None, :]) & (previous[:, :, None] >= 0)
    found = match.any(axis=2)
    at = np.argmax(match, axis=2)
    scores = np.nan_to_num(fresh_scores.astype(np.float64), nan=-np.inf)
    got = np.take_along_axis(scores, at, axis=1)
    lowest = np.where(np.isfinite(scores), scores, np.inf).min(axis=1)
    lowest = np.where(np.isfinite(lowest), lowest, -np.inf)
    return np.where(found, got, lowest[:, None])
