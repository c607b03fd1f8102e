"""Canonical line items: which product each purchase was, quarantined with a reason when untrustworthy.

The line_items table (DESIGN.md): transaction_id, customer_id, occurred_at (UTC), product_id,
product_name, category, quantity, unit_price. `clean_line_items` splits it into rows the
offers model may learn from and rows it must not, each with the first problem found, so that
nothing is silently dropped: real retail exports carry cancellations (negative quantities),
lines without a customer, postage and fee codes that are not products, and zero prices.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

LINE_ITEM_COLUMNS = (
    "transaction_id",
    "customer_id",
    "occurred_at",
    "product_id",
    "product_name",
    "category",
    "quantity",
    "unit_price",
)

#: Codes that are charges, fees or adjustments rather than products; the defaults are the ones
#: found in the UCI Online Retail export (postage, carriage, manual, discount, bank charges,
#: Amazon fees, charity, samples, bad debt). Configurable through `offers.non_product_codes`.
NON_PRODUCT_CODES = (
    "POST", "DOT", "C2", "M", "m", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS",
)


def clean_line_items(
    items: pd.DataFrame, non_product_codes: Iterable[str] = NON_PRODUCT_CODES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split canonical line items into (clean, rejected); every input row lands in exactly one.

    Input: the LINE_ITEM_COLUMNS (product_name, category, quantity, unit_price may be absent:
    name defaults to the id, category to missing, quantity to 1, unit price to missing).
    clean: the same columns, customer_id/product_id as str, occurred_at UTC, quantity and
    unit_price as float (quantity > 0; unit_price > 0 where known).
    rejected: transaction_id, customer_id, product_id, reason (e.g. "cancellation or return:
    quantity -12", "no customer", "not a product: code POST", "unit price is not positive (0.0)").
    """
    missing = [c for c in ("transaction_id", "customer_id", "occurred_at", "product_id") if c not in items.columns]
    if missing:
        raise ValueError(f"line items are missing column(s) {missing}")
    frame = _with_defaults(items.reset_index(drop=True))
    when = _dates(frame["occurred_at"])
    qty = pd.to_numeric(frame["quantity"], errors="coerce").astype("float64")
    price = pd.to_numeric(frame["unit_price"], errors="coerce").astype("float64")
    reason = _reasons(frame, when, qty, price, set(non_product_codes))
    ok = reason.isna().to_numpy()
    clean = frame.loc[ok].copy()
    for col in ("transaction_id", "customer_id", "product_id"):
        clean[col] = clean[col].astype(str).str.strip()
    name = clean["product_name"].astype("string").str.strip()  # the export's names carry trailing spaces
    clean["product_name"] = name.mask(name.fillna("").eq(""), clean["product_id"]).astype(str)
    clean["occurred_at"], clean["quantity"], clean["unit_price"] = when[ok], qty[ok], price[ok]
    rejected = frame.loc[~ok, ["transaction_id", "customer_id", "product_id"]].assign(reason=reason[~ok])
    return clean[list(LINE_ITEM_COLUMNS)].reset_index(drop=True), rejected.reset_index(drop=True)


def _with_defaults(frame: pd.DataFrame) -> pd.DataFrame:
    defaults = {"product_name": None, "category": None, "quantity": 1.0, "unit_price": np.nan}
    return frame.assign(**{c: v for c, v in defaults.items() if c not in frame.columns})


def _dates(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC")
    return pd.to_datetime(values, errors="coerce", utc=True, format="mixed")


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("string").str.strip().fillna("") == "")


def _reasons(frame: pd.DataFrame, when: pd.Series, qty: pd.Series, price: pd.Series, codes: set[str]) -> pd.Series:
    """The first problem per row (None when fine); text is built only for the bad rows."""
    product = frame["product_id"].astype("string").str.strip()
    checks: list[tuple[pd.Series, object]] = [
        (_blank(frame["customer_id"]), "no customer"),
        (_blank(frame["product_id"]), "no product"),
        (when.isna(), lambda i: f"date is not a date ({frame.at[i, 'occurred_at']!r})"),
        (qty.isna(), lambda i: f"quantity is not a number ({frame.at[i, 'quantity']!r})"),
        (qty <= 0, lambda i: f"cancellation or return: quantity {qty.at[i]:g}"),
        (product.isin(codes).fillna(False), lambda i: f"not a product: code {product.at[i]}"),
        (price.notna() & (price <= 0), lambda i: f"unit price is not positive ({price.at[i]:g})"),
    ]
    reason = pd.Series(None, index=frame.index, dtype=object)
    for bad, text in checks:
        todo = (bad.to_numpy(dtype=bool)) & reason.isna().to_numpy()
        if not todo.any():
            continue
        if isinstance(text, str):
            reason[todo] = text
        else:
            idx = frame.index[todo]
            reason[idx] = [text(i) for i in idx]  # type: ignore[operator]
    return reason
