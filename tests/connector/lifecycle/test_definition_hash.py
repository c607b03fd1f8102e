"""One definition hash for every stored model (connector.state.models.definition_hash), and the
hashes that score and offer models stored by earlier releases carry still match: an upgrade must
not refit every stored model. The pinned values were computed by the two copies this function
replaced (connector/steps/scoring.py and connector/steps/offers.py before the merge)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from connector.config import OffersConfig
from connector.state import StateStore
from connector.state.models import definition_hash
from segmentation.offer_model import OfferModel
from segmentation.scoring import ScoreParams

SCORE = ScoreParams(name="buy_30d", kind="propensity", horizon_days=30, models=("logistic", "gbm"), random_state=7,
                    attributes=("plan",))
SCORE_HASH = "70df41f43ae16cbba930df23281530371bdee48b481e62daea0920c5bb7215b6"
OFFERS = OffersConfig(method="cooccurrence", mode="cross_sell", horizon_days=60, non_product_codes=["POST", "DOT"],
                      random_state=3)
OFFERS_HASH = "2d556f5f7e2109c9e11f7234bde030bd93cd53b5c2e4f67d267c9f180539935e"
# connector.steps exports the step functions under the modules' names
scoring_step = importlib.import_module("connector.steps.scoring")
offers_step = importlib.import_module("connector.steps.offers")


def test_the_hash_is_of_the_settings_not_their_order_or_python_types() -> None:
    assert definition_hash({"a": 1, "b": (1, 2)}) == definition_hash({"b": [1, 2], "a": 1})
    assert definition_hash({"a": 1}) != definition_hash({"a": 2})
    when = pd.Timestamp("2024-01-01", tz="UTC")  # not JSON: hashed by its text
    assert definition_hash({"t": when}) == definition_hash({"t": str(when)})


def test_the_steps_have_no_copy_of_their_own() -> None:
    for module in (scoring_step, offers_step):
        assert "def definition_hash" not in Path(module.__file__ or "").read_text()


def test_a_score_model_stored_by_an_earlier_release_still_defends() -> None:
    stored = (4, SimpleNamespace(version="v4"), {"definition": SCORE_HASH})
    assert scoring_step._defending(stored, SCORE) is stored
    changed = ScoreParams(**{**SCORE.__dict__, "horizon_days": 60})
    assert scoring_step._defending(stored, changed) is None


@pytest.fixture
def store(tmp_path: Path):
    with StateStore(tmp_path / "state.sqlite") as s:
        yield s


def _offer_model() -> OfferModel:
    return OfferModel(as_of=pd.Timestamp("2024-01-01"), product_mix=pd.Series({"A": 1.0}, name="share"),
                      segments_version=None, evaluation=None, method="cooccurrence", reason="pinned")


def test_an_offer_model_stored_by_an_earlier_release_is_reused(store: StateStore) -> None:
    meta = {"definition": OFFERS_HASH, "trained_at": pd.Timestamp.now(tz="UTC").isoformat()}
    version = store.models.save(*offers_step.MODEL, _offer_model(), meta=meta)
    ctx = SimpleNamespace(store=store)
    found, model = offers_step.previous_model(ctx, OFFERS)  # type: ignore[arg-type]
    assert found == version
    assert model is not None and model.reason == "pinned"
    changed = OFFERS.model_copy(update={"horizon_days": 90})
    assert offers_step.previous_model(ctx, changed) == (None, None)  # type: ignore[arg-type]


def test_a_new_offer_model_stores_the_same_hash(store: StateStore) -> None:
    ctx = SimpleNamespace(store=store, run_id=None)
    version = offers_step._save_model(ctx, OFFERS, _offer_model(), "first model")  # type: ignore[arg-type]
    assert store.models.metas(*offers_step.MODEL)[0][0] == version
    assert store.models.metas(*offers_step.MODEL)[0][2]["definition"] == OFFERS_HASH
