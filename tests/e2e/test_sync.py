"""One world, three cycles: a dry run, the first real run, and a second run with nothing new.

- The dry run (what `segsync plan` and `run --dry-run` do) writes nothing to either CRM and
  its rendered plan names, per destination, the updates, list adds, new arms and power.
- After the first run both CRMs hold exactly the desired state the plan computed.
- The second run, with no new data, makes zero write calls to either CRM.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from connector.config import MaterialityConfig
from connector.pipeline import CycleResult, StepResults
from connector.plan_view import render_plan
from connector.state import StateStore
from connector.steps.materiality import is_material
from tests.e2e.crm_state import (
    CrmSnapshot,
    assert_crm_matches,
    assert_snapshots_match,
    desired_lists,
    hubspot_snapshot,
    salesforce_snapshot,
)
from tests.e2e.observed import run_observed
from tests.e2e.world import EXPERIMENT_KEY, E2EWorld, Writes


@dataclass
class Synced:
    world: E2EWorld
    store: StateStore
    dry: CycleResult
    dry_writes: Writes
    dry_text: str
    first: CycleResult
    first_writes: Writes
    crm_after_first: tuple[CrmSnapshot, CrmSnapshot]
    arms_after_first: pd.DataFrame
    second: CycleResult
    second_writes: Writes
    quiet: CycleResult
    quiet_writes: Writes
    day: CycleResult
    day_writes: Writes
    day_purchases: int
    desired: dict[str, pd.DataFrame]  # each run's desired state, by run name


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = E2EWorld(tmp_path_factory.mktemp("e2e-sync"), n_customers=2000, seed=3)
    config = world.config()
    desired: dict[str, pd.DataFrame] = {}
    with StateStore(world.tmp / "state.sqlite") as store:
        mark = world.mark()
        dry, seen = run_observed(config, store, dry_run=True, connector_factory=world.factory)
        desired['dry'] = _desired(seen)
        dry_writes = world.writes_since(mark)
        mark = world.mark()
        first, seen = run_observed(config, store, connector_factory=world.factory)
        desired['first'] = _desired(seen)
        first_writes = world.writes_since(mark)
        arms = store.experiments.arms()
        crm_after_first = salesforce_snapshot(world.sf), hubspot_snapshot(world.hs)
        world.settle()
        mark = world.mark()
        second, seen = run_observed(config, store, connector_factory=world.factory)
        desired['second'] = _desired(seen)
        second_writes = world.writes_since(mark)
        world.clock.advance(days=1)  # a quiet day: time passes, nobody buys
        mark = world.mark()
        quiet, seen = run_observed(config, store, connector_factory=world.factory)
        desired['quiet'] = _desired(seen)
        quiet_writes = world.writes_since(mark)
        happened = world.sim.advance_days(1)  # a day with purchases
        world.settle()
        mark = world.mark()
        day, seen = run_observed(config, store, connector_factory=world.factory)
        desired['day'] = _desired(seen)
        day_writes = world.writes_since(mark)
        yield Synced(world, store, dry, dry_writes, render_plan(dry.plan, dry.power), first, first_writes, crm_after_first, arms, second, second_writes,
                     quiet, quiet_writes, day, day_writes, happened["purchases"], desired)


def _desired(steps: StepResults) -> pd.DataFrame:
    assert steps.plan is not None, "the cycle planned nothing"
    return steps.plan.desired


def test_runs_succeed(synced: Synced) -> None:
    for result in (synced.dry, synced.first, synced.second, synced.quiet, synced.day):
        assert result.status == "succeeded", result.error


def test_first_run_leaves_both_crms_in_the_desired_state(synced: Synced) -> None:
    world, desired = synced.world, synced.desired["first"]
    config = world.config()
    # every contact of each CRM is a customer of the desired state (no CRM record left out)
    sf_ids = set(desired["salesforce_id"].dropna().astype(str))
    hs_ids = set(desired["hubspot_id"].dropna().astype(str))
    sf_snap, hs_snap = synced.crm_after_first
    assert sf_ids == set(sf_snap.records)
    assert hs_ids == set(hs_snap.records)
    assert len(sf_ids) > 500 and len(hs_ids) > 500
    # about 30 % of the population lives in both CRMs: one customer, one desired row
    both = desired["salesforce_id"].notna() & desired["hubspot_id"].notna()
    assert 0.2 < both.mean() < 0.4
    assert desired["customer_id"].is_unique
    # the values are real: four segments, scores in [0, 1], arms of the experiment or holdout
    assert desired["segment_id"].nunique() == 4
    assert desired["buy_90d"].between(0, 1).all()
    assert set(desired["arm"].dropna()) == {"control", "offer", "holdout"}
    assert_snapshots_match(desired, config, sf_snap, hs_snap)


def test_list_memberships_are_exact(synced: Synced) -> None:
    """One Campaign / HubSpot list per segment and per arm, each with exactly the desired members."""
    world, desired = synced.world, synced.desired["first"]
    config = world.config()
    sf_snap, hs_snap = synced.crm_after_first
    for id_col, snap, lists_cfg in (
        ("salesforce_id", sf_snap, config.destinations.salesforce.lists),
        ("hubspot_id", hs_snap, config.destinations.hubspot.lists),
    ):
        want = desired_lists(desired, config, id_col, lists_cfg)
        assert len(want) == 4 + 2  # four segments, two arms
        assert {n for n in snap.lists if n.startswith("segsync ")} == set(want)
        members = {name: set(snap.members[snap.lists[name][0]]) for name in want}
        assert members == want
        # segment lists partition the customers present in that CRM
        segment_lists = [members[n] for n in want if EXPERIMENT_KEY not in n]
        assert sum(map(len, segment_lists)) == len(set().union(*segment_lists)) == desired[id_col].notna().sum()


def test_arms_shown_are_the_stored_ones(synced: Synced) -> None:
    arms = synced.arms_after_first
    desired = synced.desired["first"]
    assert len(arms) == len(desired)  # every customer assigned once (holdout included)
    assert not arms.duplicated(["experiment", "customer_id"]).any()
    shown = desired.set_index("customer_id")["arm"]
    stored = arms.set_index("customer_id")["arm"]
    assert shown.reindex(stored.index).tolist() == stored.tolist()


def test_first_run_write_calls_are_batched(synced: Synced) -> None:
    """Field updates: ceil(records / 200) Collections PATCHes and ceil(records / 100) HubSpot
    batch updates; lists: one create per list."""
    world, desired = synced.world, synced.desired["first"]
    n_sf, n_hs = desired["salesforce_id"].notna().sum(), desired["hubspot_id"].notna().sum()
    writes = synced.first_writes
    assert writes.salesforce["PATCH composite/sobjects"] == -(-n_sf // 200)
    assert writes.hubspot["objects.batch.update"] == -(-n_hs // 100)
    assert writes.hubspot["lists.create"] == 6
    # over every cycle of the module: each Campaign created once, ever
    campaigns = [r for r in world.sf_log.requests if r.method == "POST" and r.path.endswith("/sobjects/Campaign")]
    assert len(campaigns) == 6
    assert synced.first.counts["pushed_salesforce"] == n_sf
    assert synced.first.counts["pushed_hubspot"] == n_hs


def test_second_run_without_changes_makes_zero_write_calls(synced: Synced) -> None:
    writes = synced.second_writes
    assert writes.total == 0, f"second run wrote: salesforce {dict(writes.salesforce)}, hubspot {dict(writes.hubspot)}"
    plans = {p["destination"]: p for p in synced.second.plan}
    for dest in ("salesforce", "hubspot"):
        p = plans[dest]
        assert (p["updates"], p["list_adds"], p["list_removals"], p["new_lists"], p["new_arms"]) == (0, 0, 0, 0, 0)
        assert p["unchanged"] == synced.desired["second"][f"{dest}_id"].notna().sum()


def test_second_run_computes_the_same_desired_state(synced: Synced) -> None:
    """No new data, same as_of: segments, scores and arms do not drift between runs."""
    cols = ["customer_id", "segment_id", "segment_name", "buy_90d", "arm"]
    first = synced.desired["first"][cols].sort_values("customer_id").reset_index(drop=True)
    second = synced.desired["second"][cols].sort_values("customer_id").reset_index(drop=True)
    assert synced.first.as_of == synced.second.as_of
    pd.testing.assert_frame_equal(first, second)


def test_dry_run_writes_nothing_to_any_crm(synced: Synced) -> None:
    assert synced.dry_writes.total == 0, f"dry run wrote {synced.dry_writes}"
    # nothing of the dry run's arms was stored: the first real run assigned them
    assert synced.first.counts["new_arms"] == synced.dry.counts["new_arms"] > 0


def test_dry_run_plan_lists_what_the_first_run_then_did(synced: Synced) -> None:
    plans = {p["destination"]: p for p in synced.dry.plan}
    counts = synced.first.counts
    assert plans["salesforce"]["updates"] == counts["pushed_salesforce"]
    assert plans["hubspot"]["updates"] == counts["pushed_hubspot"]
    assert plans["salesforce"]["list_adds"] == counts["list_adds_salesforce"]
    assert plans["hubspot"]["list_adds"] == counts["list_adds_hubspot"]
    assert plans["salesforce"]["new_lists"] == plans["hubspot"]["new_lists"] == 6
    assert plans["salesforce"]["new_arms"] == counts["new_arms"]


def test_rendered_plan_names_each_destination_and_the_power(synced: Synced) -> None:
    text = synced.dry_text
    plans = {p["destination"]: p for p in synced.dry.plan}
    assert "nothing below has been written to any CRM" in text
    for dest in ("salesforce", "hubspot"):
        block = _block(text, dest)
        p = plans[dest]
        assert re.search(rf"^\s+updates\s+{p['updates']}$", block, re.M), block
        assert re.search(rf"^\s+list adds\s+{p['list_adds']}$", block, re.M), block
        assert re.search(r"^\s+list removals\s+0$", block, re.M), block
        assert re.search(rf"^\s+new arms\s+{p['new_arms']}$", block, re.M), block
        assert re.search(r"^\s+rejected\s+\d+$", block, re.M), block
    power = synced.dry.power
    assert {row["segment"] for row in power} == set(synced.desired["dry"]["segment_id"])
    for row in power:
        assert row["n_per_arm"] > 0 and row["mde"] > 0
        mde = f"{row['mde']:.1%}" if math.isfinite(row["mde"]) else "above +1000%"
        line = (f"experiment {EXPERIMENT_KEY} segment {row['segment']} ({row['segment_name']}) arm {row['arm']}: "
                f"n per arm {row['n_per_arm']}, "
                f"baseline {row['baseline']:.3f}, minimum detectable lift {mde} at 80% power")
        assert line in text
    # the active segments (about a third bought in the last 30 days) have a finite MDE
    assert any(math.isfinite(row["mde"]) for row in power)


def _block(text: str, dest: str) -> str:
    lines = text.splitlines()
    start = lines.index(f"  {dest}:")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
    return "\n".join(lines[start:end])


def test_a_quiet_day_makes_zero_write_calls(synced: Synced) -> None:
    """A day passes without purchases: as_of comes from the data, so nothing drifts."""
    assert synced.quiet.as_of == synced.first.as_of
    assert synced.quiet_writes.total == 0, f"quiet day wrote {synced.quiet_writes}"


def test_a_day_of_purchases_sends_only_the_changed_records(synced: Synced) -> None:
    """New purchases move some customers: exactly they are sent, in the fewest batches, and
    both CRMs end in the new desired state; no arm moves."""
    world = synced.world
    assert synced.day_purchases > 0
    assert synced.day.as_of > synced.quiet.as_of
    before = synced.desired["quiet"].set_index("customer_id")
    after = synced.desired["day"].set_index("customer_id")
    assert before.index.equals(after.index)  # nobody new, nobody gone
    config = world.config()
    for dest, mapping, batch, kind in (
        ("salesforce", config.destinations.salesforce.fields, 200, None),
        ("hubspot", config.destinations.hubspot.properties, 100, "objects.batch.update"),
    ):
        present = after[f"{dest}_id"].notna()
        cols = list(mapping)
        changed = _materially_changed(before.loc[present, cols], after.loc[present, cols], config.destinations.materiality)
        n_changed = int(changed.sum())
        assert 0 < n_changed < present.sum()
        assert synced.day.counts.get(f"pushed_{dest}", 0) == n_changed
        calls = synced.day_writes.salesforce["PATCH composite/sobjects"] if kind is None else synced.day_writes.hubspot[kind]
        assert calls == -(-n_changed // batch)
        # a customer who changed segment left the old segment's list and joined the new one
        moved = int((before.loc[present, "segment_id"] != after.loc[present, "segment_id"]).sum())
        assert moved > 0
        assert synced.day.counts[f"list_removals_{dest}"] == synced.day.counts[f"list_adds_{dest}"] == moved
    assert_crm_matches(synced.desired["day"], config, world.sf, world.hs)
    arms = synced.store.experiments.arms()
    pd.testing.assert_frame_equal(
        arms.sort_values("customer_id").reset_index(drop=True),
        synced.arms_after_first.sort_values("customer_id").reset_index(drop=True),
    )



def _materially_changed(before: pd.DataFrame, after: pd.DataFrame, policy: MaterialityConfig) -> pd.Series:
    """Rows where a text value changed, or a number moved by at least its materiality step from
    the value the CRM confirmed (`before`: the quiet day wrote nothing, so the CRM holds it)."""
    changed = pd.Series(False, index=after.index)
    for col in after.columns:
        if pd.api.types.is_float_dtype(after[col]):
            moved = [pd.isna(a) != pd.isna(b) if pd.isna(a) or pd.isna(b) else is_material(a, b, policy.rule(col))
                     for b, a in zip(before[col], after[col], strict=True)]
            changed |= pd.Series(moved, index=after.index)
        else:
            changed |= before[col].fillna("-").astype(str) != after[col].fillna("-").astype(str)
    return changed
