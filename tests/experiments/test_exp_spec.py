"""Experiment specs: validation, and the connector's pydantic config maps straight onto them."""

from __future__ import annotations

from datetime import date

import pytest

from connector.config import ExperimentConfig, HoldoutConfig
from experiments.spec import ArmSpec, ExperimentSpec, HoldoutSpec


def test_built_from_connector_config_dump():
    cfg = ExperimentConfig(
        key="spring-promo", segments=["7", "9"], start="2026-03-01", end="2026-04-01",
        arms=[{"name": "control", "weight": 0.5, "control": True}, {"name": "promo", "weight": 0.5}],
    )
    spec = ExperimentSpec(**cfg.model_dump())
    assert spec.arms == (ArmSpec("control", 0.5, True), ArmSpec("promo", 0.5))
    assert spec.segments == ("7", "9") and spec.metrics == ("conversion", "revenue")
    assert (spec.start, spec.end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert spec.control == "control" and spec.treatments == ("promo",)
    assert HoldoutSpec(**HoldoutConfig(share=0.05).model_dump()) == HoldoutSpec(0.05, "segsync-global-holdout")
    hash(spec)  # frozen and hashable


def test_control_defaults_to_first_arm():
    spec = ExperimentSpec(key="k", arms=[ArmSpec("a", 0.5), ArmSpec("b", 0.5)])
    assert spec.control == "a" and spec.treatments == ("b",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": [ArmSpec("a", 1.0)]}, "at least two arms"),
        ({"arms": [ArmSpec("a", 0.5), ArmSpec("a", 0.5)]}, "unique"),
        ({"arms": [ArmSpec("a", 0.5), ArmSpec("b", 0.6)]}, "sum to 1"),
        ({"arms": [ArmSpec("a", 0.5, True), ArmSpec("b", 0.5, True)]}, "one arm may be the control"),
        ({"coverage": 0}, "coverage"),
        ({"metrics": ["clicks"]}, "unknown metrics"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "before start"),
        ({"start": "soon"}, "ISO date"),
        ({"revenue_cap_quantile": 1.5}, "revenue_cap_quantile"),
    ],
)
def test_invalid_specs_are_named(kwargs, message):
    base = {"key": "k", "arms": [ArmSpec("a", 0.5), ArmSpec("b", 0.5)]}
    with pytest.raises(ValueError, match=message):
        ExperimentSpec(**{**base, **kwargs})


def test_holdout_name_is_reserved_and_shares_checked():
    with pytest.raises(ValueError, match="reserved"):
        ArmSpec("holdout", 0.5)
    with pytest.raises(ValueError, match="share"):
        HoldoutSpec(share=1.0)


def test_is_running_inclusive_days():
    spec = ExperimentSpec(key="k", arms=[ArmSpec("a", 0.5), ArmSpec("b", 0.5)], start="2026-03-01", end="2026-03-02")
    assert [spec.is_running(date(2026, 3, d)) for d in (1, 2, 3)] == [True, True, False]
