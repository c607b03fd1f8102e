"""The diff behind step `plan`: the desired state against what one destination confirmed.

Pure: a desired-state frame, the destination's `WriteSpec` fields and what its ledger holds
go in, a `DestinationPlan` comes out (no store, no plugin, no clock), so the rules are unit
tested with literal frames (tests/connector/steps/test_diff.py):

- a record is written only when one of its mapped values differs from the confirmed one
  (scores within their materiality step keep the confirmed value: connector.steps.materiality);
- a changed mapping, or materiality policy, resends every record once;
- only customers with a record id in the destination (`id_col`) and a key to write by
  (`record_col`) are written;
- list adds and removals are the difference between desired and confirmed members.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from connector.config import MaterialityConfig
from connector.crm.base import FieldSpec, FieldUpdate
from connector.steps.desired import field_specs, record_values
from connector.steps.materiality import policy_fingerprint, settle

#: What a ledger holds per customer_id: {"fields": {key: value}, "mapping_hash": str, ...}.
Confirmed = Mapping[str, Mapping[str, Any]]


@dataclass
class DestinationPlan:
    destination: str
    mapping_hash: str
    keys: list[str]
    updates: list[FieldUpdate] = field(default_factory=list)
    record_keys: dict[str, str] = field(default_factory=dict)  # FieldUpdate.record_id -> customer_id
    unchanged: int = 0
    list_adds: dict[str, dict[str, str]] = field(default_factory=dict)
    list_removes: dict[str, dict[str, str | None]] = field(default_factory=dict)
    new_lists: list[str] = field(default_factory=list)
    specs: list[FieldSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, new_arms: int, rejected: int) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "updates": len(self.updates),
            "unchanged": self.unchanged,
            "list_adds": sum(len(v) for v in self.list_adds.values()),
            "list_removals": sum(len(v) for v in self.list_removes.values()),
            "new_lists": len(self.new_lists),
            "new_arms": new_arms,
            "rejected": rejected,
            "notes": self.notes,
        }


def mapping_hash(fields: Mapping[str, str], policy: MaterialityConfig) -> str:
    """What the confirmed values were written under: the mapping and the materiality policy.
    A changed unit or step rewrites every record once, like a changed mapping (the default
    policy adds nothing to the hash)."""
    return hashlib.sha256((json.dumps(dict(fields), sort_keys=True) + policy_fingerprint(policy)).encode()).hexdigest()[:16]


def plan_fields(dest: str, table: pd.DataFrame, fields: Mapping[str, str], id_col: str, record_col: str,
                confirmed: Confirmed, policy: MaterialityConfig) -> DestinationPlan:
    """The field updates of one destination.

    table: the desired state, one row per customer_id, with `id_col` (the destination's record
    id) and `record_col` (the key a record is written by: the id itself, customer_id, an email);
    fields: desired-state key -> the destination's field; confirmed: its ledger by customer_id."""
    keys = [k for k in fields if k in table.columns]
    digest = mapping_hash(fields, policy)
    # segsync's key goes to an existing External ID field, checked by the connector: not provisioned
    p = DestinationPlan(dest, digest, keys, specs=field_specs([k for k in keys if k != "customer_id"], table))
    missing = sorted(set(fields) - set(keys))
    if missing:
        p.notes.append(f"mapped key(s) with no value this run: {', '.join(missing)}")
    if confirmed and any(v["mapping_hash"] != digest for v in confirmed.values()):
        p.notes.append("the field mapping changed since the last push, or the materiality policy did: every record is resent")
        confirmed = {}
    present = table[table[id_col].notna() & table[record_col].notna()] if id_col in table.columns else table.iloc[0:0]
    numeric = [k for k in keys if pd.api.types.is_float_dtype(table[k])]
    for row in present.to_dict("records"):
        values = record_values(row, keys)
        seen = confirmed.get(row["customer_id"])
        if seen is not None:
            # a score that moved less than its step keeps the confirmed value (connector.steps.materiality)
            values = settle(values, seen["fields"], policy, numeric)
            # the ledger holds JSON: compare as JSON, unless the plain values already match
            if seen["fields"] == values or seen["fields"] == json.loads(json.dumps(values, default=str)):
                p.unchanged += 1
                continue
        rid = str(row[record_col])
        p.updates.append(FieldUpdate(rid, values))
        p.record_keys[rid] = row["customer_id"]
    return p


def plan_lists(p: DestinationPlan, desired: Mapping[str, Mapping[str, str]],
               confirmed: Mapping[str, Mapping[str, str | None]], known: Collection[str]) -> None:
    """Fill `p`'s list adds, removals and new lists.

    desired / confirmed: list name -> {customer_id: record id}; known: the lists the
    destination already has an id for (the others are created by the push)."""
    for name in sorted(set(desired) | set(confirmed)):
        want, have = desired.get(name, {}), confirmed.get(name, {})
        adds = {k: v for k, v in want.items() if k not in have}
        removes = {k: v for k, v in have.items() if k not in want}
        if adds:
            p.list_adds[name] = adds
        if removes:
            p.list_removes[name] = removes
        if name in desired and name not in known:
            p.new_lists.append(name)
