"""How far re-ranking can take the offers: the share of what customers went on to buy that a
candidate set holds, and the best precision@k any ordering of that set could score.

These read the truth, so they bound a method rather than score one: if the ranker's candidates
held few of the products bought next, no model over them could do well (a recall problem); if
they hold most of them, what is missing is the ordering. Used by benchmarks/bench_offer_headroom.py
to say why a precision target is or is not reachable on a data set.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmentation.purchases import lookup


def candidate_recall(sets: Mapping[str, np.ndarray | sp.csr_matrix], truth: sp.csr_matrix, k: int = 3) -> pd.DataFrame:
    """One row per candidate set (index: its name): recall, the share of the (customer, product)
    purchases in `truth` that the set holds; best_precision_at_k, the mean over customers of
    min(k, purchases in the set) / k (a short list still counts k slots); mean_size, candidates
    per customer.

    sets: name -> (n, m) catalog positions per customer (-1 none), or an (n, products) sparse
    matrix whose nonzeros are the set; truth: (n, products) nonzero where the customer bought the
    product in the window; rows aligned.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    truth = sp.csr_matrix(truth)
    bought = np.diff(truth.indptr)
    rows = []
    for name, chosen in sets.items():
        if chosen.shape[0] != truth.shape[0]:
            raise ValueError(f"candidate set {name!r} has {chosen.shape[0]} customers, the truth {truth.shape[0]}")
        held, size = _held(chosen, truth)
        rows.append({"set": name, "mean_size": float(size.mean()) if len(size) else np.nan,
                     "recall": held.sum() / max(bought.sum(), 1),
                     "best_precision_at_k": float(np.minimum(held, k).mean() / k) if len(held) else np.nan})
    return pd.DataFrame(rows).set_index("set")


def _held(chosen: np.ndarray | sp.csr_matrix, truth: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """(per customer: purchases in truth the set holds, the set's size)."""
    if sp.issparse(chosen):
        mask = sp.csr_matrix(chosen, dtype=bool).astype(np.int8)
        return np.asarray(mask.multiply(truth > 0).sum(axis=1)).ravel(), np.diff(mask.indptr)
    cand = np.asarray(chosen)
    n, m = cand.shape
    got = lookup(truth, np.repeat(np.arange(n), m), np.maximum(cand, 0).ravel()).reshape(n, m) > 0
    return (got & (cand >= 0)).sum(axis=1), (cand >= 0).sum(axis=1)
