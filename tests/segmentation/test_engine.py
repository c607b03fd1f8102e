from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentation.engine import SegmentationParams, segment
from segmentation.stability import SegmentRegistry

T0 = pd.Timestamp("2024-03-01", tz="UTC")
SIZES = {"loyal": 300, "dormant": 500, "new": 200}
PARAMS = SegmentationParams(k_min=2, k_max=6, sample_size=2000)


def _features(planted, sizes=SIZES, seed=0, prefix="c"):
    f = planted(sizes, seed=seed, prefix=prefix)
    return f.drop(columns="group"), f["group"]


def test_first_run_recovers_groups_with_names_profiles_and_metrics(planted):
    features, truth = _features(planted)
    result = segment(features, PARAMS, None, T0)
    seg = result.segments
    assert list(seg.columns) == ["customer_id", "segment_id", "segment_name", "model_version"]
    assert seg["customer_id"].tolist() == features.index.tolist()
    assert adjusted_rand_score(truth, seg["segment_id"]) > 0.9
    assert seg["model_version"].unique().tolist() == ["kmeans-v1"]
    # Largest segment first: seg-0001 is the 500 dormant customers.
    by_id = result.profiles.set_index("segment_id")
    assert by_id.loc["seg-0001", "size"] == 500
    assert by_id.loc["seg-0001", "segment_name"] == "Dormant"
    assert result.profiles["segment_name"].is_unique
    assert by_id["share"].sum() == pytest.approx(1.0)
    assert by_id["revenue_share"].sum() == pytest.approx(1.0)
    assert result.retrained and result.reason == "first run: no stored model"
    assert result.metrics["k"] == 3 and result.metrics["silhouette"] > 0.5
    assert {"calinski_harabasz", "davies_bouldin"} <= set(result.metrics)


def test_same_data_twice_gives_identical_ids(planted):
    features, _ = _features(planted)
    a = segment(features, PARAMS, None, T0)
    b = segment(features, PARAMS, None, T0)
    pd.testing.assert_frame_equal(a.segments, b.segments)
    # And a retrain on the same data, aligned with the first run, keeps every id.
    c = segment(features, replace(PARAMS, retrain_every_days=1), a.state, T0 + pd.Timedelta(days=2))
    assert c.retrained and c.reason.startswith("model is 2 days old")
    assert c.segments["segment_id"].equals(a.segments["segment_id"])
    assert c.drift["ari"] == 1.0 and c.drift["match_method"] == "members"
    assert c.segments["model_version"].iloc[0] == "kmeans-v2"


