"""Customer features as of a cutoff, from the canonical customers and transactions tables.

Two steps, both vectorised (one groupby over transactions, no Python loop per customer):

- `clean_transactions` quarantines rows that cannot be trusted (bad amounts, bad dates,
  missing keys, duplicate ids) with a reason, so nothing is silently dropped.
- `build_features` turns the clean rows into one row per customer: recency, frequency,
  monetary value, tenure, inter-purchase time and the configured CRM attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

TRANSACTION_COLUMNS = ("transaction_id", "customer_id", "occurred_at", "amount", "source")
BEHAVIOUR_COLUMNS = (
    "recency_days",
    "frequency",
    "monetary_total",
    "monetary_mean",
    "tenure_days",
    "ipt_mean_days",
)
_DAY = pd.Timedelta(days=1)
DUPLICATE_REASON = "duplicate transaction_id"


@dataclass(frozen=True)
class Plausible:
    """Bounds of a believable purchase: ``max_amount``; ``latest`` and ``earliest`` (UTC) for the date.

    The caller sets ``latest`` from its clock (now plus a tolerance): one purchase dated 2099
    would otherwise become "as of" for every customer. None means unbounded."""

    max_amount: float | None = None
    latest: pd.Timestamp | None = None
    earliest: pd.Timestamp | None = None


def clean_transactions(
    transactions: pd.DataFrame, plausible: Plausible | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split canonical transactions into (clean, rejected); every input row lands in one.

    Input columns: transaction_id, customer_id, occurred_at (UTC datetime or parseable text),
    amount (float, or anything), source (optional).
    clean: the same columns with customer_id as str, occurred_at as UTC datetime and amount
    as float >= 0 (within ``plausible``); for a repeated transaction_id the first row is kept.
    rejected: transaction_id, customer_id, reason (the first problem found, quoting the
    offending value, e.g. "amount is negative (-5.0)").
    """
    missing = [c for c in TRANSACTION_COLUMNS[:4] if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}")
    frame = transactions.reset_index(drop=True)
    when = _parse_dates(frame["occurred_at"])
    amount = _parse_amounts(frame["amount"])
    reason = _reasons(frame, when, amount, plausible or Plausible())
    ok = reason.isna().to_numpy()
    clean = frame.loc[ok].copy()
    clean["customer_id"] = clean["customer_id"].astype(str)
    clean["transaction_id"] = clean["transaction_id"].astype(str)
    clean["occurred_at"] = when[ok]
    clean["amount"] = amount[ok]
    rejected = pd.DataFrame(
        {
            "transaction_id": frame.loc[~ok, "transaction_id"],
            "customer_id": frame.loc[~ok, "customer_id"],
            "reason": reason[~ok],
        }
    )
    return clean.reset_index(drop=True), rejected.reset_index(drop=True)


