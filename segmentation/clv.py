"""Customer lifetime value: discounted expected spend from BG/NBD and Gamma-Gamma.

The models live in :mod:`segmentation.btyd` and the (frequency, recency, T, monetary value)
summary in :mod:`segmentation.purchase_summary`; both are re-exported here, so
``segmentation.clv.BGNBD().fit(frequency, recency, T)`` is the public spelling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.btyd import BGNBD, GammaGamma
from segmentation.purchase_summary import summary_from_transactions

__all__ = ["BGNBD", "GammaGamma", "customer_lifetime_value", "clv_scores", "score_summary", "summary_from_transactions"]


def customer_lifetime_value(
    transaction_model: BGNBD,
    spend_model: GammaGamma,
    summary: pd.DataFrame,
    horizon: float,
    annual_discount_rate: float,
    periods_per_year: float,
    steps: int = 12,
) -> pd.Series:
    """Discounted expected spend over ``horizon`` time units after the calibration end.

    ``summary`` has columns frequency, recency, T, monetary_value (one row per customer).
    The horizon is cut into ``steps`` equal slices; the expected purchases in each slice times
    the expected spend per purchase is discounted at ``(1 + annual_discount_rate) ** years``,
    ``years`` being the slice end over ``periods_per_year`` (52.18 for weeks, 365.25 for days).
    """
    if horizon <= 0 or steps < 1:
        raise ValueError("horizon must be > 0 and steps >= 1")
    if not 0 <= annual_discount_rate < 1:
        raise ValueError("annual_discount_rate must be in [0, 1)")
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    spend = spend_model.conditional_expected_average_profit(x, summary["monetary_value"].to_numpy(float))
    value, previous = np.zeros(len(summary)), np.zeros(len(summary))
    for k in range(1, steps + 1):
        t = horizon * k / steps
        cumulative = transaction_model.conditional_expected_purchases(t, x, tx, T)
        value += (cumulative - previous) / (1.0 + annual_discount_rate) ** (t / periods_per_year)
        previous = cumulative
    return pd.Series(value * spend, index=summary.index, name="clv")


def clv_scores(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
    penalizer: float = 0.0,
    max_fit_customers: int = 250_000,
    random_state: int = 0,
) -> pd.DataFrame:
    """Fit BG/NBD and Gamma-Gamma on everything up to ``as_of`` and score every buyer.

    ``transactions``: clean canonical rows (customer_id, occurred_at, amount).
    Returns one row per customer who bought by ``as_of``: customer_id, clv (discounted
    expected spend over the next ``horizon_days``, monthly cash-flow slices), p_alive and
    expected_purchases (expected purchase days over the horizon), sorted by customer_id.
    Above ``max_fit_customers`` the four + three parameters are fit on a seeded sample of
    customers (population parameters; the sampling error is negligible at that size) and
    everyone is scored.
    """
    summary = summary_from_transactions(transactions, as_of, freq="D")
    if int((summary["frequency"] > 0).sum()) < 3:
        raise ValueError("CLV needs at least 3 customers with repeat purchases before as_of")
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    fit = np.arange(len(summary))
    if len(fit) > max_fit_customers:
        fit = np.random.default_rng(random_state).choice(fit, max_fit_customers, replace=False)
    bgnbd = BGNBD(penalizer=penalizer).fit(x[fit], tx[fit], T[fit])
    money = summary["monetary_value"].to_numpy(float)
    # Gamma-Gamma is defined for positive spend only: repeat buyers whose repeat purchases were
    # all free (CDNOW has $0 rows) inform the purchase process, not the spend model.
    paid = fit[money[fit] > 0]
    spend = GammaGamma(penalizer=penalizer).fit(x[paid], money[paid])
    return score_summary(bgnbd, spend, summary, horizon_days, annual_discount_rate)


def score_summary(
    bgnbd: BGNBD, spend: GammaGamma, summary: pd.DataFrame, horizon_days: int, annual_discount_rate: float
) -> pd.DataFrame:
    """customer_id, clv, p_alive, expected_purchases for each row of a daily ``summary``
    (indexed by customer_id; frequency, recency, T, monetary_value), under fitted models.
    Row-wise: a cluster engine applies it to each partition of the summary."""
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    steps = max(1, int(np.ceil(horizon_days / 30)))
    clv = customer_lifetime_value(bgnbd, spend, summary, horizon_days, annual_discount_rate, 365.25, steps)
    return pd.DataFrame(
        {
            "customer_id": summary.index.to_numpy(),
            "clv": clv.to_numpy(),
            "p_alive": bgnbd.p_alive(x, tx, T),
            "expected_purchases": bgnbd.conditional_expected_purchases(horizon_days, x, tx, T),
        }
    )
