"""Exact per-customer feature contributions to a model's log-odds, without the shap package.

- Linear models: ``coef_j * (x_j - mean_j)``, the exact Shapley value of a linear model with
  independent features.
- Gradient-boosted trees (scikit-learn ``HistGradientBoostingClassifier``): the exact
  path-dependent TreeSHAP values of Lundberg et al. (2020, "From local explanations to global
  understanding with explainable AI for trees", Algorithm 1's conditional expectation).

How the tree part works: under the path-dependent game, leaf l contributes
``v_l * prod_{j in S} o_j(x) * prod_{j not in S} z_j`` to E[f | x_S], where for each distinct
feature j on the path, o_j(x) is 1 when x satisfies every split on j along the path and z_j
is the product of the cover fractions of those splits. A product game has closed-form
Shapley values that depend on x only through the bit pattern (o_j), so each leaf gets a small
table of 2^d rows (d = distinct features on its path) computed once; scoring a customer is
then a table lookup per leaf. Contributions sum exactly to margin(x) - expected margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial

import numpy as np


@dataclass(frozen=True)
class _Leaf:
    features: np.ndarray  # distinct encoded feature indices on the path
    conditions: tuple[tuple[tuple[int, bool], ...], ...]  # per feature: (node, went left)
    table: np.ndarray  # (2^d, d) Shapley contribution per bit pattern


def linear_contributions(coef: np.ndarray, centred: np.ndarray) -> np.ndarray:
    """Contribution of each column to the log-odds; ``centred`` is X minus the training mean."""
    return centred * np.asarray(coef, dtype=float).ravel()[None, :]


def _product_game_table(value: float, zero: np.ndarray) -> np.ndarray:
    """Shapley values of v(S) = value * prod_S o_j * prod_{not S} z_j for every pattern o.

    phi_i = value * (o_i - z_i) * sum_m w_m c_m, where c_m is the coefficient of t^m in
    prod_{j != i} (z_j + o_j t) and w_m = m! (d-m-1)! / d!; all 2^d patterns at once.
    """
    d = len(zero)
    weights = np.array([factorial(m) * factorial(d - m - 1) / factorial(d) for m in range(d)])
    ones = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(float)
    table = np.zeros((2**d, d))
    for i in range(d):
        poly = np.zeros((2**d, d))
        poly[:, 0] = 1.0
        for j in range(d):
            if j != i:  # multiply by (z_j + o_j t), column m holds the coefficient of t^m
                poly[:, 1:] = poly[:, 1:] * zero[j] + poly[:, :-1] * ones[:, j : j + 1]
                poly[:, 0] *= zero[j]
        table[:, i] = value * (ones[:, i] - zero[i]) * (poly @ weights)
    return table


def _leaves(nodes: np.ndarray) -> list[_Leaf]:
    """Walk one tree (HistGradientBoosting node array) and tabulate every leaf."""
    out: list[_Leaf] = []
    stack: list[tuple[int, list[tuple[int, int, bool, float]]]] = [(0, [])]
    while stack:
        index, path = stack.pop()
        node = nodes[index]
        if node["is_leaf"]:
            features = sorted({f for _, f, _, _ in path})
            zero = np.array([np.prod([fr for _, f, _, fr in path if f == g]) for g in features])
            conditions = tuple(
                tuple((n, left) for n, f, left, _ in path if f == g) for g in features
            )
            table = _product_game_table(float(node["value"]), zero)
            out.append(_Leaf(np.asarray(features, dtype=np.int64), conditions, table))
            continue
        if node["is_categorical"]:
            raise ValueError("categorical splits are not supported; one-hot encode instead")
        parent, feature = float(node["count"]), int(node["feature_idx"])
        for child, left in ((int(node["left"]), True), (int(node["right"]), False)):
            fraction = float(nodes[child]["count"]) / parent
            stack.append((child, [*path, (index, feature, left, fraction)]))
    return out


@dataclass(frozen=True)
class _Tree:
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    leaves: list[_Leaf]
    used: np.ndarray  # distinct features the tree splits on
    cuts: tuple[np.ndarray, ...]  # sorted distinct thresholds per used feature
    strides: np.ndarray  # mixed-radix strides of the cell index
    cells: np.ndarray | None  # (cells, len(used)) contributions, None when there are too many
    expected: float  # cover-weighted mean leaf value
    values: np.ndarray | None  # leaf value of each cell (= expected + the cell's contributions)


# A tree splits feature space into a grid of cells (one bin per used feature between its
# thresholds); contributions are constant within a cell. When the grid is small, tabulate it
# once and score each customer with one lookup per tree instead of one per leaf.
MAX_CELLS = 1 << 16


def _leaf_pattern_contributions(tree: _Tree, X: np.ndarray) -> np.ndarray:
    """One tree's contributions for every row of X, leaf by leaf (handles NaN)."""
    phi = np.zeros_like(X)
    go_left: dict[int, np.ndarray] = {}
    for leaf in tree.leaves:
        pattern = np.zeros(len(X), dtype=np.int64)
        for k, conditions in enumerate(leaf.conditions):
            ok = np.ones(len(X), dtype=bool)
            for node, left in conditions:
                if node not in go_left:
                    column = X[:, tree.feature[node]]
                    go_left[node] = np.where(np.isnan(column), tree.missing_left[node], column <= tree.threshold[node])
                ok &= go_left[node] if left else ~go_left[node]
            pattern |= ok.astype(np.int64) << k
        phi[:, leaf.features] += leaf.table[pattern]
    return phi


