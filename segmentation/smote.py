"""SMOTE oversampling (Chawla et al. 2002), minimal: new minority rows on the segments between
a minority row and one of its k nearest minority neighbours.

Resampling distorts probabilities (van den Goorbergh et al. 2022), so scoring only uses it as
an extra candidate that is recalibrated and must beat the plain model out of time.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import NearestNeighbors


def smote(
    X: np.ndarray,
    y: np.ndarray,
    k_neighbors: int = 5,
    ratio: float = 1.0,
    random_state: int = 0,
    max_new: int = 1_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (X, y) with synthetic minority rows appended until minority/majority = ``ratio``
    (capped at ``max_new`` new rows). Binary y only; the minority is the rarer class."""
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=int)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) != 2:
        raise ValueError("SMOTE needs exactly two classes")
    minority = classes[np.argmin(counts)]
    source = X[y == minority]
    wanted = min(int(ratio * counts.max()) - counts.min(), max_new)
    if wanted <= 0 or len(source) < 2:
        return X, y
    rng = np.random.default_rng(random_state)
    k = min(k_neighbors, len(source) - 1)
    neighbours = (
        NearestNeighbors(n_neighbors=k + 1)
        .fit(source)
        .kneighbors(source, return_distance=False)[:, 1:]
    )
    base = rng.integers(0, len(source), size=wanted)
    partner = neighbours[base, rng.integers(0, k, size=wanted)]
    gap = rng.random((wanted, 1))
    synthetic = source[base] + gap * (source[partner] - source[base])
    return np.vstack([X, synthetic]), np.concatenate([y, np.full(wanted, minority)])
