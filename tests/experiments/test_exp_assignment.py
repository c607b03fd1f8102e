"""Assignment: GrowthBook bucket cases, and sticky per-segment arms behind a holdout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from experiments.assignment import (
    ARMS_COLUMNS,
    assign_arms,
    bucket_ranges,
    choose_variation,
    choose_variations,
    equal_weights,
    hash_value,
    held_out,
    in_namespace,
)
from experiments.spec import ArmSpec, ExperimentSpec, HoldoutSpec

CASES = json.loads((Path(__file__).parent / "data" / "growthbook_cases.json").read_text())
AT = pd.Timestamp("2026-03-01T06:00:00Z")
NONE = pd.DataFrame(columns=ARMS_COLUMNS)


def spec(weights=(0.5, 0.5), coverage=1.0, segments=(), key="exp-1", **kw) -> ExperimentSpec:
    arms = [ArmSpec(f"arm{i}", w, control=i == 0) for i, w in enumerate(weights)]
    return ExperimentSpec(key=key, arms=arms, coverage=coverage, segments=segments, **kw)


def customers(n: int, segments=("s1", "s2"), start: int = 0) -> pd.DataFrame:
    ids = [f"cust-{i}" for i in range(start, start + n)]
    return pd.DataFrame({"customer_id": ids, "segment_id": [segments[i % len(segments)] for i in range(n)]})


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_bucket_ranges_match_growthbook_cases(name, args, expected):
    got = bucket_ranges(*args)
    assert len(got) == len(expected), name
    for (a, b), (c, d) in zip(got, expected, strict=True):
        assert a == pytest.approx(c, abs=1e-9) and b == pytest.approx(d, abs=1e-9), name


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_choose_variation_matches_growthbook_cases(name, n, ranges, expected):
    assert choose_variation(n, ranges) == expected, name
    assert choose_variations(np.array([n]), ranges).tolist() == [expected], name


@pytest.mark.parametrize(("name", "user", "namespace", "expected"), CASES["inNamespace"])
def test_in_namespace_matches_growthbook_cases(name, user, namespace, expected):
    assert in_namespace(user, tuple(namespace)) is expected, name


@pytest.mark.parametrize(("n", "expected"), CASES["getEqualWeights"])
def test_equal_weights_match_growthbook_cases(n, expected):
    assert equal_weights(n) == pytest.approx(expected, abs=1e-8)


def test_reference_example_arm_starts_stay_put_under_reduced_coverage():
    assert np.allclose(bucket_ranges(2, 0.5, [0.4, 0.6]), [(0, 0.2), (0.4, 0.7)])


def test_arm_is_what_a_growthbook_sdk_computes_for_key_and_id():
    s = spec(weights=(0.2, 0.3, 0.5), coverage=0.6)
    got = assign_arms(customers(2000), s, NONE, None, AT)
    ranges = bucket_ranges(3, 0.6, [0.2, 0.3, 0.5])
    for cid, arm in zip(got["customer_id"], got["arm"], strict=True):
        assert arm == f"arm{choose_variation(hash_value('exp-1', cid, 2), ranges)}"
    enrolled = {cid for cid in customers(2000)["customer_id"] if choose_variation(hash_value("exp-1", cid, 2), ranges) >= 0}
    assert set(got["customer_id"]) == enrolled


def test_output_shape_and_values():
    got = assign_arms(customers(50), spec(), NONE, None, AT)
    assert list(got.columns) == ARMS_COLUMNS
    assert (got["experiment"] == "exp-1").all() and (got["assigned_at"] == AT).all()
    assert str(got["assigned_at"].dt.tz) == "UTC"
    assert set(got["arm"]) == {"arm0", "arm1"} and len(got) == 50


id_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=24)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    ids=st.lists(id_text, min_size=1, max_size=60, unique=True), key=id_text,
    coverage=st.floats(0.05, 1.0), share=st.floats(0.0, 0.5), shuffle_seed=st.integers(0, 1000),
)
def test_deterministic_whatever_the_order_and_call(ids, key, coverage, share, shuffle_seed):
    c = pd.DataFrame({"customer_id": ids, "segment_id": "s1"})
    s, h = spec(weights=(0.2, 0.8), coverage=coverage, key=key), HoldoutSpec(share)
    a = assign_arms(c, s, NONE, h, AT).set_index("customer_id")["arm"].sort_index()
    b = assign_arms(c.sample(frac=1, random_state=shuffle_seed), s, NONE, h, AT).set_index("customer_id")["arm"].sort_index()
    pd.testing.assert_series_equal(a, b)
    for cid, arm in a.items():  # and each arm is the scalar GrowthBook computation
        if arm != "holdout":
            assert arm == f"arm{choose_variation(hash_value(key, cid, 2), bucket_ranges(2, coverage, [0.2, 0.8]))}"


@settings(max_examples=15, deadline=None, derandomize=True)
@given(raw=st.lists(st.floats(0.05, 1.0), min_size=2, max_size=4), coverage=st.sampled_from([0.3, 0.7, 1.0]))
def test_weights_honoured_within_sampling_error(raw, coverage):
    weights = tuple(np.array(raw) / sum(raw))
    s = spec(weights=weights, coverage=coverage)
    got = assign_arms(customers(20_000), s, NONE, None, AT)
    counts = got["arm"].value_counts().reindex(s.arm_names, fill_value=0).to_numpy()
    assert sps.chisquare(counts, np.array(weights) * counts.sum()).pvalue > 1e-4
    assert len(got) / 20_000 == pytest.approx(coverage, abs=0.03)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(steps=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5).map(sorted), seed=st.integers(0, 10**6))
def test_coverage_ramp_never_moves_an_assigned_id(steps, seed):
    c = customers(1500, start=seed)
    arms = NONE
    for coverage in steps:
        new = assign_arms(c, spec(weights=(0.3, 0.7), coverage=coverage), arms, None, AT)
        assert not set(new["customer_id"]) & set(arms["customer_id"])
        arms = pd.concat([arms, new], ignore_index=True)
        # Every arm on record is the arm the current coverage would compute afresh.
        fresh = assign_arms(c, spec(weights=(0.3, 0.7), coverage=coverage), NONE, None, AT)
        merged = arms.merge(fresh, on="customer_id", suffixes=("", "_fresh"))
        assert len(merged) == len(arms) and (merged["arm"] == merged["arm_fresh"]).all()


@settings(max_examples=15, deadline=None, derandomize=True)
@given(w=st.floats(0.05, 0.95), moved=st.floats(0.0, 1.0))
def test_sticky_under_weight_and_segment_change(w, moved):
    c = customers(800)
    first = assign_arms(c, spec(weights=(0.5, 0.5)), NONE, None, AT)
    later = c.copy()
    flip = np.random.default_rng(0).random(len(c)) < moved
    later.loc[flip, "segment_id"] = "s9"
    newcomers = customers(300, start=10_000)
    again = assign_arms(pd.concat([later, newcomers]), spec(weights=(w, 1 - w)), first, None, AT + pd.Timedelta(days=1))
    assert set(again["customer_id"]) == set(newcomers["customer_id"])  # nobody old re-assigned
    expected = assign_arms(newcomers, spec(weights=(w, 1 - w)), NONE, None, AT)
    assert again.set_index("customer_id")["arm"].sort_index().tolist() == expected.set_index("customer_id")["arm"].sort_index().tolist()


def test_bare_empty_frame_means_no_existing_arms():
    assert len(assign_arms(customers(10), spec(), pd.DataFrame(), None, AT)) == 10
    with pytest.raises(ValueError, match="existing arms is missing columns"):
        assign_arms(customers(10), spec(), pd.DataFrame({"customer": ["x"]}), None, AT)


def test_existing_rows_of_other_experiments_do_not_block():
    c = customers(100)
    other = assign_arms(c, spec(key="other"), NONE, None, AT)
    assert len(assign_arms(c, spec(), other, None, AT)) == 100


def test_outside_coverage_not_assigned_until_ramped():
    c = customers(4000)
    low = assign_arms(c, spec(coverage=0.25), NONE, None, AT)
    assert len(low) == pytest.approx(1000, rel=0.1)
    high = assign_arms(c, spec(coverage=1.0), low, None, AT)
    assert len(low) + len(high) == 4000


def test_holdout_recorded_first_with_its_own_seed():
    c = customers(10_000)
    h = HoldoutSpec(share=0.1, seed="global-h")
    got = assign_arms(c, spec(coverage=0.5), NONE, h, AT)
    mask = held_out(c["customer_id"], h)
    expected_held = set(c["customer_id"][mask])
    assert set(got.loc[got["arm"] == "holdout", "customer_id"]) == expected_held
    assert len(expected_held) / 10_000 == pytest.approx(0.1, abs=0.01)
    # Held-out customers are held out whatever their coverage bucket; the rest follow coverage.
    rest = got[got["arm"] != "holdout"]
    assert len(rest) / (10_000 - len(expected_held)) == pytest.approx(0.5, abs=0.02)
    # The holdout is the same population for every experiment.
    other = assign_arms(c, spec(key="exp-2"), NONE, h, AT)
    assert set(other.loc[other["arm"] == "holdout", "customer_id"]) == expected_held


def test_holdout_raise_keeps_assigned_arms():
    c = customers(2000)
    first = assign_arms(c, spec(), NONE, HoldoutSpec(0.05), AT)
    assert assign_arms(c, spec(), first, HoldoutSpec(0.5), AT).empty


def test_segment_targeting_and_segment_at_assignment():
    c = customers(300, segments=("s1", "s2", "s3"))
    got = assign_arms(c, spec(segments=("s2",)), NONE, None, AT)
    assert set(got["segment_id"]) == {"s2"} and len(got) == 100


def test_start_end_bound_assignment_days():
    s = spec(start="2026-03-02", end="2026-03-05")
    c = customers(10)
    assert assign_arms(c, s, NONE, None, AT).empty
    assert len(assign_arms(c, s, NONE, None, pd.Timestamp("2026-03-05T23:59:00Z"))) == 10
    assert assign_arms(c, s, NONE, None, pd.Timestamp("2026-03-06T00:00:00Z")).empty


def test_empty_and_missing_ids_are_skipped():
    c = pd.DataFrame({"customer_id": ["a", "", None], "segment_id": ["s", "s", "s"]})
    assert assign_arms(c, spec(), NONE, None, AT)["customer_id"].tolist() == ["a"]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="duplicate customer_id"):
        assign_arms(pd.DataFrame({"customer_id": ["a", "a"], "segment_id": ["s", "t"]}), spec(), NONE, None, AT)
    with pytest.raises(ValueError, match="missing columns \\['segment_id'\\]"):
        assign_arms(pd.DataFrame({"customer_id": ["a"]}), spec(), NONE, None, AT)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([(0.5, 0.5), (0.2, 0.3, 0.5), (0.9, 0.1)]), st.sampled_from([1.0, 0.6]),
       st.sampled_from([(), ("s1",)]), st.sampled_from([0.0, 0.1]))
def test_assign_arm_for_one_customer_equals_assign_arms(weights, coverage, segments, share) -> None:  # type: ignore[no-untyped-def]
    from experiments.assignment import assign_arm

    s = spec(weights, coverage, segments)
    holdout = HoldoutSpec(share=share) if share else None
    people = customers(300)
    batch = assign_arms(people, s, NONE, holdout, AT).set_index("customer_id")["arm"]
    one = {c: assign_arm(c, seg, s, holdout, AT) for c, seg in zip(people["customer_id"], people["segment_id"], strict=True)}
    assert {c: a for c, a in one.items() if a is not None} == batch.to_dict()
    assert assign_arm("cust-1", "s1", spec(weights, coverage, segments, end="2026-02-01"), holdout, AT) is None  # not running
