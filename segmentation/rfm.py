"""RFM: quintile scores 1-5 and the named segments marketers know, as a transparent method.

Scores follow the usual convention (5 = best, recency reversed so 5 = most recent). Ties are
handled by scoring on the *minimum* rank of a tied group: equal values always get equal
scores, so one-time buyers (often half of a store) all get F = 1 instead of being spread
over several scores by arrival order, as `rank(method="first")` recipes do.

Segment names follow the 10-segment RF grid found in many public RFM recipes (R score
against F score; every one of the 25 cells has exactly one name, see reference/segmentation.md
section 3), with one refinement: the worst cell (R=1, F=1) is "Lost" rather than
"Hibernating". The 11-segment R-vs-mean(F,M) table was not used because, applied first
match wins, four of its names (New Customers, Promising, Can't Lose Them, Lost) can never
be reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (name, R scores, F scores); together the rows partition the 5 x 5 grid exactly.
RFM_SEGMENTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("Champions", (5,), (4, 5)),
    ("Loyal Customers", (3, 4), (4, 5)),
    ("Potential Loyalists", (4, 5), (2, 3)),
    ("New Customers", (5,), (1,)),
    ("Promising", (4,), (1,)),
    ("Need Attention", (3,), (3,)),
    ("About to Sleep", (3,), (1, 2)),
    ("Can't Lose Them", (1, 2), (5,)),
    ("At Risk", (1, 2), (3, 4)),
    ("Hibernating", (1, 2), (1, 2)),  # except (1, 1), which is Lost
    ("Lost", (1,), (1,)),
)
RFM_SEGMENT_NAMES = tuple(name for name, _, _ in RFM_SEGMENTS)
_GRID = np.empty((6, 6), dtype=object)
for _name, _rs, _fs in RFM_SEGMENTS:
    for _r in _rs:
        for _f in _fs:
            _GRID[_r, _f] = _name


def quintile_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """Score 1-5 by population quintile; ties share the score of their lowest rank.

    Missing values score 1 (worst). The score of a value depends only on the share of the
    population strictly worse than it, so it does not depend on row order.
    """
    n = len(values)
    if n == 0:
        return pd.Series([], index=values.index, dtype="int64")
    keyed = values if higher_is_better else -values
    rank = keyed.rank(method="min").where(values.notna(), 1.0)
    score = np.floor(5.0 * (rank.to_numpy() - 1.0) / n).astype("int64") + 1
    return pd.Series(np.clip(score, 1, 5), index=values.index, dtype="int64")


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """RFM scores and segment per customer.

    Input: features indexed by customer_id with recency_days, frequency, monetary_total.
    Output (same index): r_score, f_score, m_score (1-5), rfm_score ("R F M" digits, e.g.
    "555"), rfm_segment (one of RFM_SEGMENT_NAMES, from R and F).
    """
    missing = [c for c in ("recency_days", "frequency", "monetary_total") if c not in features]
    if missing:
        raise ValueError(f"RFM needs feature column(s) {missing}")
    r = quintile_scores(features["recency_days"], higher_is_better=False)
    f = quintile_scores(features["frequency"])
    m = quintile_scores(features["monetary_total"])
    out = pd.DataFrame({"r_score": r, "f_score": f, "m_score": m}, index=features.index)
    out["rfm_score"] = r.astype(str) + f.astype(str) + m.astype(str)
    out["rfm_segment"] = name_rfm(r.to_numpy(), f.to_numpy())
    return out


def name_rfm(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Segment name for each (R score, F score) pair, both 1-5."""
    return _GRID[np.asarray(r, dtype="int64"), np.asarray(f, dtype="int64")]
