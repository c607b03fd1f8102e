"""Where the heavy compute runs: the pandas engine (one machine, the default) or Spark.

The steps call one `Engine` chosen from `engine:` in the config; both engines give the same
answers on the same data (tests/connector/engine). The pipeline, registry, ledger, plan and
push do not change with the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pandas as pd

if TYPE_CHECKING:
    from datetime import datetime

    from connector.config.engine import EngineConfig
    from experiments.spec import ExperimentSpec, HoldoutSpec
    from segmentation.clv import ClvModel
    from segmentation.engine import SegmentationParams, SegmentationResult, SegmentationState
    from segmentation.features import Plausible
    from segmentation.scoring import ScoreModel


class Engine(Protocol):
    """The compute the model and score steps delegate (frames in and out are the canonical pandas ones)."""

    name: str

    def clean(self, transactions: pd.DataFrame, plausible: Plausible) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def features(self, customers: pd.DataFrame | None, transactions: pd.DataFrame, as_of: pd.Timestamp,
                 attributes: tuple[str, ...] | list[str]) -> pd.DataFrame: ...

    def segment(self, features: pd.DataFrame, params: SegmentationParams, previous: SegmentationState | None,
                as_of: pd.Timestamp) -> SegmentationResult: ...

    def score(self, model: ScoreModel, features: pd.DataFrame) -> pd.DataFrame: ...

    def clv(self, transactions: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int,
            annual_discount_rate: float) -> tuple[ClvModel, pd.DataFrame]:
        """(the fitted model, which the serving snapshot carries; customer_id, clv, p_alive, expected_purchases)."""

    def assign_arms(self, segments: pd.DataFrame, spec: ExperimentSpec, existing: pd.DataFrame,
                    holdout: HoldoutSpec | None, assigned_at: datetime) -> pd.DataFrame:
        """The new assignments of one experiment (experiments.assignment.assign_arms, in `segments`' order)."""


def open_engine(cfg: EngineConfig) -> Engine:
    """The engine `cfg` names; Spark is imported only when chosen (ConfigurationError if it cannot run)."""
    if cfg.kind == "spark":
        from connector.engine.spark.engine import SparkEngine

        return SparkEngine(cfg)
    from connector.engine.pandas import PandasEngine

    return PandasEngine()


__all__ = ["Engine", "open_engine"]
