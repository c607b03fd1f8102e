"""Sources read by Spark itself: the cycle's transactions never pass through the driver.

With `engine: {kind: spark}` a files source (`sources.files.transactions`: one Parquet file, a
folder of Parquet parts, or a CSV) is read by `spark.read` into the canonical raw columns the
quarantine takes (transaction_id, customer_id, occurred_at, amount, source), column for column
as `connector.crm.files.FilesReader` maps them, so both engines quarantine and count the same
rows. Parquet keeps its types (typed rows skip Python in the quarantine); CSV values stay text
and the pandas rules judge them.

`native_reason` says why a config cannot be read this way (the cycle then reads through the
mirror and hands the tables to Spark, as before): a CRM or SQL source (their pulls are
incremental, with cursors, into the state store's mirror: see `connector.engine.spark.staging`),
line items (offers), usage events, a whitespace-delimited CSV (Spark's CSV reader takes one
separator character). SQL sources are not read over Spark's JDBC reader: segsync names them by
SQLAlchemy URL, and a JDBC driver jar per database is not something segsync can install.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from connector.crm.errors import ConfigurationError
from connector.crm.files import (
    check_columns,
    date_probe_step,
    first_bad_utf8_line,
    not_utf8,
    refuse_non_iso_dates,
)

if TYPE_CHECKING:
    from connector.config import Config, FilesSource

_PARQUET_SUFFIXES = (".parquet", ".pq")
_KEY = "sources.files.transactions"


@dataclass(frozen=True)
class SparkTables:
    """customers: customer_id, the configured attribute columns (first value seen per customer);
    transactions: the canonical columns (as read: raw values, for the quarantine; in a
    FeaturesResult: the clean ones); features: the customers' features, once computed."""

    customers: DataFrame
    transactions: DataFrame
    features: DataFrame | None = None


def native_reason(config: Config) -> str | None:
    """Why this config's transactions cannot be read by Spark directly (None: they can)."""
    src = config.sources
    if src.plugins:
        return f"source plugin(s) {', '.join(src.plugins)} are read on the driver"
    mirrored = mirrored_sources(config)
    if mirrored and config.engine.staging is None:
        return f"source(s) {', '.join(mirrored)} are pulled into the mirror and engine.staging is not set"
    if _line_items(config):
        return "line items (offers) are read on the driver"
    if src.files is not None and src.files.product_column:  # offers off: the lines are still summed per purchase
        return "sources.files.product_column: each row is a line item, summed into its purchase on the driver"
    if config.features.events is not None:
        return "usage events (features.events) are read on the driver"
    if src.files is not None and src.files.delimiter == "whitespace":
        return "sources.files.delimiter whitespace is not a single separator Spark's CSV reader takes"
    if src.files is None and not mirrored:
        return "no source of purchases"
    return None


def mirrored_sources(config: Config) -> list[str]:
    """The configured sources whose pulls land in the state store's mirror (and, with
    engine.staging, in Parquet): the CRMs and SQL."""
    return [name for name in ("salesforce", "hubspot", "sql") if getattr(config.sources, name) is not None]


def _line_items(config: Config) -> bool:
    src = config.sources
    return config.offers.enabled and any((
        src.files is not None and src.files.product_column, src.salesforce is not None and src.salesforce.line_items.enabled,
        src.hubspot is not None and src.hubspot.line_items.enabled, src.sql is not None and src.sql.line_items is not None))


def read_staged(spark: SparkSession, folder: Path, keys: pd.DataFrame) -> DataFrame:
    """The purchases connector.state.staging exported to `folder`, as the canonical raw columns
    connector.identity gives the mirror's: transaction_id "<source>-<id>", customer_id through
    `keys` (source, source_id, customer_id of every mirrored customer record; an unknown customer
    stays missing, which the quarantine reports), occurred_at and amount as the mirror's text."""
    from connector.state.staging import TRANSACTIONS

    path = folder / TRANSACTIONS
    if not path.exists():
        raise ConfigurationError(f"engine.staging: {path} does not exist (the pull step writes it)")
    raw = spark.read.parquet(str(path))
    lookup = spark.createDataFrame(keys[["source", "source_id", "customer_id"]].astype(str),
                                   "source string, customer_source_id string, customer_id string")
    joined = raw.join(lookup, ["source", "customer_source_id"], "left")
    return joined.select(F.concat(F.col("source"), F.lit("-"), F.col("source_id")).alias("transaction_id"),
                         "customer_id", "occurred_at", "amount", "source")


