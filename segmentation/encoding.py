"""Turn a customer feature frame into the numeric matrix the score models are fit on.

One encoding serves both model families: numbers are imputed (median, plus a missing flag
when the training data had gaps), non-negative ones are log1p-compressed (RFM values are
heavily right-skewed, which a linear model otherwise handles badly) and standardised; text
and categorical columns are one-hot encoded. Trees are indifferent to these monotone
transforms. ``groups_`` maps every encoded column back to its source feature so that
contributions can be summed per feature for reason codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class FeatureEncoder:
    """Fit on a feature frame (one row per customer); ``transform`` returns a float matrix.

    Learned: ``columns_`` (source features, in order), ``feature_names_out_`` (encoded names),
    ``groups_`` (source feature index of each encoded column), ``numeric_``,
    ``categories_`` (kept levels per categorical column).
    """

    def __init__(self, max_categories: int = 20) -> None:
        self.max_categories = max_categories

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        if frame.shape[1] == 0 or len(frame) == 0:
            raise ValueError("feature frame is empty")
        self.columns_ = [str(c) for c in frame.columns]
        self.numeric_: dict[str, dict[str, float | bool]] = {}
        self.categories_: dict[str, list[str]] = {}
        names, groups = [], []
        for index, column in enumerate(self.columns_):
            values = frame[column]
            if _is_numeric(values):
                stats = self._numeric_stats(values.astype(float))
                self.numeric_[column] = stats
                names.append(column)
                groups.append(index)
                if stats["flag"]:
                    names.append(f"{column}__missing")
                    groups.append(index)
            else:
                counts = values.astype(str).where(values.notna(), "(missing)").value_counts()
                kept = [str(c) for c in counts.index[: self.max_categories]]
                self.categories_[column] = kept
                names.extend(f"{column}={level}" for level in kept)
                groups.extend([index] * len(kept))
        self.feature_names_out_ = names
        self.groups_ = np.asarray(groups, dtype=np.int64)
        return self

    @staticmethod
    def _numeric_stats(values: pd.Series) -> dict[str, float | bool]:
        finite = values[np.isfinite(values)]
        median = float(finite.median()) if len(finite) else 0.0
        log = bool(len(finite) and finite.min() >= 0)
        filled = values.where(np.isfinite(values), median)
        shaped = np.log1p(filled) if log else filled
        scale = float(shaped.std(ddof=0))
        return {
            "median": median,
            "log": log,
            "flag": bool(len(finite) < len(values)),
            "mean": float(shaped.mean()),
            "scale": scale if scale > 0 else 1.0,
        }

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "columns_"):
            raise RuntimeError("FeatureEncoder is not fitted yet; call fit() first")
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise ValueError(f"feature frame lacks column(s) {missing} the model was trained on")
        blocks = []
        for column in self.columns_:
            values = frame[column]
            if column in self.numeric_:
                stats = self.numeric_[column]
                raw = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
                gap = ~np.isfinite(raw)
                filled = np.where(gap, stats["median"], raw)
                if stats["log"]:
                    filled = np.log1p(np.maximum(filled, 0.0))
                blocks.append(((filled - stats["mean"]) / stats["scale"])[:, None])
                if stats["flag"]:
                    blocks.append(gap.astype(float)[:, None])
            else:
                text = values.astype(str).where(values.notna(), "(missing)").to_numpy()
                levels = np.asarray(self.categories_[column], dtype=object)
                blocks.append((text[:, None] == levels[None, :]).astype(float))
        return np.hstack(blocks)


def _is_numeric(values: pd.Series) -> bool:
    return bool(
        pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)
    )
