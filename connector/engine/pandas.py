"""The pandas engine: the pure core called as it is, on this machine (the default)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from experiments.assignment import assign_arms
from experiments.spec import ExperimentSpec, HoldoutSpec
from segmentation.clv import ClvModel, clv_scores, fit_clv
from segmentation.engine import SegmentationParams, SegmentationResult, SegmentationState, segment
from segmentation.features import Plausible, build_features, clean_transactions
from segmentation.scoring import ScoreModel


class PandasEngine:
    name = "pandas"

    def clean(self, transactions: pd.DataFrame, plausible: Plausible) -> tuple[pd.DataFrame, pd.DataFrame]:
        return clean_transactions(transactions, plausible)

    def features(self, customers: pd.DataFrame | None, transactions: pd.DataFrame, as_of: pd.Timestamp,
                 attributes: tuple[str, ...] | list[str]) -> pd.DataFrame:
        return build_features(customers, transactions, as_of, attributes=attributes)

    def segment(self, features: pd.DataFrame, params: SegmentationParams, previous: SegmentationState | None,
                as_of: pd.Timestamp) -> SegmentationResult:
        return segment(features, params, previous, as_of)

    def score(self, model: ScoreModel, features: pd.DataFrame) -> pd.DataFrame:
        return model.score(features)

    def clv(self, transactions: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int,
            annual_discount_rate: float) -> tuple[ClvModel, pd.DataFrame]:
        model, summary = fit_clv(transactions, as_of, horizon_days, annual_discount_rate)
        frame = clv_scores(transactions, as_of, model=model, summary=summary)  # the summary computed once
        return model, frame.join(summary, on="customer_id")  # and kept for the serving snapshot

    def assign_arms(self, segments: pd.DataFrame, spec: ExperimentSpec, existing: pd.DataFrame,
                    holdout: HoldoutSpec | None, assigned_at: datetime) -> pd.DataFrame:
        return assign_arms(segments, spec, existing, holdout, assigned_at)