def read_files_source(spark: SparkSession, cfg: FilesSource, base_dir: Path) -> SparkTables:
    """The files source as Spark DataFrames (see the module docstring); ConfigurationError
    naming the key or the column when the file is absent or lacks a configured column."""
    path = cfg.transactions if cfg.transactions.is_absolute() else base_dir / cfg.transactions
    raw, csv = _load(spark, path, cfg)
    check_columns(cfg, path, raw.columns)  # FilesReader's check, in its words
    check_dates = not cfg.date_format and dict(raw.dtypes)[cfg.date_column] == "string"
    marked = raw.withColumn(_ID, F.monotonically_increasing_id())
    places = _places(marked, cfg.date_column, csv) if csv or check_dates or not cfg.transaction_id_column else None
    if places is not None and places.replaced and path.is_file() and not path.name.lower().endswith(".gz"):
        # Spark reads a byte that is not UTF-8 as U+FFFD without a word; FilesReader refuses the file
        line = first_bad_utf8_line(path)  # None: the file holds U+FFFD itself, and is valid
        if line is not None:
            raise ConfigurationError(not_utf8(path, line))
    if check_dates:
        assert places is not None
        refuse_non_iso_dates(path, cfg.date_column, _date_sample(marked, cfg.date_column, places))
    if cfg.transaction_id_column:  # file order is enough for "first value seen"
        numbered = marked.withColumnRenamed(_ID, _ROW)
        tx_id = F.col(cfg.transaction_id_column).cast("string")
    else:  # rows are named by line, as FilesReader names them (+2: the header is line 1)
        assert places is not None
        numbered = marked.withColumn(_ROW, _row_number(places)).drop(_ID)
        tx_id = F.concat(F.lit("row-"), (F.col(_ROW) + 2).cast("string"))
    customer = F.trim(F.col(cfg.customer_id_column).cast("string"))
    tx = numbered.select(tx_id.alias("transaction_id"), customer.alias("customer_id"),
                         _when(raw, cfg.date_column).alias("occurred_at"), F.col(cfg.amount_column).alias("amount"),
                         F.lit("files").alias("source"), F.col(_ROW), *[F.col(c) for c in cfg.attribute_columns])
    if cfg.date_format and dict(tx.dtypes)["occurred_at"] == "string":
        tx = _parse_dates(tx, cfg.date_format)
    first = Window.partitionBy("customer_id").orderBy(_ROW)
    customers = (tx.where(F.col("customer_id").isNotNull())
                 .withColumn("_n", F.row_number().over(first)).where(F.col("_n") == 1)
                 .select("customer_id", *cfg.attribute_columns))
    return SparkTables(customers, tx.select("transaction_id", "customer_id", "occurred_at", "amount", "source"))


_ROW = "_line"


def _load(spark: SparkSession, path: Path, cfg: FilesSource) -> tuple[DataFrame, bool]:
    """(the file as read, whether it is a CSV)."""
    if not path.exists():
        raise ConfigurationError(f"{_KEY}: {path} does not exist")
    fmt = cfg.format
    if fmt == "auto":
        parts = path.is_dir() and any(p.suffix.lower() in _PARQUET_SUFFIXES for p in path.iterdir())
        fmt = "parquet" if parts or path.suffix.lower() in _PARQUET_SUFFIXES else "csv"
    if fmt == "parquet":
        return _parquet(spark, path), False
    from connector.crm.files import sniff_delimiter

    sep = cfg.delimiter or (sniff_delimiter(path) if path.is_file() else ",")
    # every value as text, an empty cell missing: as load_table reads a CSV for the pandas engine
    raw = spark.read.csv(str(path), header=True, sep=sep, inferSchema=False, emptyValue=None, encoding="UTF-8")
    if not raw.columns:
        raise ConfigurationError(f"{_KEY}: {path} is empty (not even a header row)")  # load_table's words
    return raw, True


def _parquet(spark: SparkSession, path: Path) -> DataFrame:
    from pyspark.errors import AnalysisException

    try:
        return spark.read.parquet(str(path))
    except AnalysisException as exc:
        if "TIMESTAMP(NANOS" in str(exc):  # pandas >= 2 writes nanoseconds unless told otherwise
            raise ConfigurationError(
                f"{_KEY}: {path} stores timestamps in nanoseconds, which Spark cannot read; write it with "
                "microseconds (pandas: to_parquet(..., coerce_timestamps='us'))") from None
        raise


