"""Customer lifetime value: discounted expected spend from BG/NBD and Gamma-Gamma.

The models live in :mod:`segmentation.btyd` and the (frequency, recency, T, monetary value)
summary in :mod:`segmentation.purchase_summary`; both are re-exported here, so
``segmentation.clv.BGNBD().fit(frequency, recency, T)`` is the public spelling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from segmentation.btyd import BGNBD, GammaGamma
from segmentation.purchase_summary import summary_from_transactions

__all__ = ["BGNBD", "ClvModel", "GammaGamma", "clv_scores", "customer_lifetime_value", "fit_clv", "summary_from_transactions"]


_FEW = 64


@dataclass(frozen=True)
class ClvModel:
    """A fitted CLV: the BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, gamma) parameters and
    the horizon, discount and cash-flow slices, all plain numbers (``to_dict`` is JSON), so a
    customer the fit never saw is valued with the same formula as the fitted population.
    Time is in days (``summary_from_transactions(..., freq="D")``)."""

    bgnbd: dict[str, float]
    gamma_gamma: dict[str, float]
    horizon_days: int = 365
    annual_discount_rate: float = 0.10
    steps: int = 13

    @classmethod
    def from_models(cls, bgnbd: BGNBD, spend: GammaGamma, horizon_days: int, annual_discount_rate: float) -> ClvModel:
        return cls(dict(bgnbd.params_), dict(spend.params_), int(horizon_days), float(annual_discount_rate),
                   max(1, int(np.ceil(horizon_days / 30))))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClvModel:
        return cls(dict(data["bgnbd"]), dict(data["gamma_gamma"]), int(data["horizon_days"]),
                   float(data["annual_discount_rate"]), int(data["steps"]))

    def models(self) -> tuple[BGNBD, GammaGamma]:
        bgnbd, spend = BGNBD(), GammaGamma()
        bgnbd.params_, spend.params_ = dict(self.bgnbd), dict(self.gamma_gamma)
        return bgnbd, spend

    def value(self, x: ArrayLike, tx: ArrayLike, T: ArrayLike, monetary_value: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(clv, p_alive) per customer from their (frequency, recency, T, monetary value) in days."""
        bgnbd, spend = self.models()
        x, tx, T = (np.asarray(v, dtype=float) for v in (x, tx, T))
        clv = _discounted_value(bgnbd, spend, x, tx, T, np.asarray(monetary_value, dtype=float), self.horizon_days,
                                self.annual_discount_rate, 365.25, self.steps)
        return clv, bgnbd.p_alive(x, tx, T)


def _check_terms(horizon: float, steps: int, annual_discount_rate: float) -> None:
    if horizon <= 0 or steps < 1:
        raise ValueError("horizon must be > 0 and steps >= 1")
    if not 0 <= annual_discount_rate < 1:
        raise ValueError("annual_discount_rate must be in [0, 1)")


def _discounted_value(transaction_model: BGNBD, spend_model: GammaGamma, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                      money: np.ndarray, horizon: float, annual_discount_rate: float, periods_per_year: float,
                      steps: int) -> np.ndarray:
    spend = spend_model.conditional_expected_average_profit(x, money)
    value, previous = np.zeros(len(x)), np.zeros(len(x))
    if len(x) <= _FEW:  # a request's few customers: every slice's purchases in one call (elementwise the same)
        ends = horizon * np.arange(1, steps + 1) / steps
        slices = transaction_model.conditional_expected_purchases(ends[:, None], x[None, :], tx[None, :], T[None, :])
    for k in range(1, steps + 1):
        t = horizon * k / steps
        cumulative = slices[k - 1] if len(x) <= _FEW else transaction_model.conditional_expected_purchases(t, x, tx, T)
        value += (cumulative - previous) / (1.0 + annual_discount_rate) ** (t / periods_per_year)
        previous = cumulative
    return value * spend


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
    _check_terms(horizon, steps, annual_discount_rate)
    x, tx, T, money = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T", "monetary_value"))
    value = _discounted_value(transaction_model, spend_model, x, tx, T, money, horizon, annual_discount_rate,
                              periods_per_year, steps)
    return pd.Series(value, index=summary.index, name="clv")


def fit_clv(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
    penalizer: float = 0.0,
    max_fit_customers: int = 250_000,
    random_state: int = 0,
) -> tuple[ClvModel, pd.DataFrame]:
    """Fit BG/NBD and Gamma-Gamma on everything up to ``as_of``; returns the model and the
    daily summary it was fit on (see ``clv_scores`` for the arguments)."""
    _check_terms(horizon_days, 1, annual_discount_rate)
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
    return ClvModel.from_models(bgnbd, spend, horizon_days, annual_discount_rate), summary


def clv_scores(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp | str,
    horizon_days: int = 365,
    annual_discount_rate: float = 0.10,
    penalizer: float = 0.0,
    max_fit_customers: int = 250_000,
    random_state: int = 0,
    model: ClvModel | None = None,
    summary: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fit BG/NBD and Gamma-Gamma on everything up to ``as_of`` and score every buyer.

    ``transactions``: clean canonical rows (customer_id, occurred_at, amount).
    Returns one row per customer who bought by ``as_of``: customer_id, clv (discounted
    expected spend over the next ``horizon_days``, monthly cash-flow slices), p_alive and
    expected_purchases (expected purchase days over the horizon), sorted by customer_id.
    Above ``max_fit_customers`` the four + three parameters are fit on a seeded sample of
    customers (population parameters; the sampling error is negligible at that size) and
    everyone is scored. ``model``: score with this fitted model instead of fitting one;
    ``summary``: with it, the daily summary ``fit_clv`` returned (not computed again).
    """
    if model is None:
        model, summary = fit_clv(transactions, as_of, horizon_days, annual_discount_rate, penalizer,
                                 max_fit_customers, random_state)
    elif summary is None:
        summary = summary_from_transactions(transactions, as_of, freq="D")
    x, tx, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    clv, p_alive = model.value(x, tx, T, summary["monetary_value"].to_numpy(float))
    return pd.DataFrame(
        {
            "customer_id": summary.index.to_numpy(),
            "clv": clv,
            "p_alive": p_alive,
            "expected_purchases": model.models()[0].conditional_expected_purchases(model.horizon_days, x, tx, T),
        }
    )
