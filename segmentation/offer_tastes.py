"""Latent tastes: a mixture of multinomials over products, fitted to who bought what.

Each customer belongs to one of `n_components` latent taste groups; a group buys product j with
probability theta[g, j]. EM (Dempster, Laird & Rubin 1977; for baskets, e.g. Hofmann's aspect
models) fits theta and the group shares from the customers x products purchase matrix; a
customer's posterior over the groups, given what they bought, then smooths their few purchases
into a taste over the whole catalogue: score[c, j] = sum_g P(g | c) theta[g, j]. When customers
do come from a few latent segments with their own tastes, this recovers them from behaviour
alone (the segment id is never needed), which a co-occurrence sum over one or two purchases
cannot. Sparse throughout: one iteration costs a sparse product with (products x groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

#: Taste groups: more than the few latent segments a population usually has (extra ones stay
#: small or split a segment, which costs little); iterations: EM converges in a few tens here.
N_COMPONENTS = 8
N_ITER = 30
#: Customers EM is fitted on: a random sample past this many (the groups' product distributions
#: are population averages, as well estimated from 100,000 customers as from a million, and
#: each iteration's cost is linear in customers).
MAX_FIT_CUSTOMERS = 100_000
#: Dirichlet smoothing of each group's product distribution (pseudo-purchases per product).
SMOOTHING = 0.1


@dataclass(frozen=True)
class TasteMixture:
    """theta: groups x products, each row a purchase distribution; log_prior: log group shares."""

    theta: np.ndarray
    log_prior: np.ndarray

    @classmethod
    def fit(cls, owned: sp.csr_matrix, n_components: int = N_COMPONENTS, n_iter: int = N_ITER,
            random_state: int = 0, max_customers: int | None = None) -> TasteMixture:
        """EM on `owned` (customers x products, 1 where bought); customers without purchases are
        ignored, and past `max_customers` (MAX_FIT_CUSTOMERS by default) a random sample of them
        is used. Deterministic for a random_state."""
        rows = np.flatnonzero(np.diff(owned.indptr) > 0)
        rng = np.random.default_rng(random_state)
        picked = taste_sample(len(rows), rng, max_customers)
        return cls.fit_sample(owned[rows if picked is None else rows[picked]], rng, n_components, n_iter)

    @classmethod
    def fit_sample(cls, owned: sp.csr_matrix, rng: np.random.Generator, n_components: int = N_COMPONENTS,
                   n_iter: int = N_ITER) -> TasteMixture:
        """EM on the rows `fit` chose (customers with a purchase, in order), continuing its `rng`:
        an engine that holds the customers in parts gathers just these rows (taste_sample)."""
        x = owned.astype(np.float64)
        n, p = x.shape
        if n == 0 or p == 0:
            return cls(np.full((1, max(p, 1)), 1.0 / max(p, 1)), np.zeros(1))
        resp = rng.dirichlet(np.ones(n_components), size=n)
        for _ in range(n_iter):
            theta, log_prior = _m_step(x, resp)
            resp = _posterior(x, np.log(theta), log_prior)
        theta, log_prior = _m_step(x, resp)
        return cls(theta.astype(np.float32), log_prior)

    def scores(self, owned: sp.csr_matrix) -> np.ndarray:
        """(customers, products): each customer's expected taste given what they bought (the
        population's mix of tastes for a customer with no purchases)."""
        post = _posterior(owned.astype(np.float64), np.log(self.theta.astype(np.float64)), self.log_prior)
        return (post @ self.theta).astype(np.float32)

    def scores_at(self, owned: sp.csr_matrix, products: np.ndarray) -> np.ndarray:
        """(customers, k): `scores` at each customer's `products` (customers x k catalog
        positions), without the dense customers x products matrix."""
        post = _posterior(owned.astype(np.float64), np.log(self.theta.astype(np.float64)), self.log_prior).astype(np.float32)
        return np.einsum("ng,gnk->nk", post, self.theta[:, products])


def taste_sample(buyers: int, rng: np.random.Generator, max_customers: int | None = None) -> np.ndarray | None:
    """Which of the `buyers` customers with a purchase (their ranks, in customer order, sorted) EM
    is fitted on: None for all of them, else a random `max_customers` (MAX_FIT_CUSTOMERS by
    default) drawn from `rng`."""
    max_customers = MAX_FIT_CUSTOMERS if max_customers is None else max_customers
    if buyers <= max_customers:
        return None
    return np.sort(rng.choice(buyers, max_customers, replace=False))


def _m_step(x: sp.csr_matrix, resp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray((x.T @ resp).T) + SMOOTHING
    theta = counts / counts.sum(axis=1, keepdims=True)
    share = resp.sum(axis=0) + 1e-9
    return theta, np.log(share / share.sum())


def _posterior(x: sp.csr_matrix, log_theta: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """P(group | customer's purchases), rows summing to one. Worked out groups x customers: a max
    or a sum over a handful of groups is then one pass over whole rows, several times faster
    than numpy's per-customer reduction over a short last axis (EM calls this 31 times a fit)."""
    log_post = np.ascontiguousarray(np.asarray(x @ log_theta.T).T)
    log_post += log_prior[:, None]
    log_post -= log_post.max(axis=0)
    post = np.exp(log_post, out=log_post)
    post /= _column_sums(post)
    return np.ascontiguousarray(post.T)


def _column_sums(a: np.ndarray) -> np.ndarray:
    """a.sum(axis=0) of a (groups, n) array, added in the order numpy's pairwise sum adds a row of
    up to 128 values (eight running sums, then ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the
    rest), so the posteriors are bit for bit those of the per-customer `sum(axis=1)` this
    replaced and the fitted ranker does not move."""
    g = len(a)
    if not 8 <= g <= 128:  # fewer: added in order, as numpy does (past 128 it recurses: not bit for bit)
        return a.sum(axis=0)
    r = a[:8].copy()
    for i in range(8, g - g % 8, 8):
        r += a[i:i + 8]
    out = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(g - g % 8, g):
        out += a[i]
    return out
