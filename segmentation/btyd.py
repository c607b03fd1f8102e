"""Buy-till-you-die models: BG/NBD purchase counts and Gamma-Gamma spend, by maximum likelihood.

Notation follows Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing
Science 24(2) (BG/NBD), and "RFM and CLV: using iso-value curves", JMR 42(4) (Gamma-Gamma):

- ``frequency`` (x): number of *repeat* purchase days in the calibration period;
- ``recency`` (t_x): time of the last purchase, measured from the customer's first purchase;
- ``T``: time from the first purchase to the end of the calibration period;
- ``monetary_value`` (zbar): mean value of the repeat purchases (0 when x = 0).

Time is in whatever unit the summary used (see :mod:`segmentation.purchase_summary`); the
models are unit-agnostic except that alpha and gamma scale with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

ArrayLike = Any


def _as_float(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains missing or infinite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def _check_fitted(model: Any) -> None:
    if not hasattr(model, "params_"):
        raise RuntimeError(f"{type(model).__name__} is not fitted yet; call fit() first")


def _maximise(neg_ll, x0: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
    """Minimise a negative log-likelihood over log-parameters (keeps every parameter > 0)."""
    result = optimize.minimize(
        neg_ll, x0, jac=True, method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * len(x0), options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-8},
    )
    if not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"maximum likelihood did not converge: {result.message}")
    return np.asarray(result.x)


class BGNBD:
    """Beta-geometric / negative binomial model of repeat purchasing (non-contractual).

    Learned attributes: ``params_`` (dict r, alpha, a, b), ``log_likelihood_`` (the paper's
    log-likelihood summed over customers, eq. 6, not a rescaled one) and ``n_customers_``.
    ``penalizer`` adds ``penalizer * sum(theta**2)`` to the objective, the usual remedy when
    sparse real data drives a or b to the bounds (lifetimes#419); 0 gives the plain MLE.
    """

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-12, max_iter: int = 2000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    # -- likelihood ---------------------------------------------------------------------
    @staticmethod
    def _terms(theta: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray):
        r, alpha, a, b = theta
        repeat = x > 0
        a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        a2 = (special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b)
              - special.gammaln(a + b + x))
        a3 = -(r + x) * np.log(alpha + T)
        # b + x - 1 may be <= 0 when x = 0; that term is absent for those customers.
        safe = np.where(repeat, b + x - 1.0, 1.0)
        a4 = np.where(repeat, np.log(a) - np.log(safe) - (r + x) * np.log(alpha + tx), -np.inf)
        return a1, a2, a3, a4, safe

    @classmethod
    def _log_likelihood(cls, theta, x, tx, T, w) -> tuple[float, np.ndarray]:
        r, alpha, a, b = theta
        a1, a2, a3, a4, safe = cls._terms(theta, x, tx, T)
        m = np.logaddexp(a3, a4)
        w3, w4 = np.exp(a3 - m), np.exp(a4 - m)
        ll = float(np.sum(w * (a1 + a2 + m)))
        d_r = special.digamma(r + x) - special.digamma(r) + np.log(alpha) \
            - w3 * np.log(alpha + T) - w4 * np.log(alpha + tx)
        d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + tx)
        d_a = special.digamma(a + b) - special.digamma(a + b + x) + w4 / a
        d_b = (special.digamma(a + b) + special.digamma(b + x) - special.digamma(b)
               - special.digamma(a + b + x) - w4 / safe)
        grad = np.array([np.sum(w * d) for d in (d_r, d_alpha, d_a, d_b)])
        return ll, grad

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BGNBD:
        """Fit on one row per customer (x, t_x, T)."""
        x, tx, T_ = (_as_float(v, n) for v, n in ((frequency, "frequency"), (recency, "recency"), (T, "T")))
        if not (len(x) == len(tx) == len(T_)) or len(x) == 0:
            raise ValueError("frequency, recency and T must be non-empty and of equal length")
        # Identical (x, t_x, T) rows share a likelihood term: fit on the unique rows, weighted.
        rows, counts = np.unique(np.column_stack([x, tx, T_]), axis=0, return_counts=True)
        return self.fit_counts(rows[:, 0], rows[:, 1], rows[:, 2], counts)

    def fit_counts(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike, counts: ArrayLike) -> BGNBD:
        """Fit on sufficient statistics: each row a distinct (x, t_x, T) and ``counts`` the number
        of customers who share it. The likelihood is the count-weighted sum of the rows' terms, so
        this equals ``fit`` on the customers themselves (a cluster engine aggregates the counts)."""
        ux, utx, uT, w = (_as_float(v, n) for v, n in
                          ((frequency, "frequency"), (recency, "recency"), (T, "T"), (counts, "counts")))
        if not (len(ux) == len(utx) == len(uT) == len(w)) or len(ux) == 0:
            raise ValueError("frequency, recency, T and counts must be non-empty and of equal length")
        if np.any(utx > uT + 1e-9) or np.any((ux > 0) & (utx <= 0)):
            raise ValueError("recency must lie in (0, T] for repeat buyers")
        pen = self.penalizer

        def neg_ll(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = self._log_likelihood(theta, ux, utx, uT, w)
            value = -ll + pen * np.sum(theta**2)
            return value, (-grad + 2 * pen * theta) * theta

        mean_T = float(np.sum(w * uT) / max(float(np.sum(w)), 1e-12))
        x0 = np.log([1.0, max(mean_T, 1e-3), 1.0, 1.0])
        theta = np.exp(_maximise(neg_ll, x0, self.tol, self.max_iter))
        self.params_ = dict(zip(("r", "alpha", "a", "b"), (float(v) for v in theta), strict=True))
        self.log_likelihood_ = self._log_likelihood(theta, ux, utx, uT, w)[0]
        self.n_customers_ = int(round(float(np.sum(w))))
        return self

    # -- predictions --------------------------------------------------------------------
    def _theta(self) -> tuple[float, float, float, float]:
        _check_fitted(self)
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def expected_purchases(self, t: ArrayLike) -> np.ndarray:
        """E[X(t)]: expected repeat purchases of a new customer in (0, t] (paper eq. 9)."""
        r, alpha, a, b = self._theta()
        t = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
        return (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp)

    def p_purchases(self, n: int, t: float) -> float:
        """P(X(t) = n) for a new customer (paper eq. 8)."""
        r, alpha, a, b = self._theta()
        ln_beta = special.betaln(a, b)
        head = np.exp(special.betaln(a, b + n) - ln_beta + special.gammaln(r + n) - special.gammaln(r)
                      - special.gammaln(n + 1) + r * np.log(alpha / (alpha + t)) + n * np.log(t / (alpha + t)))
        if n == 0:
            return float(head)
        j = np.arange(n)
        partial = np.sum(np.exp(special.gammaln(r + j) - special.gammaln(r) - special.gammaln(j + 1)
                                + j * np.log(t / (alpha + t))))
        tail = np.exp(special.betaln(a + 1, b + n - 1) - ln_beta) * (1 - (alpha / (alpha + t)) ** r * partial)
        return float(head + tail)

    def _dropout_odds(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._theta()
        safe = np.where(x > 0, b + x - 1.0, 1.0)
        odds = a / safe * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + tx)))
        return np.where(x > 0, odds, 0.0)

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(still active at T | x, t_x, T) (paper eq. 11 rearranged); 1 for x = 0."""
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        return 1.0 / (1.0 + self._dropout_odds(x, tx, T_))

    def p_any_purchase(self, t: float, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> np.ndarray:
        """P(at least one purchase in (T, T + t] | x, t_x, T).

        Alive at T, the posterior purchase rate is Gamma(r + x, alpha + T), and a BG/NBD customer
        can only drop out right after a purchase, so P(none | alive) = ((alpha+T)/(alpha+T+t))^(r+x).
        """
        r, alpha, _, _ = self._theta()
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        none_if_alive = np.exp((r + x) * (np.log(alpha + T_) - np.log(alpha + T_ + t)))
        return self.p_alive(x, tx, T_) * (1.0 - none_if_alive)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t] (paper eq. 10)."""
        r, alpha, a, b = self._theta()
        x, tx, T_ = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
        t = np.asarray(t, dtype=float)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + T_ + t))
        body = 1.0 - np.exp((r + x) * (np.log(alpha + T_) - np.log(alpha + T_ + t))) * hyp
        return (a + b + x - 1.0) / (a - 1.0) * body / (1.0 + self._dropout_odds(x, tx, T_))


class GammaGamma:
    """Gamma-Gamma model of the mean spend per repeat purchase (fit on customers with x > 0).

    Learned attributes: ``params_`` (dict p, q, gamma), ``log_likelihood_``, ``n_customers_``.
    The model assumes spend is independent of purchase frequency; check that before use.
    """

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-12, max_iter: int = 2000) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter

    @staticmethod
    def _log_likelihood(theta, x, z, w=1.0) -> tuple[float, np.ndarray]:
        p, q, g = theta
        px = p * x
        ll = (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(g)
              + (px - 1) * np.log(z) + px * np.log(x) - (px + q) * np.log(g + x * z))
        d_p = x * (special.digamma(px + q) - special.digamma(px) + np.log(z) + np.log(x) - np.log(g + x * z))
        d_q = special.digamma(px + q) - special.digamma(q) + np.log(g) - np.log(g + x * z)
        d_g = q / g - (px + q) / (g + x * z)
        return float(np.sum(w * ll)), np.array([np.sum(w * d_p), np.sum(w * d_q), np.sum(w * d_g)])

    def fit(self, frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGamma:
        """Fit on the rows with frequency > 0; rows with frequency 0 carry no spend and are skipped."""
        x, z = _as_float(frequency, "frequency"), _as_float(monetary_value, "monetary_value")
        if len(x) != len(z):
            raise ValueError("frequency and monetary_value must have equal length")
        return self.fit_counts(x, z, np.ones(len(x)))

    def fit_counts(self, frequency: ArrayLike, monetary_value: ArrayLike, counts: ArrayLike) -> GammaGamma:
        """Fit on sufficient statistics: each row a distinct (x, zbar) pair and ``counts`` the
        customers who share it (the likelihood is count-weighted, so this equals ``fit`` on the
        customers). Spend is continuous, so pairs are only as few as amounts repeat; rows with
        x = 0 are skipped."""
        x, z, w = (_as_float(v, n) for v, n in
                   ((frequency, "frequency"), (monetary_value, "monetary_value"), (counts, "counts")))
        if not len(x) == len(z) == len(w):
            raise ValueError("frequency, monetary_value and counts must have equal length")
        keep = (x > 0) & (w > 0)
        if np.any(keep & (z <= 0)):
            raise ValueError("monetary_value must be > 0 for every customer with frequency > 0")
        x, z, w = x[keep], z[keep], w[keep]
        if float(np.sum(w)) < 3:
            raise ValueError("Gamma-Gamma needs at least 3 customers with repeat purchases")
        pen = self.penalizer

        def neg_ll(log_theta: np.ndarray) -> tuple[float, np.ndarray]:
            theta = np.exp(log_theta)
            ll, grad = self._log_likelihood(theta, x, z, w)
            return -ll + pen * np.sum(theta**2), (-grad + 2 * pen * theta) * theta

        x0 = np.log([1.0, 2.0, max(float(np.sum(w * z) / np.sum(w)), 1e-3)])
        theta = np.exp(_maximise(neg_ll, x0, self.tol, self.max_iter))
        self.params_ = dict(zip(("p", "q", "gamma"), (float(v) for v in theta), strict=True))
        self.log_likelihood_ = self._log_likelihood(theta, x, z, w)[0]
        self.n_customers_ = int(round(float(np.sum(w))))
        return self

    def conditional_expected_average_profit(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> np.ndarray:
        """E[Z | x, zbar]: a weighted mean of the population mean and the customer's own mean.

        Customers with x = 0 get the population mean p*gamma/(q-1) (infinite if q <= 1).
        """
        _check_fitted(self)
        p, q, g = self.params_["p"], self.params_["q"], self.params_["gamma"]
        x, z = np.asarray(frequency, dtype=float), np.asarray(monetary_value, dtype=float)
        with np.errstate(divide="ignore"):
            population = p * g / (q - 1.0) if q > 1 else np.inf
        own = (p * (g + x * z)) / (p * x + q - 1.0)
        return np.where(x > 0, own, population)
