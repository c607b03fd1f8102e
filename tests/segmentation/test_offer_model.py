"""The offer model is reused between retrains: no out-of-time evaluation and no ranker fit then."""

from __future__ import annotations

import pandas as pd
import pytest

import segmentation.offers as offers_module
from segmentation.offer_model import (
    OfferModel,
    OfferRetrain,
    mix_shift,
    product_mix,
    retrain_reason,
)
from segmentation.offer_ranker import OfferRanker
from segmentation.offers import OfferParams, recommend_offers
from tests.segmentation.test_offers import _planted

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    items, segments = _planted(300)
    return items, segments.assign(model_version="seg-v1")


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the out-of-time evaluations and ranker fits recommend_offers runs."""
    calls = {"evaluate": 0, "fit": 0}
    evaluate, fit = offers_module.evaluate_offers, OfferRanker.fit

    def counting_evaluate(*a, **kw):
        calls["evaluate"] += 1
        return evaluate(*a, **kw)

    def counting_fit(self, *a, **kw):
        calls["fit"] += 1
        return fit(self, *a, **kw)

    monkeypatch.setattr(offers_module, "evaluate_offers", counting_evaluate)
    monkeypatch.setattr(OfferRanker, "fit", counting_fit)
    return calls


def test_a_reused_model_skips_the_evaluation_and_gives_the_same_offers(planted, spies):
    items, segments = planted
    params = OfferParams(method="repeat", horizon_days=60, n_boot=20)
    first = recommend_offers(items, segments, AS_OF, params)
    assert spies["evaluate"] == 1 and first.retrained == "no offer model yet" and first.evaluation is not None
    again = recommend_offers(items, segments, AS_OF, params, previous=first.model)
    assert spies["evaluate"] == 1 and again.retrained is None
    assert again.evaluation is first.evaluation and again.reason == first.reason
    pd.testing.assert_frame_equal(again.offers, first.offers)


def test_a_reused_ranker_is_not_fitted_again_and_scores_the_same(planted, spies):
    items, segments = planted
    params = OfferParams(method="ranker", horizon_days=60, evaluate=False)
    first = recommend_offers(items, segments, AS_OF, params)
    assert spies["fit"] == 1 and first.model is not None and first.model.ranker is not None
    again = recommend_offers(items, segments, AS_OF, params, previous=first.model)
    assert spies["fit"] == 1 and again.method == "ranker"
    pd.testing.assert_frame_equal(again.offers, first.offers)


def test_the_model_is_refitted_when_the_retrain_interval_passed(planted, spies):
    items, segments = planted
    params = OfferParams(method="repeat", horizon_days=60, n_boot=20, retrain=OfferRetrain(every_days=7, product_shift_threshold=None))
    first = recommend_offers(items, segments, AS_OF, params)
    later = recommend_offers(items, segments, AS_OF + pd.Timedelta(days=6), params, previous=first.model)
    assert later.retrained is None and spies["evaluate"] == 1
    week = recommend_offers(items, segments, AS_OF + pd.Timedelta(days=7), params, previous=first.model)
    assert week.retrained == "the offer model is 7 day(s) old (retrain every_days 7)" and spies["evaluate"] == 2
    assert week.model is not None and week.model.as_of == AS_OF + pd.Timedelta(days=7)


def test_retrained_segments_refit_the_model(planted, spies):
    items, segments = planted
    params = OfferParams(method="repeat", horizon_days=60, n_boot=20)
    first = recommend_offers(items, segments, AS_OF, params)
    again = recommend_offers(items, segments.assign(model_version="seg-v2"), AS_OF, params, previous=first.model)
    assert again.retrained == "the segments were retrained (seg-v1 -> seg-v2)" and spies["evaluate"] == 2


def test_a_shifted_product_mix_refits_and_a_small_one_does_not():
    mix = pd.Series({"A": 0.5, "B": 0.5})
    model = OfferModel(AS_OF, mix, "v1", None, "repeat", "configured")
    policy = OfferRetrain(every_days=30, product_shift_threshold=0.2)
    assert mix_shift(mix, pd.Series({"A": 0.45, "B": 0.5, "C": 0.05})) == pytest.approx(0.05)
    assert retrain_reason(model, policy, AS_OF, pd.Series({"A": 0.45, "B": 0.5, "C": 0.05}), "v1") is None
    why = retrain_reason(model, policy, AS_OF, pd.Series({"A": 0.2, "B": 0.5, "C": 0.3}), "v1")
    assert why == "the product mix moved 0.30 (total variation; product_shift_threshold 0.2)"
    assert retrain_reason(model, OfferRetrain(every_days=0), AS_OF, mix, "v1") == "retrain every_days 0: refit every run"
    assert retrain_reason(None, policy, AS_OF, mix, "v1") == "no offer model yet"


def test_product_mix_counts_only_the_horizon_before_as_of():
    items = pd.DataFrame({"product_id": ["A", "A", "B", "C"], "occurred_at": pd.to_datetime(
        ["2024-01-01", "2024-02-20", "2024-02-25", "2024-03-02"], utc=True)})
    assert product_mix(items, AS_OF, 30).to_dict() == {"A": 0.5, "B": 0.5}


def test_bad_policy_values_are_named():
    with pytest.raises(ValueError, match="every_days -1"):
        OfferRetrain(every_days=-1)
    with pytest.raises(ValueError, match="product_shift_threshold 1.5"):
        OfferRetrain(product_shift_threshold=1.5)
    with pytest.raises(ValueError, match="min_score_gain -1"):
        OfferParams(min_score_gain=-1)
