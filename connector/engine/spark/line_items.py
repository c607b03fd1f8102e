"""A files source of line items (`sources.files.product_column`) read by Spark: the purchases are
summed from the lines and the line items cleaned on the executors.

Each row of such a file is a line item. The purchases the features need are built from them as
`connector.crm.files.FilesReader` builds them (`_one_row_per_transaction`): the lines sharing a
transaction id are one purchase with the first line's customer and date (file order) and the sum
of the lines' amounts (quantity x unit price when the file has no amount column; missing when a
line's amount is not a number, which the quarantine then reports).

The line items are cleaned by `segmentation.line_items.clean_line_items` itself, applied to each
Arrow batch (`mapInPandas`): every one of its rules looks at one row (blank customer or product,
a date or quantity that does not parse, a quantity <= 0, a non-product code, a price <= 0), so
a batch's verdicts are the whole file's. The clean rows stay on Spark for the offers
(connector.engine.spark.offers); only the rejected rows, with their reasons, reach the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from connector.crm.files import amount_from_lines

if TYPE_CHECKING:
    from connector.config import FilesSource

_LINE = "_li_"  # prefix of the raw line-item columns carried along the read rows
_SCHEMA = ("transaction_id string, customer_id string, product_id string, product_name string, category string, "
           "occurred_at timestamp, quantity double, unit_price double, reason string, source string")
_TEXT = ("transaction_id", "customer_id", "product_id", "product_name", "category")


def line_amount(columns: list[str], cfg: FilesSource) -> Column:
    """Each line's amount as FilesReader takes it: the amount column, else quantity x unit price."""
    if not amount_from_lines(cfg, columns):
        return F.col(cfg.amount_column)
    assert cfg.quantity_column and cfg.unit_price_column, "amount_from_lines checked them"
    return F.col(cfg.quantity_column).try_cast("double") * F.col(cfg.unit_price_column).try_cast("double")


def line_columns(cfg: FilesSource) -> list[Column]:
    """The file's line-item columns under internal names (an attribute column may share a name)."""
    assert cfg.product_column, "a files source of line items names its product column"
    named = {"product_id": cfg.product_column, "product_name": cfg.product_name_column,
             "category": cfg.category_column, "quantity": cfg.quantity_column, "unit_price": cfg.unit_price_column}
    return [F.col(column).alias(_LINE + name) for name, column in named.items() if column]


def purchases(lines: DataFrame, row: str) -> DataFrame:
    """One purchase per transaction id (module docstring); `row`: the lines' order in the file."""
    amount = F.col("amount").try_cast("double")
    first = F.min(F.struct(F.col(row), F.col("customer_id"), F.col("occurred_at"), F.col("source")))
    per = lines.groupBy("transaction_id").agg(first.alias("_first"), F.sum(amount).alias("_total"),
                                              F.max(amount.isNull().cast("int")).alias("_bad"))
    return per.select("transaction_id", F.col("_first.customer_id").alias("customer_id"),
                      F.col("_first.occurred_at").alias("occurred_at"),
                      F.when(F.col("_bad") == 0, F.col("_total")).alias("amount"), F.col("_first.source").alias("source"))


def raw_line_items(lines: DataFrame) -> DataFrame:
    """The canonical line_items table (values raw, for clean_line_items) of the read rows."""
    carried = {c[len(_LINE):]: F.col(c) for c in lines.columns if c.startswith(_LINE)}
    product = F.trim(carried["product_id"].cast("string"))
    defaults = {"product_name": F.lit(None).cast("string"), "category": F.lit(None).cast("string"),
                "quantity": F.lit(1.0), "unit_price": F.lit(None).try_cast("double")}
    return lines.select("transaction_id", "customer_id", "occurred_at", product.alias("product_id"),
                        *[carried.get(name, default).alias(name) for name, default in defaults.items()], "source")


@dataclass(frozen=True)
class CleanLines:
    """clean: the clean line items on Spark (segmentation.line_items' clean columns), persisted;
    rejected: transaction_id, customer_id, product_id, reason, source of the others, on the driver."""

    clean: DataFrame
    rejected: pd.DataFrame
    count: int
    judged: DataFrame  # every line with its verdict, persisted

    def release(self) -> None:
        self.judged.unpersist()


def clean_on_spark(items: DataFrame, non_product_codes: Iterable[str]) -> CleanLines:
    """clean_line_items on every batch of `items` (raw_line_items); the clean rows stay on Spark."""
    codes = tuple(non_product_codes)

    def judge(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from segmentation.line_items import clean_line_items

        for batch in batches:
            clean, rejected = clean_line_items(batch.drop(columns="source"), codes)
            yield clean.assign(reason=None, source=None)
            if len(rejected):  # the source of each line's purchase, as the pandas step finds it
                of = batch["source"].astype(str).groupby(batch["transaction_id"].astype(str)).first()
                yield _typed(rejected).assign(source=of.reindex(rejected["transaction_id"].astype(str)).to_numpy())

    judged = items.mapInPandas(judge, _SCHEMA).persist()
    rejected = judged.where(F.col("reason").isNotNull()).select(
        "transaction_id", "customer_id", "product_id", "reason", "source").toPandas()
    clean = judged.where(F.col("reason").isNull()).drop("reason", "source")
    return CleanLines(clean, rejected, clean.count(), judged)


def _typed(rejected: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows in the judged schema (their other columns missing)."""
    n = len(rejected)
    return pd.DataFrame({
        **{c: rejected[c].astype(object).where(rejected[c].notna(), None) if c in rejected else [None] * n
           for c in _TEXT},
        "occurred_at": pd.Series(pd.NaT, index=rejected.index, dtype="datetime64[ns, UTC]"),
        "quantity": np.nan, "unit_price": np.nan, "reason": rejected["reason"].astype(object),
    })
