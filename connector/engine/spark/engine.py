"""The Spark engine behind the steps' `Engine` interface.

Where the sources allow it (connector.engine.spark.sources.native_reason), the cycle's
transactions are read by Spark itself and stay there (connector.steps.spark_cycle): the engine's
methods take those Spark DataFrames as they are. Otherwise the canonical tables arrive as pandas
frames (pulled through the state store) and are handed to Spark. Either way only results come
back: features, one row per customer, the segment of each customer, scores and CLV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from connector.engine.pandas import PandasEngine
from connector.engine.spark import arms as arms_
from connector.engine.spark import clv as clv_
from connector.engine.spark import features as features_
from connector.engine.spark import quarantine, scoring
from connector.engine.spark import segmentation as segmentation_
from connector.engine.spark.session import spark_session
from segmentation.engine import SegmentationParams, SegmentationResult, SegmentationState
from segmentation.features import Plausible

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

    from connector.config.engine import EngineConfig
    from experiments.spec import ExperimentSpec, HoldoutSpec
    from segmentation.clv import ClvModel
    from segmentation.scoring import ScoreModel


class SparkEngine:
    name = "spark"

    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self._session: SparkSession | None = None

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = spark_session(self.cfg)
        return self._session

    def frame(self, table: pd.DataFrame | DataFrame) -> DataFrame:
        """A canonical pandas table as a Spark DataFrame (Arrow; tz-aware stamps become UTC timestamps);
        a table already on Spark (read there by connector.engine.spark.sources) as it is."""
        if not isinstance(table, pd.DataFrame):
            return table
        return self.session.createDataFrame(table.reset_index(drop=table.index.name is None))

    def clean(self, transactions: pd.DataFrame, plausible: Plausible) -> tuple[pd.DataFrame, pd.DataFrame]:
        clean, rejected = quarantine.clean_transactions(self.frame(transactions), plausible)
        clean_pd = clean.toPandas()
        clean_pd["occurred_at"] = pd.to_datetime(clean_pd["occurred_at"], utc=True)
        return clean_pd.reset_index(drop=True), rejected.drop("source").toPandas()

    def features(self, customers: pd.DataFrame | None, transactions: pd.DataFrame, as_of: pd.Timestamp,
                 attributes: tuple[str, ...] | list[str]) -> pd.DataFrame:
        return features_on_driver(self.features_frame(customers, transactions, as_of, attributes))

    def features_frame(self, customers: pd.DataFrame | DataFrame | None, transactions: pd.DataFrame | DataFrame,
                       as_of: pd.Timestamp, attributes: tuple[str, ...] | list[str]) -> DataFrame:
        """The features as a Spark DataFrame (customer_id a column), computed on the executors."""
        return features_.build_features(self.frame(customers) if customers is not None else None,
                                        self.frame(transactions), as_of, tuple(attributes))

    def segment(self, features: pd.DataFrame, params: SegmentationParams, previous: SegmentationState | None,
                as_of: pd.Timestamp) -> SegmentationResult:
        if params.method == "rfm":  # quintiles of the population: no model to distribute
            return PandasEngine().segment(features, params, previous, as_of)
        try:
            found = segmentation_.segment(self.frame(features.rename_axis("customer_id")), params, previous, as_of)
        except ValueError as exc:
            if "too few" not in str(exc):
                raise
            return PandasEngine().segment(features, params, previous, as_of)
        try:
            segments = found.segments.toPandas().set_index("customer_id").loc[features.index.astype(str)].reset_index()
        finally:
            found.unpersist()
        found.state.assignments = pd.Series(segments["segment_id"].to_numpy(), index=features.index)
        result = SegmentationResult(segments, found.profiles, found.state, found.drift, found.retrained,
                                    found.reason, found.metrics)
        return result

    def score(self, model: ScoreModel, features: pd.DataFrame) -> pd.DataFrame:
        scored = scoring.score(model, self.frame(features.rename_axis("customer_id")), "propensity").toPandas()
        return scored.set_index("customer_id").loc[features.index.astype(str)].reset_index()

    def clv(self, transactions: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int,
            annual_discount_rate: float) -> tuple[ClvModel, pd.DataFrame]:
        frame, model = clv_.clv_scores(self.frame(transactions), as_of, horizon_days, annual_discount_rate)
        return model, frame.toPandas().sort_values("customer_id").reset_index(drop=True)

    def assign_arms(self, segments: pd.DataFrame, spec: ExperimentSpec, existing: pd.DataFrame,
                    holdout: HoldoutSpec | None, assigned_at: datetime) -> pd.DataFrame:
        """experiments.assignment.assign_arms on the executors (connector.engine.spark.arms); only the
        new assignments come back, in `segments`' order as the pandas engine returns them."""
        known = self.frame(existing[["experiment", "customer_id"]]) if len(existing) else None
        rows = arms_.collect_new_arms(self.frame(segments[["customer_id", "segment_id"]]), known, spec, holdout,
                                      assigned_at)
        position = pd.Index(segments["customer_id"].astype(str)).get_indexer(rows["customer_id"])
        return rows.iloc[position.argsort(kind="stable")].reset_index(drop=True)


def features_on_driver(table: DataFrame) -> pd.DataFrame:
    """Spark features (one row per customer) as the pandas engine's frame: customer_id-indexed, sorted."""
    out = table.toPandas().set_index("customer_id").sort_index()
    out.index = out.index.astype(str)
    return out
