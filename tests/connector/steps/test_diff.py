"""The plan's diff, pure: a desired-state frame and a ledger in, a DestinationPlan out."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.config import MaterialityConfig, MaterialityRule
from connector.crm.base import FieldSpec, FieldUpdate
from connector.steps.diff import mapping_hash, plan_fields, plan_lists

FIELDS = {"segment_name": "Segsync_Segment__c", "buy_90d": "Segsync_Buy__c"}
POLICY = MaterialityConfig()


def desired() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["e-1", "e-2", "e-3", "e-4"],
        "crm_id": ["003A", "003B", None, "003D"],  # e-3 is not in this destination
        "segment_name": ["Champions", "At risk", "Champions", None],
        "buy_90d": [0.42, 0.10, 0.33, float("nan")],
    })


def confirmed_as(plan, table: pd.DataFrame) -> dict:
    """The ledger after the destination confirmed every update of `plan`."""
    return {plan.record_keys[u.record_id]: {"fields": dict(u.values), "mapping_hash": plan.mapping_hash}
            for u in plan.updates}


def test_first_plan_writes_every_record_present_in_the_destination() -> None:
    p = plan_fields("crm", desired(), FIELDS, "crm_id", "crm_id", {}, POLICY)
    assert p.updates == [
        FieldUpdate("003A", {"segment_name": "Champions", "buy_90d": 0.42}),
        FieldUpdate("003B", {"segment_name": "At risk", "buy_90d": 0.10}),
        FieldUpdate("003D", {"segment_name": None, "buy_90d": None}),  # NaN is written as null
    ]
    assert p.record_keys == {"003A": "e-1", "003B": "e-2", "003D": "e-4"} and p.unchanged == 0
    assert p.keys == ["segment_name", "buy_90d"] and p.notes == []
    assert p.specs == [FieldSpec("segment_name", "segsync segment name", "enumeration", ("At risk", "Champions")),
                       FieldSpec("buy_90d", "segsync buy 90d", "number")]


def test_a_second_plan_over_the_confirmed_state_writes_nothing_then_only_the_change() -> None:
    table = desired()
    first = plan_fields("crm", table, FIELDS, "crm_id", "crm_id", {}, POLICY)
    ledger = confirmed_as(first, table)
    again = plan_fields("crm", table, FIELDS, "crm_id", "crm_id", ledger, POLICY)
    assert again.updates == [] and again.unchanged == 3
    table.loc[1, "segment_name"] = "Champions"
    moved = plan_fields("crm", table, FIELDS, "crm_id", "crm_id", ledger, POLICY)
    assert moved.updates == [FieldUpdate("003B", {"segment_name": "Champions", "buy_90d": 0.10})] and moved.unchanged == 2


def test_a_score_moving_less_than_its_step_is_not_rewritten() -> None:
    policy = MaterialityConfig(scores=MaterialityRule(round_to=0.01, min_change=0.05))
    table = desired()
    ledger = confirmed_as(plan_fields("crm", table, FIELDS, "crm_id", "crm_id", {}, policy), table)
    table["buy_90d"] = [0.45, 0.20, 0.33, float("nan")]  # +0.03: immaterial; +0.10: material
    p = plan_fields("crm", table, FIELDS, "crm_id", "crm_id", ledger, policy)
    assert [u.record_id for u in p.updates] == ["003B"] and p.updates[0].values["buy_90d"] == 0.20


def test_a_changed_mapping_resends_everything_and_says_so() -> None:
    table = desired()
    ledger = confirmed_as(plan_fields("crm", table, FIELDS, "crm_id", "crm_id", {}, POLICY), table)
    renamed = {**FIELDS, "segment_name": "Segment_Renamed__c"}
    p = plan_fields("crm", table, renamed, "crm_id", "crm_id", ledger, POLICY)
    assert len(p.updates) == 3 and p.unchanged == 0
    assert p.notes == ["the field mapping changed since the last push, or the materiality policy did: every record is resent"]
    assert mapping_hash(renamed, POLICY) != mapping_hash(FIELDS, POLICY)


def test_written_by_another_key_but_only_where_the_destination_has_the_record() -> None:
    table = desired().assign(crm_email=["a@x.com", None, "c@x.com", "d@x.com"])
    p = plan_fields("crm", table, FIELDS, "crm_id", "crm_email", {}, POLICY)
    # e-2 has no email in the destination, e-3 no record there: neither is written
    assert [u.record_id for u in p.updates] == ["a@x.com", "d@x.com"]
    assert p.record_keys == {"a@x.com": "e-1", "d@x.com": "e-4"}


def test_a_mapped_key_without_values_is_noted_and_no_id_column_writes_nothing() -> None:
    table = desired().drop(columns=["buy_90d"])
    p = plan_fields("crm", table, FIELDS, "crm_id", "crm_id", {}, POLICY)
    assert p.keys == ["segment_name"] and p.notes == ["mapped key(s) with no value this run: buy_90d"]
    nobody = plan_fields("crm", table.drop(columns=["crm_id"]), FIELDS, "crm_id", "crm_id", {}, POLICY)
    assert nobody.updates == [] and nobody.unchanged == 0


def test_lists_add_the_missing_remove_the_departed_and_create_the_unknown() -> None:
    p = plan_fields("crm", desired(), FIELDS, "crm_id", "crm_id", {}, POLICY)
    want = {"segsync Champions": {"e-1": "003A", "e-5": "003E"}, "segsync At risk": {"e-2": "003B"}}
    have = {"segsync Champions": {"e-1": "003A", "e-9": "003Z"}, "segsync Retired": {"e-4": None}}
    plan_lists(p, want, have, known={"segsync Champions", "segsync Retired"})
    assert p.list_adds == {"segsync At risk": {"e-2": "003B"}, "segsync Champions": {"e-5": "003E"}}
    assert p.list_removes == {"segsync Champions": {"e-9": "003Z"}, "segsync Retired": {"e-4": None}}
    assert p.new_lists == ["segsync At risk"]
    summary = p.summary(new_arms=2, rejected=1)
    assert (summary["list_adds"], summary["list_removals"], summary["new_lists"]) == (2, 2, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["A", "B", "C", None]), st.booleans()), min_size=1, max_size=12))
def test_a_diff_applied_changes_nothing_the_second_time(rows: list[tuple[str | None, bool]]) -> None:
    table = pd.DataFrame({"customer_id": [f"e-{i}" for i in range(len(rows))],
                          "crm_id": [f"id{i}" if present else None for i, (_, present) in enumerate(rows)],
                          "segment_name": [s for s, _ in rows]})
    fields = {"segment_name": "seg"}
    first = plan_fields("crm", table, fields, "crm_id", "crm_id", {}, POLICY)
    assert len(first.updates) == sum(present for _, present in rows)
    second = plan_fields("crm", table, fields, "crm_id", "crm_id", confirmed_as(first, table), POLICY)
    assert second.updates == [] and second.unchanged == len(first.updates)


@pytest.mark.parametrize("confirmed_value", ["0.1", 0.1])
def test_the_ledger_holds_json_so_equal_values_compare_as_json(confirmed_value: object) -> None:
    table = pd.DataFrame({"customer_id": ["e-1"], "crm_id": ["1"], "score": [0.1]})
    ledger = {"e-1": {"fields": {"score": confirmed_value}, "mapping_hash": mapping_hash({"score": "s"}, POLICY)}}
    p = plan_fields("crm", table, {"score": "s"}, "crm_id", "crm_id", ledger, POLICY)
    assert (len(p.updates), p.unchanged) == ((1, 0) if confirmed_value == "0.1" else (0, 1))
