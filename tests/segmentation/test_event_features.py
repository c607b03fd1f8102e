from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.event_features import (
    add_events_one,
    build_event_features,
    event_features_of_one,
    join_event_features,
    no_event_values,
    usage_state,
)
from segmentation.events import EventFeatureSpec, EventLog, clean_events

CUTOFF = pd.Timestamp("2025-03-31", tz="UTC")
SPEC = EventFeatureSpec(types=("login", "feature_used", "ticket"), windows=(7, 14, 30, 90), trend_days=14)


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "type", "value", "properties"])


def _features(events: pd.DataFrame, cutoff=CUTOFF, spec: EventFeatureSpec = SPEC) -> pd.DataFrame:
    return build_event_features(EventLog.from_frame(events, spec), cutoff, spec)


def test_counts_days_since_and_adoption_known_answers():
    day = CUTOFF - pd.Timedelta(days=1)
    events = _events([
        ("a", day, "login", None, None),                              # age 1
        ("a", CUTOFF - pd.Timedelta(days=10), "login", None, None),   # age 10
        ("a", CUTOFF - pd.Timedelta(days=60), "login", None, None),   # age 60
        ("a", CUTOFF - pd.Timedelta(days=200), "login", None, None),  # outside 90
        ("a", day, "feature_used", None, {"feature": "export"}),
        ("a", day, "feature_used", None, '{"feature": "export"}'),   # same feature again (JSON text)
        ("a", day, "feature_used", None, {"feature": "sso"}),
        ("b", CUTOFF - pd.Timedelta(days=20), "ticket", None, None),
        ("b", CUTOFF - pd.Timedelta(days=3), "pageview", None, None),  # not a configured type
    ])
    f = _features(events)
    assert list(f.index) == ["a", "b"]
    assert list(f.columns) == SPEC.columns
    assert f.loc["a", ["login_count_7d", "login_count_14d", "login_count_30d", "login_count_90d"]].tolist() == [1, 2, 2, 3]
    assert f.loc["a", "days_since_login"] == 1
    assert f.loc["a", "features_adopted"] == 2
    assert f.loc["a", "feature_used_count_7d"] == 3
    assert f.loc["b", ["ticket_count_7d", "ticket_count_30d"]].tolist() == [0, 1]
    assert f.loc["b", "days_since_ticket"] == 20
    assert np.isnan(f.loc["b", "days_since_login"])
    assert f.loc["b", "features_adopted"] == 0


def test_trend_is_the_least_squares_slope_over_the_mean_level():
    # daily logins over the last 14 days (oldest first): falling from 5 a day to 1 a day
    daily = np.array([5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 2, 1, 1, 1])
    rows = []
    for x, count in enumerate(daily):
        moment = CUTOFF - pd.Timedelta(days=13 - x, hours=1)
        rows += [("a", moment, "login", None, None)] * int(count)
    rows.append(("a", CUTOFF - pd.Timedelta(days=20), "login", None, None))  # older: outside the trend window
    f = _features(_events(rows))
    slope = np.polyfit(np.arange(14), daily, 1)[0]
    expected = slope * 13 / daily.mean()
    assert f.loc["a", "login_trend_14d"] == pytest.approx(expected)
    assert f.loc["a", "login_trend_14d"] < -1.0  # the fitted level falls by more than its mean


def test_an_event_seconds_after_the_cutoff_is_never_counted():
    events = _events([
        ("a", CUTOFF - pd.Timedelta(seconds=30), "login", None, None),
        ("a", CUTOFF + pd.Timedelta(seconds=30), "login", None, None),
        ("a", CUTOFF + pd.Timedelta(seconds=30), "feature_used", None, {"feature": "sso"}),
        ("a", CUTOFF + pd.Timedelta(days=2), "ticket", None, None),
    ])
    f = _features(events)
    assert f.loc["a", "login_count_7d"] == 1
    assert f.loc["a", "days_since_login"] == 0
    assert f.loc["a", ["feature_used_count_90d", "features_adopted", "ticket_count_90d"]].tolist() == [0, 0, 0]
    assert np.isnan(f.loc["a", "days_since_ticket"])


