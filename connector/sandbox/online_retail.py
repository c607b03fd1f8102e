"""UCI Online Retail: the real line items of a UK gift retailer, shipped for tests, the offers
demo and benchmarks.

data/online_retail.csv.gz is the whole export (Chen, Sain & Guo 2012, UCI ML repository; as
split by day in databricks/Spark-The-Definitive-Guide and concatenated in date order): 541,909
rows, 2010-12-01 to 2011-12-09, columns InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country. Its mess is kept on purpose: cancellations
(InvoiceNo C..., negative quantities), 135,080 rows without a customer, fee codes (POST, M,
BANK CHARGES...), zero prices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ONLINE_RETAIL_PATH = Path(__file__).parent / "data" / "online_retail.csv.gz"

#: How a files source reads it (sources.files in the YAML).
FILES_SOURCE = {
    "customer_id_column": "CustomerID", "date_column": "InvoiceDate", "transaction_id_column": "InvoiceNo",
    "product_column": "StockCode", "product_name_column": "Description", "quantity_column": "Quantity",
    "unit_price_column": "UnitPrice", "attribute_columns": ["Country"],
}


def read_online_retail(path: str | Path = ONLINE_RETAIL_PATH) -> pd.DataFrame:
    """The export as text columns (blank cells as missing), exactly as a files source sees it."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def online_retail_sample(customers: int, seed: int = 0, path: str | Path = ONLINE_RETAIL_PATH) -> pd.DataFrame:
    """A faithful subset: every row of `customers` customers drawn at random, plus the same share
    of the rows without a customer, in the file's order (so every kind of mess stays in)."""
    raw = read_online_retail(path)
    ids = raw["CustomerID"].dropna().unique()
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(ids, min(customers, len(ids)), replace=False))
    share = len(chosen) / len(ids)
    anonymous = raw["CustomerID"].isna() & (rng.random(len(raw)) < share)
    return raw[raw["CustomerID"].isin(chosen) | anonymous].reset_index(drop=True)


def online_retail_line_items(raw: pd.DataFrame) -> pd.DataFrame:
    """The export (read_online_retail) as canonical line items, values as in the file."""
    return pd.DataFrame({
        "transaction_id": raw["InvoiceNo"], "customer_id": raw["CustomerID"],
        "occurred_at": pd.to_datetime(raw["InvoiceDate"], utc=True, errors="coerce"),
        "product_id": raw["StockCode"], "product_name": raw["Description"], "category": None,
        "quantity": raw["Quantity"], "unit_price": raw["UnitPrice"],
    })
