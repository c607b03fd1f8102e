"""Does the CRM hold the desired state? Read from the sandbox stores, compared value by value.

The desired memberships are derived here from the desired table and the configured list
name templates (one list per segment, one per experiment arm), not from segsync's plan, so
a plan that forgets a list or a member is caught.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd

from connector.config import Config, MaterialityConfig, MaterialityRule
from connector.steps.materiality import is_material, named_drivers


@dataclass
class CrmSnapshot:
    """One CRM as its store holds it.

    records: CRM id -> field/property values; lists: list name -> CRM list ids (a name twice is
    a duplicate list); members: list id -> Counter of member CRM ids (a count > 1 is a
    duplicate member).
    """

    records: dict[str, dict[str, Any]]
    lists: dict[str, list[str]]
    members: dict[str, Counter]


def salesforce_snapshot(sf: Any) -> CrmSnapshot:
    store = sf.store
    records = {r["Id"]: dict(r) for r in store.records("Contact")}  # copies: the store lives on
    lists: dict[str, list[str]] = {}
    for c in store.records("Campaign"):
        lists.setdefault(c["Name"], []).append(c["Id"])
    members: dict[str, Counter] = {}
    for m in store.records("CampaignMember"):
        members.setdefault(m["CampaignId"], Counter())[m["ContactId"]] += 1
    return CrmSnapshot(records, lists, members)


def hubspot_snapshot(hs: Any) -> CrmSnapshot:
    records = {str(r["id"]): dict(r["properties"]) for r in hs.store.records("contacts")}
    lists: dict[str, list[str]] = {}
    members: dict[str, Counter] = {}
    with hs.store.lock:
        for lst in hs.store.list_by_id.values():
            lists.setdefault(lst.name, []).append(str(lst.list_id))
            # members are keyed by record id in the store, so a duplicate member cannot exist
            members[str(lst.list_id)] = Counter(str(m) for m in lst.members)
    return CrmSnapshot(records, lists, members)


def desired_lists(desired: pd.DataFrame, config: Config, id_column: str, lists_cfg: Any) -> dict[str, set[str]]:
    """list name -> CRM ids, from the configured templates: per segment and per experiment arm."""
    have = desired[desired[id_column].notna()]
    out: dict[str, set[str]] = {}
    for (seg_id, seg_name), group in have.groupby(["segment_id", "segment_name"]):
        name = lists_cfg.segment_name_template.format(segment_id=seg_id, segment_name=seg_name)
        out[name] = set(group[id_column].astype(str))
    for exp in config.experiments.items:
        for arm in exp.arms:
            mask = have["arms"].map(lambda d, k=exp.key, a=arm.name: isinstance(d, dict) and d.get(k) == a)
            name = lists_cfg.arm_name_template.format(experiment=exp.key, arm=arm.name, segment_id="", segment_name="")
            out[name] = set(have.loc[mask, id_column].astype(str))
    return {k: v for k, v in out.items() if v}


def same_value(want: Any, have: Any, rule: MaterialityRule | None = None) -> bool:
    """A desired value against a CRM value (HubSpot stores every property as a string).

    With a materiality `rule`, a number the CRM holds within the rule's step of the desired one
    is the same (segsync does not rewrite immaterial moves)."""
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return have in (None, "")
    if isinstance(want, int | float) and not isinstance(want, bool):
        try:
            if rule is not None and not is_material(float(want), float(have), rule):
                return True
            return math.isclose(float(have), float(want), rel_tol=0, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return str(have) == str(want)


def field_mismatches(desired: pd.DataFrame, snap: CrmSnapshot, id_column: str, mapping: dict[str, str],
                     materiality: MaterialityConfig | None = None) -> list[str]:
    """Every (record, field) whose CRM value differs from the desired one, and missing records.

    With `materiality`, numbers within their rule's step of the desired value are not differences."""
    bad = []
    for row in desired[desired[id_column].notna()].to_dict("records"):
        rec = snap.records.get(str(row[id_column]))
        if rec is None:
            bad.append(f"{row[id_column]}: record missing")
            continue
        for key, field in mapping.items():
            want, have = row.get(key), rec.get(field)
            if materiality and key.endswith("_reasons") and isinstance(want, str) and isinstance(have, str):
                # reason codes follow their score: the same drivers with older values are not rewritten
                want, have = named_drivers(want), named_drivers(have)
            if not same_value(want, have, materiality.rule(key) if materiality else None):
                bad.append(f"{row[id_column]}.{field}: want {row.get(key)!r}, CRM has {rec.get(field)!r}")
    return bad


def list_mismatches(want: dict[str, set[str]], snap: CrmSnapshot, prefix: str = "segsync ") -> list[str]:
    """Missing or duplicate lists, missing, extra or duplicate members; segsync's lists only."""
    bad = []
    for name, ids in snap.lists.items():
        if name.startswith(prefix) and len(ids) > 1:
            bad.append(f"list {name!r} exists {len(ids)} times")
    for name in sorted(set(want) | {n for n in snap.lists if n.startswith(prefix)}):
        expected = want.get(name, set())
        if name not in snap.lists:
            bad.append(f"list {name!r} missing ({len(expected)} members wanted)")
            continue
        have = snap.members.get(snap.lists[name][0], Counter())
        dups = sorted(k for k, n in have.items() if n > 1)
        missing, extra = expected - set(have), set(have) - expected
        if dups or missing or extra:
            bad.append(f"list {name!r}: {len(missing)} missing, {len(extra)} extra, {len(dups)} duplicated "
                       f"(e.g. {sorted(missing)[:2]} {sorted(extra)[:2]} {dups[:2]})")
    return bad


def assert_crm_matches(desired: pd.DataFrame, config: Config, sf: Any, hs: Any) -> tuple[CrmSnapshot, CrmSnapshot]:
    """Assert both CRMs hold exactly `desired` (fields and list memberships); returns the snapshots."""
    sf_snap, hs_snap = salesforce_snapshot(sf), hubspot_snapshot(hs)
    assert_snapshots_match(desired, config, sf_snap, hs_snap)
    return sf_snap, hs_snap


def assert_snapshots_match(desired: pd.DataFrame, config: Config, sf_snap: CrmSnapshot, hs_snap: CrmSnapshot) -> None:
    dests = config.destinations
    problems = field_mismatches(desired, sf_snap, "salesforce_id", dests.salesforce.fields, dests.materiality)
    problems += field_mismatches(desired, hs_snap, "hubspot_id", dests.hubspot.properties, dests.materiality)
    problems += ["salesforce " + p for p in list_mismatches(desired_lists(desired, config, "salesforce_id", dests.salesforce.lists), sf_snap)]
    problems += ["hubspot " + p for p in list_mismatches(desired_lists(desired, config, "hubspot_id", dests.hubspot.lists), hs_snap)]
    assert not problems, f"{len(problems)} difference(s) between the CRMs and the desired state, e.g. {problems[:6]}"