def _random_events(seed: int, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = CUTOFF - pd.Timedelta(days=120)
    return pd.DataFrame({
        "customer_id": rng.choice(["a", "b", "c", "d"], n),
        "occurred_at": start + pd.to_timedelta(rng.integers(0, 150 * 86_400, n), unit="s"),
        "type": rng.choice(["login", "feature_used", "ticket"], n),
        "value": None,
        "feature": rng.choice(["export", "sso", "api", "alerts"], n),
    })


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_features_ignore_everything_after_the_cutoff(seed):
    events = _random_events(seed)
    before = events[pd.to_datetime(events["occurred_at"], utc=True) <= CUTOFF]
    everyone = pd.Index(sorted(events["customer_id"].unique()))
    full = build_event_features(EventLog.from_frame(events, SPEC, everyone), CUTOFF, SPEC)
    only_past = build_event_features(EventLog.from_frame(before, SPEC, everyone), CUTOFF, SPEC)
    pd.testing.assert_frame_equal(full, only_past)


def test_matches_a_plain_pandas_reference():
    events = _random_events(3, 2_000)
    f = _features(events)
    when = pd.to_datetime(events["occurred_at"], utc=True)
    past = events[when <= CUTOFF].assign(age=((CUTOFF - when[when <= CUTOFF]) // pd.Timedelta(days=1)))
    for w in (7, 30, 90):
        ref = past[past["age"] < w].groupby(["customer_id", "type"]).size().unstack(fill_value=0)
        for kind in ("login", "ticket"):
            assert f[f"{kind}_count_{w}d"].tolist() == ref[kind].reindex(f.index, fill_value=0).tolist()
    since = past.groupby(["customer_id", "type"])["age"].min().unstack()
    assert f["days_since_ticket"].tolist() == since["ticket"].reindex(f.index).tolist()
    adopted = past[past["type"] == "feature_used"].groupby("customer_id")["feature"].nunique()
    assert f["features_adopted"].tolist() == adopted.reindex(f.index, fill_value=0).tolist()


def test_each_customer_may_have_its_own_cutoff():
    events = _random_events(5, 1_000)
    cutoffs = pd.Series({"a": CUTOFF, "b": CUTOFF - pd.Timedelta(days=30), "c": CUTOFF - pd.Timedelta(days=61, hours=5),
                         "d": CUTOFF + pd.Timedelta(days=10)})
    log = EventLog.from_frame(events, SPEC)
    together = build_event_features(log, cutoffs, SPEC)
    for customer, cutoff in cutoffs.items():
        alone = build_event_features(log, cutoff, SPEC)
        pd.testing.assert_series_equal(together.loc[customer], alone.loc[customer])


def test_clean_events_quarantines_each_bad_row_with_its_reason():
    raw = _events([
        ("a", "2025-03-01T10:00:00Z", "login", None, None),
        (None, "2025-03-01", "login", None, None),
        ("b", "yesterday", "login", None, None),
        ("c", "2025-03-02", None, None, None),
        ("d", "2031-01-01", "login", None, None),
    ])
    clean, rejected = clean_events(raw, latest=CUTOFF)
    assert clean["customer_id"].tolist() == ["a"]
    assert str(clean["occurred_at"].dt.tz) == "UTC"
    assert rejected["reason"].tolist() == [
        "missing customer_id", "occurred_at is not a date ('yesterday')", "missing type",
        "occurred_at is in the future (2031-01-01 is after 2025-03-31)",
    ]


def test_spec_rejects_bad_windows_and_repeated_types():
    with pytest.raises(ValueError, match="trend_days"):
        EventFeatureSpec(windows=(0, 7))
    with pytest.raises(ValueError, match="twice"):
        EventFeatureSpec(types=("login", "login"))
    with pytest.raises(ValueError, match="missing column"):
        EventLog.from_frame(pd.DataFrame({"customer_id": ["a"]}), SPEC)


def test_reasons_name_usage_features_in_words():
    from segmentation.reasons import describe

    # fitted change over the window relative to its mean level: -0.857 is 1.0 -> 0.4 a day, "down 60 %"
    assert describe("login_trend_14d", np.array([-0.6 / 0.7, 0.0, 0.2 / 1.1, np.nan])).tolist() == [
        "logins down 60 % over the last 14 days", "logins steady over the last 14 days",
        "logins up 20 % over the last 14 days", "logins steady over the last 14 days"]
    assert describe("days_since_login", np.array([21.0, 1.0, 0.0, np.nan])).tolist() == [
        "no login for 21 days", "no login for 1 day", "login today", "no login yet"]
    assert describe("features_adopted", np.array([5, 1])).tolist() == ["used 5 features", "used 1 feature"]
    assert describe("ticket_count_30d", np.array([2, 1, 0])).tolist() == [
        "2 support tickets in the last 30 days", "1 support ticket in the last 30 days",
        "0 support tickets in the last 30 days"]
    assert describe("recency_days", np.array([94.2])).tolist() == ["recency 94 days"]


def test_one_customer_gets_the_batch_row_and_later_events_count_at_the_cutoff():
    """The real-time API's one-row path: the batch row for events up to the cutoff; an event
    after it (seconds or days) counts as made at the cutoff, which is floored to the minute."""
    events = _events([
        ("a", CUTOFF - pd.Timedelta(days=3), "login", None, None),
        ("a", CUTOFF - pd.Timedelta(days=40), "feature_used", None, {"feature": "export"}),
        ("b", CUTOFF - pd.Timedelta(days=1), "ticket", None, None),
    ])
    clean, _ = clean_events(events)
    batch = _features(clean).loc["a"]
    mine = clean[clean["customer_id"] == "a"]
    one = event_features_of_one(mine, CUTOFF, SPEC)
    assert list(one) == SPEC.columns
    assert one == pytest.approx(batch.astype(float).to_dict(), nan_ok=True)
    later = pd.concat([mine, _events([("a", CUTOFF + pd.Timedelta(seconds=20), "login", None, None),
                                      ("a", CUTOFF + pd.Timedelta(days=5), "login", None, None)])])
    cutoff = CUTOFF + pd.Timedelta(seconds=10)  # mid-minute: floored, so the events at it still count
    moved = event_features_of_one(clean_events(later)[0], cutoff, SPEC)
    assert (moved["login_count_7d"], moved["days_since_login"]) == (3.0, 0.0)
    assert moved["features_adopted"] == 1.0 and moved["login_trend_14d"] > one["login_trend_14d"]


def test_a_customer_without_events_gets_what_the_batch_join_fills_in():
    usage = _features(clean_events(_events([("a", CUTOFF - pd.Timedelta(days=3), "login", None, None)]))[0])
    joined = join_event_features(pd.DataFrame({"frequency": [1, 2]}, index=pd.Index(["a", "z"], name="customer_id")), usage)
    expected = joined.loc["z", SPEC.columns].astype(float).to_dict()
    none = _events([("z", CUTOFF - pd.Timedelta(days=3), "pageview", None, None)])  # not a configured type
    assert no_event_values(SPEC) == pytest.approx(expected, nan_ok=True)
    assert event_features_of_one(clean_events(none)[0], CUTOFF, SPEC) == pytest.approx(expected, nan_ok=True)
    assert np.isnan(expected["days_since_login"]) and expected["login_count_7d"] == 0 == expected["features_adopted"]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40))
def test_new_events_move_one_customer_to_what_the_batch_computes_on_all_events(seed, n_new):
    """The real-time API's path for a customer the snapshot holds: the snapshot's usage features
    and usage_state row, moved by events it never saw, equal the batch features on every event
    (events at or before the cutoff; the adopted features include ones named in properties)."""
    events = _random_events(seed)
    events = events[pd.to_datetime(events["occurred_at"], utc=True) <= CUTOFF].reset_index(drop=True)
    everyone = pd.Index(["a", "b", "c", "d"])
    old, new = events.iloc[:-n_new], events.iloc[-n_new:]
    old_log = EventLog.from_frame(old, SPEC, everyone)
    held, state = build_event_features(old_log, CUTOFF, SPEC), usage_state(old_log, CUTOFF, SPEC)
    full = build_event_features(EventLog.from_frame(events, SPEC, everyone), CUTOFF, SPEC)
    for row, cid in enumerate(everyone):
        mine = new[new["customer_id"] == cid]
        moved = add_events_one(held.loc[cid].astype(float).to_dict(), *state.of(row), mine, CUTOFF, SPEC)
        assert moved == pytest.approx(full.loc[cid].astype(float).to_dict(), rel=1e-9, abs=1e-12, nan_ok=True)


def test_usage_state_known_answers_and_a_live_event_after_the_cutoff():
    events = clean_events(_events([
        ("a", CUTOFF - pd.Timedelta(days=3), "login", None, None),
        ("a", CUTOFF - pd.Timedelta(days=20), "login", None, None),  # outside the 14-day trend window
        ("a", CUTOFF - pd.Timedelta(days=40), "feature_used", None, {"feature": "sso"}),
        ("a", CUTOFF - pd.Timedelta(days=30), "feature_used", None, {"feature": "export"}),
        ("a", CUTOFF - pd.Timedelta(days=10), "feature_used", None, {"feature": "export"}),
        ("b", CUTOFF + pd.Timedelta(days=1), "feature_used", None, {"feature": "api"}),  # after the cutoff
    ]))[0]
    log = EventLog.from_frame(events, SPEC, pd.Index(["a", "b", "z"]))
    state = usage_state(log, CUTOFF, SPEC)
    assert state.trend_n.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]  # login, feature_used, ticket
    assert [sorted(state.of(row)[1]) for row in range(3)] == [["export", "sso"], [], []]
    held = build_event_features(log, CUTOFF, SPEC).loc["a"].astype(float).to_dict()
    live = _events([("a", CUTOFF + pd.Timedelta(hours=5), "feature_used", None, {"feature": "api"}),
                    ("a", CUTOFF + pd.Timedelta(hours=6), "feature_used", None, {"feature": "sso"})])
    moved = add_events_one(held, *state.of(0), clean_events(live)[0], CUTOFF, SPEC)
    assert moved["features_adopted"] == 3.0  # api is new, sso was adopted before
    assert (moved["feature_used_count_7d"], moved["days_since_feature_used"]) == (2.0, 0.0)
    assert moved["login_count_7d"] == held["login_count_7d"] and moved["login_trend_14d"] == held["login_trend_14d"]


def test_adopted_features_beyond_64_take_more_words():
    names = [f"f{i:03d}" for i in range(150)]
    events = clean_events(pd.DataFrame({
        "customer_id": ["a"] * 3 + ["b"], "occurred_at": [CUTOFF - pd.Timedelta(days=2)] * 4, "type": "feature_used",
        "value": None, "feature": [names[3], names[70], names[149], names[64]]}))[0]
    log = EventLog.from_frame(events, SPEC, pd.Index(["a", "b"]))
    state = usage_state(log, CUTOFF, SPEC)
    assert state.adopted.shape == (2, 1)  # four distinct features are coded, not 150
    assert sorted(state.of(0)[1]) == [names[3], names[70], names[149]] and state.of(1)[1] == (names[64],)
    wide = EventLog(log.customer, log.kind, log.minute, np.array([3, 70, 149, 64], dtype=np.int32), log.customers,
                    log.types, log.origin, names)
    state = usage_state(wide, CUTOFF, SPEC)
    assert state.adopted.shape == (2, 3)
    assert sorted(state.of(0)[1]) == [names[3], names[70], names[149]] and state.of(1)[1] == (names[64],)
