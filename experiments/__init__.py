"""Experiments: GrowthBook-compatible sticky arms per segment, holdouts, and lift statistics.

Pure: DataFrames and arrays in and out, no I/O, no clocks. The connector maps its config
onto ``ExperimentSpec``/``HoldoutSpec``, stores what ``assign_arms`` returns in the arms
table, and feeds arms + outcomes to ``analyse_experiment`` (or, when the customers stay where
they are, the sums per segment x arm x metric to ``analyse_sums``).

Parity with gbstats 0.8.0 (GrowthBook's stats engine, the PyPI wheel). Lift, the sequential
intervals, the Bayesian update under the same prior and SRM agree with it to about 1e-13
(tests/experiments/test_exp_stats.py). Where segsync differs, on purpose
(tests/experiments/test_exp_parity.py pins each row against gbstats' own output):

================================  ==============================  ==============================
case                              gbstats 0.8.0                   segsync, and why
================================  ==============================  ==============================
relative lift, control mean < 0   ``(mu_t - mu_c) / mu_c``: a     ``(mu_t - mu_c) / |mu_c|``: the
                                  treatment doing better than a   lift's sign is the sign of the
                                  negative control reads as a     difference. Same value when
                                  negative lift                   mu_c > 0 (conversion, revenue)
SRM with a zero-weight arm        statistic over the weighted     chi-square of the weighted arms
                                  arms, but the zero-weight       among themselves, k - 1 over
                                  arm's units in the total        those arms: a weight set to 0
                                  (inflating every expected       mid-experiment keeps its sticky
                                  count) and in k - 1             members, which are not a
                                                                  mismatch of the others
CUPED relative denominator        adjusted difference over the    over the *adjusted* control
                                  *raw* control mean, variance    mean, with the delta-method
                                  from the raw means              variance of that same ratio.
                                                                  Same when the arms are
                                                                  balanced on the covariate.
                                                                  Both refuse a raw control
                                                                  mean of 0 (segsync says why)
default Bayesian prior            improper flat prior             proper N(0, 0.3^2) on the
                                  (``GaussianPrior(0, 1,          relative lift: shrinks the
                                  proper=False)``)                huge lifts of small segments
                                                                  when dozens of cells are read
                                                                  at once; ``prior_sd=None`` is
                                                                  gbstats' flat prior
an arm whose values do not vary   placeholder: estimate 0,        refused: NaN estimate, interval
(0 % / 100 %, a constant)         p = 1                           and p, and ``note`` says why
                                                                  (experiments.stats)
================================  ==============================  ==============================
"""

from __future__ import annotations

from experiments.analysis import RESULT_COLUMNS, SUM_COLUMNS, analyse_experiment, analyse_sums
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
    "SUM_COLUMNS",
    "ArmSpec",
    "ExperimentSpec",
    "HoldoutSpec",
    "LiftResult",
    "SampleMoments",
    "analyse_experiment",
    "analyse_sums",
    "assign_arms",
    "bayesian_lift",
    "bucket_ranges",
    "choose_variation",
    "frequentist_lift",
    "hash_value",
    "minimum_detectable_effect",
    "plan_experiment",
]