def test_perturbed_customers_keep_matched_ids_and_report_ari(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    rng = np.random.default_rng(5)
    moved = features.copy()
    rows = rng.choice(len(moved), size=len(moved) // 20, replace=False)  # 5 % of customers
    # They take on the behaviour of other perturbed customers: most change group.
    moved.iloc[rows] = features.iloc[rng.permutation(rows)].to_numpy()
    second = segment(moved, PARAMS, first.state, T0 + pd.Timedelta(days=40))
    assert second.retrained
    assert set(second.segments["segment_id"]) == set(first.segments["segment_id"])
    assert 0.8 < second.drift["ari"] < 0.98
    assert second.drift["n_shared"] == len(features)
    unchanged = np.setdiff1d(np.arange(len(features)), rows)
    same = (second.segments["segment_id"].to_numpy() == first.segments["segment_id"].to_numpy())[
        unchanged
    ]
    assert same.mean() > 0.98
    migration = second.drift["migration"]
    assert np.allclose(migration.sum(axis=1), 1.0)


def test_a_new_behaviour_cluster_gets_a_new_id(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    whales, _ = _features(planted, {"lapsed_whales": 150}, seed=9, prefix="w")
    grown = pd.concat([features, whales])
    second = segment(grown, PARAMS, first.state, T0 + pd.Timedelta(days=40))
    old_ids = set(first.segments["segment_id"])
    new = second.segments.set_index("customer_id")
    assert set(new.loc[features.index, "segment_id"]) == old_ids
    assert (new.loc[whales.index, "segment_id"] == "seg-0004").all()
    # Their last purchase is no older than the dormant majority's: big spenders, not at risk.
    assert new.loc[whales.index[0], "segment_name"] == "Big Spenders"
    assert (
        new.loc[features.index, "segment_id"]
        == first.segments.set_index("customer_id")["segment_id"]
    ).all()


def test_a_vanished_cluster_is_retired_and_its_id_not_reused(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    new_group = first.segments.set_index("customer_id")["segment_name"] == "New Customers"
    gone_id = first.segments.loc[new_group.to_numpy(), "segment_id"].iloc[0]
    second = segment(
        features[~new_group.to_numpy()], PARAMS, first.state, T0 + pd.Timedelta(days=40)
    )
    registry = second.state.registry
    assert registry.entries[gone_id].status == "retired"
    assert gone_id not in set(second.segments["segment_id"])
    assert SegmentRegistry.from_dict(registry.to_dict()) == registry


def test_between_retrains_the_stored_model_assigns(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    state = pickle.loads(pickle.dumps(first.state))
    newcomers, _ = _features(planted, {"loyal": 10}, seed=3, prefix="n")
    later = segment(pd.concat([features, newcomers]), PARAMS, state, T0 + pd.Timedelta(days=1))
    assert not later.retrained
    assert later.reason.startswith("reused model: 1 days old, max PSI")
    loyal_id = first.segments.set_index("customer_id").loc["c00000", "segment_id"]
    assert (
        later.segments.set_index("customer_id").loc[newcomers.index, "segment_id"] == loyal_id
    ).all()
    assert later.state.trained_at == T0 and later.segments["model_version"].iloc[0] == "kmeans-v1"
    assert later.drift["psi"]["psi"].max() < 0.25


def test_drift_past_the_threshold_triggers_a_retrain(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    aged = features.assign(recency_days=features["recency_days"] * 4)
    again = segment(aged, PARAMS, first.state, T0 + pd.Timedelta(days=1))
    assert again.retrained and again.reason.startswith("PSI of recency_days is")


def test_changed_parameters_retrain(planted):
    features, _ = _features(planted)
    first = segment(features, PARAMS, None, T0)
    again = segment(features, replace(PARAMS, k=4), first.state, T0)
    assert (
        again.retrained and again.reason == "segmentation parameters changed since the stored model"
    )
    assert again.metrics["k"] == 4
    policy_only = segment(features, replace(PARAMS, psi_threshold=0.5), first.state, T0)
    assert not policy_only.retrained


def test_gmm_membership_is_kept_per_segment_id(planted):
    features, truth = _features(planted)
    result = segment(features, replace(PARAMS, method="gmm", k=3), None, T0)
    membership = result.membership
    assert sorted(membership.columns) == sorted(set(result.segments["segment_id"]))
    assert np.allclose(membership.sum(axis=1), 1.0)
    hard = membership.idxmax(axis=1).to_numpy()
    assert (hard == result.segments["segment_id"].to_numpy()).mean() > 0.99
    assert adjusted_rand_score(truth, result.segments["segment_id"]) > 0.9


def test_density_noise_becomes_its_own_segment(planted):
    features, _ = _features(planted)
    # Each value is ordinary, the combinations are not (clipping pulls extreme values in).
    odd = pd.DataFrame(
        {
            "recency_days": [400.0, 8.0, 400.0],
            "frequency": [25, 25, 1],
            "monetary_total": [750.0, 625.0, 900.0],
            "monetary_mean": [30.0, 25.0, 900.0],
            "tenure_days": [15.0, 15.0, 15.0],
        },
        index=pd.Index(["z1", "z2", "z3"], name="customer_id"),
    )
    result = segment(
        pd.concat([features, odd]), replace(PARAMS, method="hdbscan", min_cluster_size=20), None, T0
    )
    names = result.segments.set_index("customer_id")["segment_name"]
    assert (names.loc[["z1", "z2", "z3"]] == "Unclassified").all()
    assert "Unclassified" in set(result.profiles["segment_name"])


def test_rfm_method_keeps_ids_per_segment_name(planted):
    features, _ = _features(planted)
    params = replace(PARAMS, method="rfm")
    first = segment(features, params, None, T0)
    assert set(first.segments["segment_name"]) <= {
        "Champions",
        "Loyal Customers",
        "Potential Loyalists",
        "New Customers",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "Can't Lose Them",
        "At Risk",
        "Hibernating",
        "Lost",
    }
    second = segment(features.sample(frac=1.0, random_state=2), params, first.state, T0)
    pairs = set(zip(second.segments["segment_name"], second.segments["segment_id"], strict=True))
    assert pairs == set(
        zip(first.segments["segment_name"], first.segments["segment_id"], strict=True)
    )


def test_bad_input_is_named(planted):
    features, _ = _features(planted)
    with pytest.raises(ValueError, match="'clv_score'"):
        segment(features, replace(PARAMS, features=("recency_days", "clv_score")), None, T0)
    with pytest.raises(ValueError, match="duplicates"):
        segment(pd.concat([features, features.iloc[:1]]), PARAMS, None, T0)


def test_feature_scaler_translates_centres_between_fits(planted):
    from segmentation.scaling import FeatureScaler

    features, _ = _features(planted)
    cols = ["recency_days", "frequency", "monetary_total"]
    old = FeatureScaler(cols).fit(features)
    new = FeatureScaler(cols).fit(features.iloc[::2])
    points = old.transform(features.iloc[:5])
    np.testing.assert_allclose(new.translate(points, old), new.transform(features.iloc[:5]))
    assert FeatureScaler(cols[:2]).fit(features).translate(points, old) is None