def _tree(nodes: np.ndarray, n_features: int) -> _Tree:
    internal = ~nodes["is_leaf"].astype(bool)
    feature, threshold = nodes["feature_idx"].copy(), nodes["num_threshold"].copy()
    used = np.unique(feature[internal])
    cuts = tuple(np.unique(threshold[internal & (feature == f)]) for f in used)
    sizes = np.array([len(c) + 1 for c in cuts], dtype=np.int64)
    strides = np.array([int(np.prod(sizes[k + 1:])) for k in range(len(sizes))], dtype=np.int64)
    leaf = nodes["is_leaf"].astype(bool)
    expected = float(np.sum(nodes["value"][leaf] * nodes["count"][leaf]) / nodes["count"][0])
    tree = _Tree(feature, threshold, nodes["missing_go_to_left"].astype(bool), _leaves(nodes), used, cuts,
                 strides, None, expected, None)
    if np.prod(sizes) > MAX_CELLS:
        return tree
    bins = np.indices(tuple(sizes)).reshape(len(sizes), -1).T  # every cell, in stride order
    representatives = np.zeros((len(bins), n_features))
    for k, f in enumerate(used):
        # bin b holds cuts[b-1] < x <= cuts[b]; cuts[b] itself (or +inf past the last) lies in it.
        representatives[:, f] = np.append(cuts[k], np.inf)[bins[:, k]]
    cells = _leaf_pattern_contributions(tree, representatives)[:, used]
    return _Tree(feature, threshold, tree.missing_left, tree.leaves, used, cuts, strides, cells, expected,
                 expected + cells.sum(axis=1))


class TreeExplainer:
    """Exact path-dependent TreeSHAP for a fitted binary ``HistGradientBoostingClassifier``.

    ``expected_value_`` is the margin's expectation over the training covers; the rows of
    ``contributions(X)`` add up to ``decision_function(X) - expected_value_``.
    """

    def __init__(self, model) -> None:
        predictors = getattr(model, "_predictors", None)
        if predictors is None:
            raise TypeError("TreeExplainer needs a fitted HistGradientBoostingClassifier")
        if len(predictors[0]) != 1:
            raise ValueError("only binary classifiers are supported")
        self.n_features_ = int(model.n_features_in_)
        self.trees_ = [_tree(predictor.nodes, self.n_features_) for (predictor,) in predictors]
        # Every tree's thresholds come from the model's per-feature bin edges: bin each column
        # once per batch, then map global bins to each tree's cell index with a lookup table.
        self.edges_ = {
            int(f): np.unique(np.concatenate([t.cuts[k] for t in self.trees_ for k in np.flatnonzero(t.used == f)]))
            for f in np.unique(np.concatenate([t.used for t in self.trees_]))
        }
        self.lookups_ = [
            [np.searchsorted(t.cuts[k], np.append(self.edges_[int(f)], np.inf), side="left") * t.strides[k]
             for k, f in enumerate(t.used)]
            for t in self.trees_
        ]
        self.baseline_ = float(np.ravel(model._baseline_prediction)[0])
        self.expected_value_ = self.baseline_ + sum(t.expected for t in self.trees_)

    def margin(self, X: np.ndarray, batch_size: int = 262144) -> np.ndarray:
        """The model's raw log-odds (``decision_function``), one cell lookup per tree."""
        X = self._check(X)
        out = np.empty(len(X))
        for start in range(0, len(X), batch_size):
            out[start:start + batch_size] = self._walk(X[start:start + batch_size], margin=True)[0]
        return out

    def contributions(self, X: np.ndarray, batch_size: int = 262144) -> np.ndarray:
        X = self._check(X)
        out = np.zeros_like(X)
        for start in range(0, len(X), batch_size):
            out[start:start + batch_size] = self._walk(X[start:start + batch_size], margin=False)[1].T
        return out

    def contributions_row(self, x: np.ndarray) -> np.ndarray:
        """``contributions`` of one row (1-D), tree by tree with scalar look-ups: for one customer
        the batch walk's per-tree array calls cost more than the arithmetic (same sums, same order)."""
        x = self._check(np.asarray(x, dtype=float)[None, :])[0]
        phi = np.zeros(len(x))
        bins = {f: int(np.searchsorted(edges, x[f], side="left")) for f, edges in self.edges_.items()}
        nan = np.isnan(x)
        for tree, lookups in zip(self.trees_, self.lookups_, strict=True):
            if tree.cells is None or nan[tree.used].any():
                phi += _leaf_pattern_contributions(tree, x[None, :])[0]
                continue
            cell = 0
            for lookup, f in zip(lookups, tree.used, strict=True):
                cell += int(lookup[bins[int(f)]])
            phi[tree.used] += tree.cells[cell]
        return phi

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ValueError(f"X must have {self.n_features_} columns, got shape {X.shape}")
        return X

    def _walk(self, X: np.ndarray, margin: bool) -> tuple[np.ndarray, np.ndarray]:
        """(margin, contributions by column) of a batch; only the one asked for is filled."""
        columns = np.ascontiguousarray(X.T)
        total, phi = np.full(len(X), self.baseline_), np.zeros((0, 0) if margin else columns.shape)
        has_nan = np.isnan(columns).any(axis=1)
        bins = {f: np.searchsorted(edges, columns[f], side="left") for f, edges in self.edges_.items()}
        for tree, lookups in zip(self.trees_, self.lookups_, strict=True):
            if tree.cells is None or tree.values is None or has_nan[tree.used].any():
                slow = _leaf_pattern_contributions(tree, X)
                if margin:
                    total += tree.expected + slow.sum(axis=1)
                else:
                    phi += slow.T
                continue
            cell = np.zeros(len(X), dtype=np.int64)
            for lookup, f in zip(lookups, tree.used, strict=True):
                cell += np.take(lookup, bins[int(f)])
            if margin:
                total += np.take(tree.values, cell)
            else:
                for k, f in enumerate(tree.used):
                    phi[f] += np.take(tree.cells[:, k], cell)
        return total, phi
