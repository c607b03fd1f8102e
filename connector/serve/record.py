"""The JSON answer for one customer, built from a snapshot row (and live events, if any).

Fields: customer_id, segment_id, segment_name, scores (name -> value), reasons (name ->
reason codes), clv, p_alive, features (name -> value, the models' inputs), offers (list of {offer, reason, source}), arms (experiment ->
arm, running experiments only), run_id and as_of of the data, snapshot_version, and `live`
when events newer than the snapshot moved the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

import pandas as pd

from connector.serve.live import Evaluation
from connector.serve.snapshot import Snapshot

OFFER_COLUMNS = ("offer_1", "offer_2", "offer_3")


def offers_for(snap: Snapshot, segment_id: str | None) -> list[dict[str, str]]:
    """A segment's own top offers (next-best-offer's per-segment defaults), else its action."""
    name, action = snap.segment_table().get(segment_id or "", (None, ""))
    own = snap.segment_offers.get(segment_id or "", ())
    if own:
        return [{"offer": o, "reason": f"a top offer of segment {name}", "source": "segment_offers"} for o in own[:3]]
    if not action:
        return []
    return [{"offer": action, "reason": f"action for segment {name}", "source": "segment_action"}]


def _slot_reasons(text: str | None) -> dict[int, str]:
    """'1: bought it once | 3: ...' -> {1: 'bought it once', 3: '...'} (segmentation.offer_reasons)."""
    out = {}
    for part in (text or "").split(" | "):
        rank, sep, reason = part.partition(": ")
        if sep and rank.isdigit():
            out[int(rank)] = reason
    return out


def _offers(snap: Snapshot, row: int) -> list[dict[str, str]] | None:
    """The customer's own top-3 offers with reasons, when the cycle computed offers."""
    if not snap.has_text("offer.offer_1"):
        return None
    reasons = _slot_reasons(snap.text("offer.offer_reasons", row) if snap.has_text("offer.offer_reasons") else None)
    out = []
    for rank, column in enumerate(OFFER_COLUMNS, start=1):
        offer = snap.text(f"offer.{column}", row) if snap.has_text(f"offer.{column}") else None
        if offer:
            out.append({"offer": offer, "reason": reasons.get(rank, ""), "source": "next_best_offer"})
    return out or None


def base_record(snap: Snapshot, row: int, running: list[str]) -> dict[str, Any]:
    segment_id, segment_name, _ = snap.segment(row)
    scores: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    for name in snap.score_names:
        if f"score.{name}" in snap.columns:
            scores[name] = snap.number(f"score.{name}", row)
        if snap.has_text(f"reasons.{name}"):
            reasons[name] = snap.text(f"reasons.{name}", row) or ""
    arms = {}
    for exp in running:
        arm = snap.text(f"arm.{exp}", row) if snap.has_text(f"arm.{exp}") else None
        if arm is not None:
            arms[exp] = arm
    offers = _offers(snap, row)
    return {
        "customer_id": snap.ids[row], "segment_id": segment_id, "segment_name": segment_name,
        "scores": scores, "reasons": reasons,
        "clv": snap.number("score.clv", row), "p_alive": snap.number("score.p_alive", row),
        "offers": offers if offers is not None else offers_for(snap, segment_id),
        "arms": arms, "features": snap.feature_values(row), "run_id": snap.version, "as_of": snap.as_of.isoformat(), "snapshot_version": snap.version,
    }


def json_features(features: Mapping[str, Any]) -> dict[str, float | str | None]:
    """Feature values as the answer shows them: numbers as float, missing (None, NaN) as null."""
    return {k: (None if v is None or pd.isna(v) else (float(v) if isinstance(v, Real) else str(v)))
            for k, v in features.items()}


def live_record(snap: Snapshot, row: int, running: list[str], evaluation: Evaluation, events: list[tuple[int, str]],
                features: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot row's answer after the customer's live events (features moved, segment and scores re-computed)."""
    record = base_record(snap, row, running)
    record["features"] = json_features({name: features.get(name) for name in snap.meta["features"]})
    table = snap.segment_table()
    if evaluation.segment_id is not None and evaluation.segment_id != record["segment_id"]:
        record["segment_id"] = evaluation.segment_id
        record["segment_name"] = table.get(evaluation.segment_id, (evaluation.segment_id, ""))[0]
        if not record["offers"] or record["offers"][0]["source"] != "next_best_offer":
            record["offers"] = offers_for(snap, evaluation.segment_id)
    record["scores"].update(evaluation.scores)
    record["reasons"].update(evaluation.reasons)
    by_type: dict[str, int] = {}
    for _, kind in events:
        by_type[kind] = by_type.get(kind, 0) + 1
    record["live"] = {"events": len(events), "by_type": dict(sorted(by_type.items())),
                      "last_event_id": max(i for i, _ in events) if events else None}
    return record