def _when(raw: DataFrame, column: str) -> Column:
    """Typed instants stay typed (a naive Parquet timestamp is UTC, as the pandas engine reads it);
    anything else is trimmed text, which the quarantine parses or rejects."""
    kind = dict(raw.dtypes)[column]
    if kind in ("timestamp", "timestamp_ntz"):
        return F.col(column).cast("timestamp")
    return F.trim(F.col(column).cast("string"))


def _parse_dates(tx: DataFrame, fmt: str) -> DataFrame:
    """sources.files.date_format applied as FilesReader applies it (pandas' strptime on each batch):
    parsed values become ISO text, unparseable ones stay as they were for the quarantine."""
    schema = tx.schema

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            text = batch["occurred_at"].astype("string").str.strip()
            parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
            iso = parsed.map(lambda t: t.isoformat() if t is not pd.NaT else None)
            batch["occurred_at"] = iso.where(parsed.notna(), text.astype(object))
            yield batch

    return tx.mapInPandas(parse, schema)


@dataclass(frozen=True)
class _Places:
    """Where each scan partition of the file starts (keyed by partition index): the rows before it,
    and the present values of the date column before it; and how many of those there are in all.

    A row's place comes from monotonically_increasing_id (`_ID`: the scan partition << 33 | the
    row's place in it), counted in one pass on the executors: a file's scan partitions are the same
    in every job that reads it, so the row numbers need neither a single-partition window nor
    zipWithIndex (which took every row through Python), and work on Spark Connect too."""

    rows_before: dict[int, int]
    present_before: dict[int, int]
    present: int
    replaced: bool = False  # a CSV value holds U+FFFD: what Spark reads a byte that is not UTF-8 as


def _places(marked: DataFrame, date_column: str, csv: bool) -> _Places:
    replaced = F.lit(False)
    for column in (c for c in marked.columns if c != _ID) if csv else ():
        replaced = replaced | F.coalesce(F.col(column).cast("string").contains("\ufffd"), F.lit(False))
    counts = sorted(marked.groupBy(F.shiftright(_ID, _PART_SHIFT).alias("_part"))
                    .agg(F.count(F.lit(1)), F.count(F.trim(F.col(date_column).cast("string"))),
                         F.max(replaced.cast("int"))).collect())
    rows_before, present_before, rows, present = {}, {}, 0, 0
    for part, n_rows, n_present, _ in counts:
        rows_before[part], present_before[part] = rows, present
        rows, present = rows + n_rows, present + n_present
    return _Places(rows_before, present_before, present, any(bad for *_, bad in counts))


def _row_number(places: _Places) -> Column:
    """Each row's 0-based number in the file (FilesReader's index)."""
    if not places.rows_before:  # a header and no row: nothing to number (an empty map has no key type)
        return F.col(_ID)
    starts = F.create_map(*[F.lit(x) for part, n in places.rows_before.items() for x in (part, n)])
    return (starts[F.shiftright(_ID, _PART_SHIFT)] + F.col(_ID).bitwiseAND(_IN_PART)).cast("long")


def _date_sample(marked: DataFrame, column: str, places: _Places) -> pd.Series:
    """The values FilesReader judges for refuse_non_iso_dates: every date_probe_step-th present
    (trimmed) value of `column` in file order, indexed by its 0-based row: picked in each scan
    partition, counting its present values in order (one mapInPandas task per partition); only
    the sample reaches the driver."""
    step, present_before = date_probe_step(places.present), places.present_before

    def pick(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        seen = 0  # present values of this task's partition before the batch
        for batch in batches:
            part = batch[_ID].to_numpy() >> _PART_SHIFT
            rank = pd.Series(part).map(present_before).to_numpy() + seen + np.arange(len(batch))
            seen += len(batch)
            yield batch[rank % step == 0].assign(_rank=rank[rank % step == 0])

    values = marked.select(_ID, F.trim(F.col(column).cast("string")).alias("_value"))
    picked = (values.where(F.col("_value").isNotNull())
              .mapInPandas(pick, f"{_ID} long, _value string, _rank long").toPandas().sort_values("_rank"))
    ids = picked[_ID].to_numpy()
    row = pd.Series(ids >> _PART_SHIFT).map(places.rows_before).to_numpy() + (ids & _IN_PART)
    return pd.Series(picked["_value"].to_numpy(), index=row, dtype="string")


_ID = "_scan_id"
_PART_SHIFT = 33  # monotonically_increasing_id: the partition index in the upper 31 bits, the row in the lower 33
_IN_PART = (1 << _PART_SHIFT) - 1
