"""The (frequency, recency, T, monetary value) summary that BG/NBD and Gamma-Gamma are fit on.

Purchases on the same UTC day are merged into one (their amounts summed), as in Fader, Hardie
& Lee (2005); time is then measured in whole days and divided by the unit (``freq``), so the
CDNOW summary in weeks matches the paper's (T = 38.86 weeks for a 1 January 1997 buyer).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

_UNIT_DAYS = {"D": 1.0, "W": 7.0}


def _day_number(values: pd.Series | pd.Timestamp) -> np.ndarray:
    """Days since 1970-01-01 of each UTC calendar day (naive stamps are taken as UTC)."""
    if isinstance(values, pd.Timestamp):
        values = pd.Series([values])
    stamps = pd.to_datetime(values, utc=True)
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[D]").astype(np.int64)


def _daily_purchases(transactions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(customer code, day number, amount) per customer-day, sorted, plus the customer ids."""
    missing = [c for c in ("customer_id", "occurred_at", "amount") if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}")
    if transactions["amount"].isna().any() or transactions["occurred_at"].isna().any():
        raise ValueError("transactions contain missing dates or amounts; run clean_transactions first")
    codes, ids = pd.factorize(transactions["customer_id"].astype(str))
    day = _day_number(transactions["occurred_at"])
    amount = transactions["amount"].to_numpy(dtype=float)
    order = np.lexsort((day, codes))
    codes, day, amount = codes[order], day[order], amount[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(codes) != 0) | (np.diff(day) != 0)])
    return codes[starts], day[starts], np.add.reduceat(amount, starts), np.asarray(ids)


def summary_from_transactions(
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp | str,
    observation_end: pd.Timestamp | str | None = None,
    freq: str = "W",
) -> pd.DataFrame:
    """Per-customer repeat-purchase summary, indexed by customer_id (str), sorted.

    ``transactions``: clean canonical rows with customer_id, occurred_at (UTC) and amount.
    Calibration covers every purchase day up to and including ``calibration_end``'s day;
    customers whose first purchase is later are left out. ``freq``: "W" (weeks) or "D" (days).

    Columns:
    - frequency: repeat purchase days in the calibration period (purchase days - 1);
    - recency: time from the first to the last calibration purchase day;
    - T: time from the first purchase day to ``calibration_end``;
    - monetary_value: mean amount of the repeat purchase days (0.0 when frequency is 0).

    With ``observation_end``, also the holdout (calibration_end, observation_end]:
    frequency_holdout (purchase days), monetary_value_holdout (their mean, 0.0 if none) and
    duration_holdout (its length in the same unit).
    """
    if freq not in _UNIT_DAYS:
        raise ValueError(f"freq must be one of {sorted(_UNIT_DAYS)}, got {freq!r}")
    unit = _UNIT_DAYS[freq]
    cal_end = int(_day_number(pd.Timestamp(calibration_end))[0])
    codes, day, amount, ids = _daily_purchases(transactions)
    n = len(ids)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, codes, day)
    in_cal = day <= cal_end
    count = np.bincount(codes[in_cal], minlength=n)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, codes[in_cal], day[in_cal])
    repeat = in_cal & (day != first[codes])
    repeat_total = np.bincount(codes[repeat], weights=amount[repeat], minlength=n)
    frequency = np.maximum(count - 1, 0)
    keep = first <= cal_end
    out = pd.DataFrame(
        {
            "frequency": frequency.astype(np.int64),
            "recency": np.where(keep, last - first, 0) / unit,
            "T": (cal_end - first) / unit,
            "monetary_value": np.where(frequency > 0, repeat_total / np.maximum(frequency, 1), 0.0),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    if observation_end is not None:
        obs_end = int(_day_number(pd.Timestamp(observation_end))[0])
        if obs_end <= cal_end:
            raise ValueError("observation_end must be after calibration_end")
        held = (day > cal_end) & (day <= obs_end)
        held_count = np.bincount(codes[held], minlength=n)
        held_total = np.bincount(codes[held], weights=amount[held], minlength=n)
        out["frequency_holdout"] = held_count.astype(np.int64)
        out["monetary_value_holdout"] = np.where(held_count > 0, held_total / np.maximum(held_count, 1), 0.0)
        out["duration_holdout"] = (obs_end - cal_end) / unit
    return out.loc[keep].sort_index()


def summary_of_one(occurred_at: Sequence[pd.Timestamp | str], amounts: Sequence[float],
                   calibration_end: pd.Timestamp | str) -> tuple[float, float, float, float] | None:
    """One customer's (frequency, recency, T, monetary_value) in days, as
    ``summary_from_transactions(..., freq="D")`` gives them; None without a purchase.

    For the real-time API's new customers: a purchase after ``calibration_end`` counts as made
    on its day (as segmentation.increment does for the features), so the fitted model values it
    on the same time axis as the population it was fit on.
    """
    if not len(occurred_at):
        return None
    # POSIX seconds // a day is the UTC calendar day (pandas reads a naive stamp as UTC)
    cal_end = int(pd.Timestamp(calibration_end).timestamp() // 86_400)
    days = np.minimum(np.array([pd.Timestamp(t).timestamp() // 86_400 for t in occurred_at], dtype=np.int64), cal_end)
    money = np.asarray(amounts, dtype=float)
    unique, where = np.unique(days, return_inverse=True)
    daily = np.bincount(where, weights=money)
    first, last = int(unique[0]), int(unique[-1])
    frequency = len(unique) - 1
    repeat_total = float(daily[1:].sum())
    return float(frequency), float(last - first), float(cal_end - first), repeat_total / frequency if frequency else 0.0


def add_purchases_to_summary(summary: tuple[float, float, float, float] | None, occurred_at: Sequence[pd.Timestamp | str],
                             amounts: Sequence[float], calibration_end: pd.Timestamp | str) -> tuple[float, float, float, float] | None:
    """One customer's (frequency, recency, T, monetary_value) in days after more purchases, from
    the ``summary_of_one`` summary alone (the real-time API holds a summary, not the history).

    Exactly what ``summary_of_one`` gives on the whole history when every new purchase falls on
    or after the last purchase day, as live purchases do (one after ``calibration_end`` counts as
    made on its day; T stays). The summary does not say which days before the last had a purchase:
    a back-dated one between the first and the last day is counted as a new purchase day, and one
    before the first day makes the old first day a repeat day worth the mean repeat amount (the new
    purchase's when there was none). ``summary`` None (no purchase yet): ``summary_of_one``.
    """
    if summary is None:
        return summary_of_one(occurred_at, amounts, calibration_end)
    if not len(occurred_at):
        return summary
    cal_end = int(pd.Timestamp(calibration_end).timestamp() // 86_400)
    days = np.minimum(np.array([pd.Timestamp(t).timestamp() // 86_400 for t in occurred_at], dtype=np.int64), cal_end)
    unique, where = np.unique(days, return_inverse=True)
    daily = np.bincount(where, weights=np.asarray(amounts, dtype=float))
    frequency, recency, T, mean = summary
    first = cal_end - round(T)
    last = first + round(recency)
    repeats, total = round(frequency), mean * frequency
    for day, amount in zip(unique.tolist(), daily.tolist(), strict=True):
        if day < first:
            repeats, total = repeats + 1, total + (mean if repeats else amount)
            first = day
        elif day > first and day != last:
            repeats, total = repeats + 1, total + amount
        elif day == last and last > first:
            total += amount
        last = max(last, day)
    return float(repeats), float(last - first), float(cal_end - first), total / repeats if repeats else 0.0
