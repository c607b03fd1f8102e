"""Sources Spark reads itself (connector.engine.spark.sources): the rows FilesReader gives, read on
the executors; and which configs can be read that way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("pyspark")

from connector.config import Config  # noqa: E402
from connector.config.sources import FilesSource  # noqa: E402
from connector.crm.errors import ConfigurationError  # noqa: E402
from connector.crm.files import FilesReader  # noqa: E402
from connector.engine.spark.sources import native_reason, read_files_source, read_staged  # noqa: E402

CSV = """CustomerID;amount;date;country
C1;10.50;20260103;US
 C2 ;abc;20260104;DE
C1;7;2026-01-05;FR
;3;20260106;US
C3;4.25;20260107;
"""


def test_a_csv_reads_as_the_files_reader_reads_it(tmp_path: Path, spark: Any) -> None:
    """Line-numbered ids, trimmed customer ids, date_format parsed (the unparseable kept as text),
    values as text, the first attribute value per customer."""
    (tmp_path / "tx.csv").write_text(CSV, encoding="utf-8")
    cfg = FilesSource(transactions=Path("tx.csv"), date_format="%Y%m%d", attribute_columns=["country"])
    tables = read_files_source(spark, cfg, tmp_path)
    customers, expected = FilesReader(cfg, tmp_path).read()
    got = tables.transactions.toPandas().sort_values("transaction_id").reset_index(drop=True)
    assert got["transaction_id"].tolist() == expected["transaction_id"].tolist() == [f"row-{i}" for i in range(2, 7)]
    assert got["customer_id"].fillna("-").tolist() == ["C1", "C2", "C1", "-", "C3"]
    assert got["customer_id"].fillna("-").tolist() == expected["customer_id"].fillna("-").tolist()
    assert got["amount"].tolist() == ["10.50", "abc", "7", "3", "4.25"]
    assert got["occurred_at"].iloc[3] == "2026-01-06T00:00:00+00:00"
    assert got["occurred_at"].iloc[2] == "2026-01-05"  # not the configured format: the quarantine decides
    assert got["source"].unique().tolist() == ["files"]
    ours = tables.customers.toPandas().sort_values("customer_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, customers.sort_values("customer_id").reset_index(drop=True), check_dtype=False)


def test_a_folder_of_parquet_parts_keeps_its_types(tmp_path: Path, spark: Any) -> None:
    folder = tmp_path / "purchases"
    folder.mkdir()
    for part in range(2):
        pd.DataFrame({"tx": [f"t{part}{i}" for i in range(3)], "cid": ["a", "b", "a"], "amount": [1.0, 2.0, 3.0],
                      "date": pd.date_range("2026-01-01", periods=3, tz="UTC")}
                     ).to_parquet(folder / f"part-{part}.parquet", coerce_timestamps="us")
    cfg = FilesSource(transactions=folder, customer_id_column="cid", transaction_id_column="tx")
    tables = read_files_source(spark, cfg, tmp_path)
    assert dict(tables.transactions.dtypes) == {"transaction_id": "string", "customer_id": "string",
                                                "occurred_at": "timestamp", "amount": "double", "source": "string"}
    assert tables.transactions.count() == 6
    assert sorted(r.customer_id for r in tables.customers.collect()) == ["a", "b"]


LINES = pd.DataFrame({
    "order": ["o1", "o1", "o2", "o2", "o3", "o4"], "cid": [" C1", "C9", None, "C2", "C3", "C3"],
    "date": ["2026-01-02", "2026-01-01", "2026-01-03", "2026-01-03", "2026-01-04", "nope"],
    "sku": ["A", "POST", "B", "A ", "C", "A"], "qty": ["2", "1", "1", "x", "-1", "3"],
    "price": ["1.5", "4", "2", "2", "5", "0"]})


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_lines_are_summed_into_purchases_and_cleaned_as_the_files_reader_does(tmp_path: Path, spark: Any,
                                                                              fmt: str) -> None:
    """Lines sharing an order: the first line's customer and date, quantity x unit price summed
    (missing when a line's is not a number); the lines judged by clean_line_items on each batch,
    the same clean rows and the same rejected rows with their reasons."""
    from connector.engine.spark.line_items import clean_on_spark
    from segmentation.line_items import clean_line_items

    path = tmp_path / f"lines.{fmt}"
    LINES.to_csv(path, index=False) if fmt == "csv" else LINES.to_parquet(path)
    cfg = FilesSource(transactions=path, customer_id_column="cid", date_column="date", transaction_id_column="order",
                      product_column="sku", quantity_column="qty", unit_price_column="price")
    tables = read_files_source(spark, cfg, tmp_path)
    _, expected, lines = FilesReader(cfg, tmp_path).read_all()
    assert lines is not None and tables.line_items is not None
    got = tables.transactions.toPandas().sort_values("transaction_id").reset_index(drop=True)
    assert got["customer_id"].fillna("-").tolist() == expected["customer_id"].fillna("-").tolist() == ["C1", "-", "C3", "C3"]
    assert got["occurred_at"].tolist() == expected["occurred_at"].tolist()
    assert got["amount"].fillna(-99).tolist() == expected["amount"].fillna(-99).tolist() == [7.0, -99, -5.0, 0.0]
    clean, rejected = clean_line_items(lines, ("POST",))
    ours = clean_on_spark(tables.line_items, ("POST",))
    try:
        assert _rows(ours.rejected) == _rows(rejected)
        assert set(ours.rejected["source"]) == {"files"}
        assert [r for *_, r in _rows(rejected)] == [  # every rule, by order and product
            "not a product: code POST", "quantity is not a number ('x')", "no customer",
            "cancellation or return: quantity -1", "date is not a date ('nope')"]
        assert len(rejected) == 5 and ours.count == len(clean) == 1
        row = ours.clean.toPandas().iloc[0]
        assert (row["customer_id"], row["product_id"], row["quantity"], row["unit_price"]) == ("C1", "A", 2.0, 1.5)
    finally:
        ours.release()


def _rows(rejected: pd.DataFrame) -> list[tuple[object, ...]]:
    frame = rejected.astype(object).where(rejected.notna(), None)
    return sorted(map(tuple, frame[["transaction_id", "customer_id", "product_id", "reason"]].to_numpy().tolist()),
                  key=lambda r: (str(r[0]), str(r[2])))


def test_what_cannot_be_read_is_named(tmp_path: Path, spark: Any) -> None:
    when = pd.to_datetime(["2026-01-01 00:00:00.000000001"], utc=True).as_unit("ns")
    pd.DataFrame({"CustomerID": ["a"], "amount": [1.0], "date": when}).to_parquet(tmp_path / "ns.parquet")
    with pytest.raises(ConfigurationError, match="nanoseconds"):
        read_files_source(spark, FilesSource(transactions=Path("ns.parquet")), tmp_path)
    (tmp_path / "tx.csv").write_text("CustomerID,date\na,2026-01-01\n", encoding="utf-8")
    cfg = FilesSource(transactions=Path("tx.csv"), attribute_columns=["country"])
    with pytest.raises(ConfigurationError, match=r"tx.csv: line 1 \(the header\): column\(s\) country, amount not found; "
                                                 r"the file has CustomerID, date$") as ours:
        read_files_source(spark, cfg, tmp_path)
    assert str(ours.value) == _refusal(lambda: FilesReader(cfg, tmp_path).read())  # the pandas engine's words
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    empty = FilesSource(transactions=Path("empty.csv"))
    with pytest.raises(ConfigurationError, match=r"sources.files.transactions: .*empty.csv is empty \(not even a header"):
        read_files_source(spark, empty, tmp_path)
    assert _refusal(lambda: read_files_source(spark, empty, tmp_path)) == _refusal(lambda: FilesReader(empty, tmp_path).read())
    # Spark reads a byte that is not UTF-8 as U+FFFD without a word: refused as FilesReader refuses it
    (tmp_path / "latin1.csv").write_bytes(b"CustomerID,date,amount\nc1,2026-01-01,5\nc\xe9,2026-01-02,6\n")
    latin1 = FilesSource(transactions=Path("latin1.csv"), transaction_id_column=None, date_format="%Y-%m-%d")
    ours = _refusal(lambda: read_files_source(spark, latin1, tmp_path))
    assert ours.endswith("latin1.csv: line 3 is not UTF-8; save the file as UTF-8")
    assert ours == _refusal(lambda: FilesReader(latin1, tmp_path).read())
    (tmp_path / "fffd.csv").write_text("CustomerID,date,amount\nc\ufffd,2026-01-02,6\n", encoding="utf-8")  # valid
    assert read_files_source(spark, FilesSource(transactions=Path("fffd.csv")), tmp_path).customers.count() == 1
    (tmp_path / "header.csv").write_text("CustomerID,date,amount\n", encoding="utf-8")
    assert read_files_source(spark, FilesSource(transactions=Path("header.csv")), tmp_path).transactions.count() == 0
    with pytest.raises(ConfigurationError, match="sources.files.transactions: .*absent.csv does not exist"):
        read_files_source(spark, FilesSource(transactions=Path("absent.csv")), tmp_path)
    with pytest.raises(ConfigurationError, match="engine.staging: .* does not exist"):
        read_staged(spark, tmp_path / "staging", pd.DataFrame(columns=["source", "source_id", "customer_id"]))


def _refusal(read: Any) -> str:
    with pytest.raises(ConfigurationError) as caught:
        read()
    return str(caught.value)


def test_a_file_of_non_iso_dates_is_refused_in_the_pandas_engines_words(tmp_path: Path, spark: Any) -> None:
    """Guessed one by one, 12/06/1998 and 30/06/1998 are read day-first and month-first in one file:
    without date_format such a file is refused, naming the file, the line, the column and a value."""
    (tmp_path / "tx.csv").write_text("CustomerID,date,amount\nc1,12/06/1998,10\nc2,30/06/1998,5\nc3,1998-06-01,1\n")
    cfg = FilesSource(transactions=Path("tx.csv"))
    with pytest.raises(ConfigurationError, match=r"tx.csv: line 2: 2 of 3 values of sources.files.date_column 'date' "
                                                 r"are not ISO 8601 dates \(e.g. '12/06/1998'\); set sources.files.date_format"):
        read_files_source(spark, cfg, tmp_path)
    read_files_source(spark, FilesSource(transactions=Path("tx.csv"), date_format="%d/%m/%Y"), tmp_path)
    # a big file is judged on every n-th present value (n = present // 10,000), in file order, on both engines
    # alike: here n = 2, empty dates in between, and the scan split in several partitions
    lines = ["CustomerID;date;amount"]
    for i in range(24_500):
        day = "" if i % 7 == 3 else f"1998-06-{1 + i % 28:02d}" if i < 4_000 or i % 5 == 0 else f"{1 + i % 28:02d}/06/1998"
        lines.append(f"c{i % 500};{day};1")
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    big = FilesSource(transactions=Path("big.csv"))
    spark.conf.set("spark.sql.files.maxPartitionBytes", "64k")
    try:
        ours = _refusal(lambda: read_files_source(spark, big, tmp_path))
        # and every row named by its line across the partitions, as FilesReader names it
        lines_cfg = FilesSource(transactions=Path("big.csv"), date_format="%d/%m/%Y")
        got = read_files_source(spark, lines_cfg, tmp_path).transactions.select("transaction_id", "customer_id")
        named = dict(got.toPandas().itertuples(index=False))
        _, expected = FilesReader(lines_cfg, tmp_path).read()
        assert named == dict(zip(expected["transaction_id"], expected["customer_id"], strict=True))
        assert got.rdd.getNumPartitions() > 3
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert ours == _refusal(lambda: FilesReader(big, tmp_path).read())
    assert "big.csv: line 4004: 7,029 of 10,500 values of sources.files.date_column 'date' are not ISO 8601 dates " \
           "(e.g. '27/06/1998')" in ours, ours


def _config(**parts: Any) -> Config:
    data = {"version": 1, "sources": {"files": {"transactions": "tx.parquet"}},
            "engine": {"kind": "spark", "master": "local[2]"}}
    for key, value in parts.items():
        section, _, name = key.partition("__")
        data.setdefault(section, {})[name] = value  # type: ignore[index]
    return Config.model_validate(data)


def test_which_configs_spark_reads_itself() -> None:
    assert native_reason(_config()) is None
    sql = {"url": "duckdb:///w.duckdb", "transactions": {"table": "orders"}}
    assert "engine.staging is not set" in str(native_reason(_config(sources__sql=sql)))
    assert native_reason(_config(sources__sql=sql, engine__staging="staging")) is None
    lines = {"transactions": "t.csv", "product_column": "sku", "transaction_id_column": "order"}
    # a files source of line items: Spark sums the lines into purchases and cleans them (offers on or off)
    assert native_reason(_config(sources__files=lines)) is None
    assert native_reason(_config(sources__files=lines, offers__enabled=False)) is None
    sql_lines = {**sql, "line_items": {"table": "order_lines", "transaction_id_column": "order_id"}}
    assert "line items (offers) of a CRM or SQL source are read on the driver" in str(
        native_reason(_config(sources__sql=sql_lines, engine__staging="staging")))
    assert native_reason(_config(sources__sql=sql_lines, engine__staging="staging", offers__enabled=False)) is None
    assert "whitespace" in str(native_reason(_config(sources__files={"transactions": "t.txt", "delimiter": "whitespace"})))