def _parse_dates(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC")
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed")


def _parse_amounts(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        return values.astype("float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _reasons(frame: pd.DataFrame, when: pd.Series, amount: pd.Series, plausible: Plausible) -> pd.Series:
    """First reason per row (None when the row is fine); text is built only for bad rows."""
    reason = row_reasons(frame, when, amount, plausible)
    # Duplicates are judged among rows that passed the other checks: the first one is kept.
    ok = reason.isna().to_numpy()
    dup = np.zeros(len(frame), dtype=bool)
    dup[ok] = frame.loc[ok, "transaction_id"].astype(str).duplicated(keep="first").to_numpy()
    if dup.any():
        reason[dup] = DUPLICATE_REASON
    return reason


def parse_transaction_values(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(occurred_at as UTC datetimes, amount as float) of raw canonical rows; NaT/NaN where unparseable."""
    return _parse_dates(frame["occurred_at"]), _parse_amounts(frame["amount"])


def row_reasons(frame: pd.DataFrame, when: pd.Series, amount: pd.Series, plausible: Plausible) -> pd.Series:
    """The checks that look at one row only (everything but duplicates): the first reason per
    row, None when the row is fine. A cluster engine runs them on each partition as they are.
    ``when`` and ``amount`` come from ``parse_transaction_values``."""
    reason = pd.Series(None, index=frame.index, dtype=object)
    raw_amount, raw_when = frame["amount"], frame["occurred_at"]
    checks = [
        (frame["transaction_id"].isna(), lambda i: "missing transaction_id"),
        (
            frame["customer_id"].isna() | (frame["customer_id"].astype(str).str.strip() == ""),
            lambda i: "missing customer_id",
        ),
        (raw_when.isna(), lambda i: "missing occurred_at"),
        (when.isna(), lambda i: f"occurred_at is not a date ({raw_when[i]!r})"),
        (raw_amount.isna(), lambda i: "missing amount"),
        (amount.isna(), lambda i: f"amount is not a number ({raw_amount[i]!r})"),
        (~np.isfinite(amount.fillna(0.0)), lambda i: f"amount is not finite ({amount[i]})"),
        (amount < 0, lambda i: f"amount is negative ({amount[i]})"),
        *_bounds(when, amount, plausible),
    ]
    for bad, describe in checks:
        new = bad.to_numpy() & reason.isna().to_numpy()
        if new.any():
            reason[new] = [describe(i) for i in frame.index[new]]
    return reason


def _bounds(when: pd.Series, amount: pd.Series, p: Plausible) -> list[tuple[pd.Series, Callable[[int], str]]]:
    checks: list[tuple[pd.Series, Callable[[int], str]]] = []
    if p.max_amount is not None:
        top = p.max_amount
        checks.append((amount > top, lambda i: f"amount is implausibly large ({amount[i]:.6g} > quarantine.max_amount {top:g})"))
    if p.latest is not None:
        late = pd.Timestamp(p.latest)
        checks.append((when > late, lambda i: f"occurred_at is in the future ({when[i]:%Y-%m-%d} is after {late:%Y-%m-%d})"))
    if p.earliest is not None:
        early = pd.Timestamp(p.earliest)
        checks.append((when < early, lambda i: f"occurred_at is implausibly early ({when[i]:%Y-%m-%d} is before {early:%Y-%m-%d})"))
    return checks


def build_features(
    customers: pd.DataFrame | None,
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    attributes: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per customer as of `cutoff`, indexed by customer_id (str), sorted.

    `transactions` must be clean (see `clean_transactions`); only rows with
    occurred_at <= cutoff count. `customers` (customer_id, email, created_at, attribute
    columns) may be None; customers created after the cutoff with no purchase are left out.

    Columns:
    - recency_days: days from the last purchase to the cutoff; from created_at when the
      customer never bought (NaN when neither is known).
    - frequency: number of purchases (0 for customers who never bought).
    - monetary_total, monetary_mean: sum and mean purchase amount (0.0 without purchases).
    - tenure_days: days from the first purchase (created_at without purchases) to the cutoff.
    - ipt_mean_days: mean days between consecutive purchases (NaN below two purchases).
    - each configured attribute, numeric or categorical, as given in `customers`.
    """
    cutoff = _utc(cutoff)
    behaviour = _behaviour(transactions, cutoff)
    if customers is None:
        if attributes:
            raise ValueError(f"attributes {list(attributes)} need a customers table")
        return behaviour.sort_index()
    table = _customers_as_of(customers, cutoff, attributes)
    ids = table.index.union(behaviour.index)
    out = behaviour.reindex(ids)
    out["frequency"] = out["frequency"].fillna(0).astype("int64")
    out[["monetary_total", "monetary_mean"]] = out[["monetary_total", "monetary_mean"]].fillna(0.0)
    if "created_at" in table.columns:
        since_created = (cutoff - table["created_at"].reindex(ids)) / _DAY
        never = out["frequency"].to_numpy() == 0
        out.loc[never, "recency_days"] = since_created[never]
        out.loc[never, "tenure_days"] = since_created[never]
    for name in attributes:
        out[name] = table[name].reindex(ids)
    out.index.name = "customer_id"
    return out.sort_index()


def _utc(cutoff: pd.Timestamp | str) -> pd.Timestamp:
    stamp = pd.Timestamp(cutoff)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _behaviour(transactions: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "occurred_at", "amount") if c not in transactions.columns]
    if missing:
        raise ValueError(f"transactions are missing column(s) {missing}")
    when = _parse_dates(transactions["occurred_at"])
    keep = (when <= cutoff).to_numpy()
    if when[keep].isna().any() or transactions["amount"][keep].isna().any():
        raise ValueError(
            "transactions contain missing dates or amounts; run clean_transactions first"
        )
    rows = transactions if keep.all() else transactions[keep]  # skip a 10M-row copy if we can
    when = when if keep.all() else when[keep]
    # Float days relative to the cutoff (<= 0): every aggregate is then a plain reduction over
    # integer customer codes (bincount, ufunc.at), several times faster than a groupby on the
    # id strings; a categorical customer_id (train_and_score passes one) is not even factorised.
    day = ((when - cutoff) / _DAY).to_numpy(dtype="float64")
    amount = rows["amount"].to_numpy(dtype="float64")
    codes, ids = _customer_codes(rows["customer_id"])
    m = len(ids)
    n = np.bincount(codes, minlength=m)
    total = np.bincount(codes, weights=amount, minlength=m)
    last = np.full(m, -np.inf)
    first = np.full(m, np.inf)
    np.maximum.at(last, codes, day)
    np.minimum.at(first, codes, day)
    seen = n > 0
    n, total, last, first = n[seen], total[seen], last[seen], first[seen]
    with np.errstate(divide="ignore", invalid="ignore"):
        ipt = np.where(n >= 2, (last - first) / (n - 1), np.nan)
    out = pd.DataFrame(
        {
            "recency_days": -last,
            "frequency": n.astype("int64"),
            "monetary_total": total,
            "monetary_mean": total / np.maximum(n, 1),
            "tenure_days": -first,
            "ipt_mean_days": ipt,
        },
        index=pd.Index(ids[seen], name="customer_id", dtype=str),
    )
    return out.sort_index()


def _customer_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(integer code per row, customer id per code) for the customer_id column."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.codes.to_numpy(dtype="int64"), ids.cat.categories.astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(ids.astype(str), sort=False)
    return codes.astype("int64", copy=False), np.asarray(uniques, dtype=object)


def _customers_as_of(
    customers: pd.DataFrame, cutoff: pd.Timestamp, attributes: Sequence[str]
) -> pd.DataFrame:
    if "customer_id" not in customers.columns:
        raise ValueError("customers table has no customer_id column")
    absent = [a for a in attributes if a not in customers.columns]
    if absent:
        raise ValueError(f"configured attribute(s) {absent} are not columns of the customers table")
    table = customers.drop_duplicates("customer_id", keep="last").copy()
    table["customer_id"] = table["customer_id"].astype(str)
    table = table.set_index("customer_id")
    if "created_at" in table.columns:
        table["created_at"] = _parse_dates(table["created_at"])
        table = table[~(table["created_at"] > cutoff)]
    return table
