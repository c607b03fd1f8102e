"""Offer reasons alone never rewrite a record: they follow offer_1..3 (connector.steps.materiality)."""

from __future__ import annotations

from connector.config import MaterialityConfig
from connector.steps.materiality import settle

BASE = {"segment_id": "s1", "offer_1": "A", "offer_2": "B", "offer_3": "C", "offer_reasons": "1: popular in X (12% bought it)"}


def material_change(values: dict[str, object], confirmed: dict[str, object]) -> bool:
    """Whether the plan would rewrite the record: its settled values differ from the confirmed ones."""
    return settle(values, confirmed, MaterialityConfig(), []) != confirmed


def test_reasons_alone_never_rewrite_a_record():
    assert not material_change(dict(BASE), dict(BASE))
    assert not material_change({**BASE, "offer_reasons": "1: popular in X (13% bought it)"}, BASE)


def test_a_changed_list_or_another_field_is_a_change():
    assert material_change({**BASE, "offer_3": "D"}, BASE)
    assert material_change({**BASE, "offer_1": "B", "offer_2": "A"}, BASE)  # order matters: offer_1 is the best
    assert material_change({**BASE, "segment_id": "s2", "offer_reasons": "x"}, BASE)
    assert material_change({"segment_id": "s1"}, {"segment_id": "s2"})
