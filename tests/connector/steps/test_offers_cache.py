"""The offers step reuses its stored offer model across cycles (and a state-store reopen), refits
it when the settings that shape it change or the retrain interval passed, and writes a customer's
current offers only when they changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

import segmentation.offers as offers_module
from connector.config import load_config
from connector.pipeline import run_cycle
from connector.report import render_report
from connector.sandbox.online_retail import online_retail_sample
from connector.state import StateStore
from connector.steps.offers import MODEL

CONFIG: dict[str, Any] = {
    "version": 1,
    "state": {"path": "state.sqlite"},
    "sources": {"files": {
        "transactions": "data/retail.csv", "customer_id_column": "CustomerID", "date_column": "InvoiceDate",
        "transaction_id_column": "InvoiceNo", "product_column": "StockCode", "product_name_column": "Description",
        "quantity_column": "Quantity", "unit_price_column": "UnitPrice",
    }},
    "destinations": {"files": {"path": "out/segments.csv"}},
    "segmentation": {"method": "kmeans", "k": 3, "sample_size": 200, "retrain": {"every_days": 365}},
    "offers": {"method": "repeat", "horizon_days": 60, "max_eval_customers": 100,
               "retrain": {"every_days": 7, "product_shift_threshold": None}},
}
FIRST_DAY = pd.Timestamp("2011-11-01")


@pytest.fixture(scope="module")
def retail() -> pd.DataFrame:
    raw = online_retail_sample(150, seed=5)
    return raw.assign(when=pd.to_datetime(raw["InvoiceDate"]))


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[pd.Timestamp]:
    """The cutoff of every out-of-time evaluation the offers step runs."""
    seen: list[pd.Timestamp] = []
    real = offers_module.evaluate_offers

    def spy(items: pd.DataFrame, segments: pd.Series, cutoff: pd.Timestamp, **kw: Any) -> pd.DataFrame:
        seen.append(cutoff)
        return real(items, segments, cutoff, **kw)

    monkeypatch.setattr(offers_module, "evaluate_offers", spy)
    return seen


def _world(root: Path, retail: pd.DataFrame, through: pd.Timestamp, **offers: Any) -> Path:
    """The sample's purchases before `through` as the files source; a config with these offer settings."""
    (root / "data").mkdir(exist_ok=True)
    retail[retail["when"] < through].drop(columns="when").to_csv(root / "data" / "retail.csv", index=False)
    data = {**CONFIG, "offers": {**CONFIG["offers"], **offers}}
    (root / "segsync.yaml").write_text(yaml.safe_dump(data))
    return root / "segsync.yaml"


def _cycle(path: Path) -> dict[str, int]:
    cfg = load_config(path, env={})
    with StateStore(path.parent / "state.sqlite") as store:
        result = run_cycle(cfg, store)
    assert result.status == "succeeded", result.error
    return result.counts


def _versions(root: Path) -> list[tuple[int, dict[str, Any]]]:
    with StateStore(root / "state.sqlite") as store:
        return [(v, meta) for v, _, meta in store.models.metas(*MODEL)]


def test_an_unchanged_second_cycle_reuses_the_model_even_after_a_reopen(tmp_path, retail, evaluations):
    path = _world(tmp_path, retail, FIRST_DAY)
    first = _cycle(path)
    assert len(evaluations) == 1 and first["offers_changed"] == first["offers"] > 100
    (version, meta), = _versions(tmp_path)
    assert meta["reason"] == "no offer model yet" and meta["method"] == "repeat"
    second = _cycle(path)  # a new StateStore: the model comes back from the state file
    assert len(evaluations) == 1, "the second cycle evaluated again"
    assert second["offers_changed"] == 0 and second["offers_kept"] == second["offers"]
    assert [v for v, _ in _versions(tmp_path)] == [version]
    with StateStore(tmp_path / "state.sqlite") as store:
        summary = store.models.latest("artifact", "offers")[1]  # type: ignore[index]
    assert summary["model_version"] == version and summary["retrained"] is None
    assert summary["evaluation"] is not None and set(summary["evaluation"]["method"]) >= {"repeat", "popularity"}
    with StateStore(tmp_path / "state.sqlite") as store:
        html = render_report(store, load_config(path, env={}))
    assert f"Offer model version {version}, fitted on data as of {summary['model_as_of']}, reused." in html


def test_changed_offer_settings_refit_the_model(tmp_path, retail, evaluations):
    _cycle(_world(tmp_path, retail, FIRST_DAY))
    _cycle(_world(tmp_path, retail, FIRST_DAY, max_eval_customers=120))
    assert len(evaluations) == 2
    _cycle(_world(tmp_path, retail, FIRST_DAY, max_eval_customers=120, min_score_gain=0.5, n_jobs=2, write="code"))
    assert len(evaluations) == 2  # stability, threads and labels act after the model: no refit
    _cycle(_world(tmp_path, retail, FIRST_DAY, max_eval_customers=120, horizon_days=45))
    assert len(evaluations) == 3 and len(_versions(tmp_path)) == 3


def test_the_model_is_refitted_once_the_retrain_interval_passed(tmp_path, retail, evaluations):
    _cycle(_world(tmp_path, retail, FIRST_DAY))
    _cycle(_world(tmp_path, retail, FIRST_DAY + pd.Timedelta(days=3)))
    assert len(evaluations) == 1  # three data days: reused
    _cycle(_world(tmp_path, retail, FIRST_DAY + pd.Timedelta(days=10)))
    assert len(evaluations) == 2
    newest = _versions(tmp_path)[-1][1]
    assert newest["reason"].startswith("the offer model is ") and newest["reason"].endswith("(retrain every_days 7)")


def test_an_unreadable_stored_model_is_refitted_not_a_crash(tmp_path, retail, evaluations):
    path = _world(tmp_path, retail, FIRST_DAY)
    _cycle(path)
    with StateStore(tmp_path / "state.sqlite") as store, store.transaction() as c:
        c.execute("UPDATE models SET data = ? WHERE kind = ? AND name = ?", (b"not a model", *MODEL))
    _cycle(path)
    assert len(evaluations) == 2


def test_a_dry_run_stores_neither_a_model_nor_current_offers(tmp_path, retail, evaluations):
    path = _world(tmp_path, retail, FIRST_DAY)
    cfg = load_config(path, env={})
    with StateStore(tmp_path / "state.sqlite") as store:
        assert run_cycle(cfg, store, dry_run=True).status == "succeeded"
        assert store.models.latest(*MODEL) is None and store.offers.current().empty
