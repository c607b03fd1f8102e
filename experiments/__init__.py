"""Experiments: GrowthBook-compatible sticky arms per segment, holdouts, and lift statistics.

Pure: DataFrames and arrays in and out, no I/O, no clocks. The connector maps its config
onto ``ExperimentSpec``/``HoldoutSpec``, stores what ``assign_arms`` returns in the arms
table, and feeds arms + outcomes to ``analyse_experiment``.
"""

from __future__ import annotations

from experiments.analysis import RESULT_COLUMNS, analyse_experiment
from experiments.assignment import (
    ARMS_COLUMNS,
    assign_arms,
    bucket_ranges,
    choose_variation,
    hash_value,
)
from experiments.bayes import bayesian_lift
from experiments.power import minimum_detectable_effect, plan_experiment
from experiments.spec import HOLDOUT_ARM, ArmSpec, ExperimentSpec, HoldoutSpec
from experiments.stats import LiftResult, SampleMoments, frequentist_lift

__all__ = [
    "ARMS_COLUMNS",
    "HOLDOUT_ARM",
    "RESULT_COLUMNS",
    "ArmSpec",
    "ExperimentSpec",
    "HoldoutSpec",
    "LiftResult",
    "SampleMoments",
    "analyse_experiment",
    "assign_arms",
    "bayesian_lift",
    "bucket_ranges",
    "choose_variation",
    "frequentist_lift",
    "hash_value",
    "minimum_detectable_effect",
    "plan_experiment",
]
