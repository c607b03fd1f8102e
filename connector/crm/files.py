"""Files as source and sink: a CSV or Parquet of transactions in, a CSV of segments out.

`FilesPlugin` is the plugin (connector.crm.plugin): a TableSource of customers, transactions
and (with a product column) line items, and a TableDestination of the desired state.

This is how an analyst runs the loop without a CRM ("segment an e-commerce CSV"). The
source file is a snapshot: each run reads it whole. Values are kept as text here; bad
amounts and dates are quarantined with a reason by segmentation.features.clean_transactions,
so no row is silently dropped.
"""

from __future__ import annotations

import codecs
import csv
import filecmp
import gzip
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from connector.config import FilesDestination, FilesSource
from connector.crm.errors import ConfigurationError
from connector.crm.plugin import Accepts

#: Values of the date column looked at to tell a file of non-ISO dates (evenly spaced over the file).
_DATE_PROBE = 10_000
log = logging.getLogger("segsync.files")


class FilesPlugin:
    """The files source (`sources.files`: purchases, line items with a product column, usage
    events with an events file) and destination (`destinations.files`): either may be None."""

    name = "files"
    id_column: str | None = None  # a file's customers carry segsync's key itself

    def __init__(self, source: FilesSource | None, destination: FilesDestination | None, base_dir: Path) -> None:
        self.reader = FilesReader(source, base_dir) if source is not None else None
        self.destination = destination
        self.base_dir = base_dir
        entities = {"customers", "transactions"}
        if source is not None and source.product_column:
            entities.add("line_items")
        if source is not None and source.events is not None:
            entities.add("events")
        self.provides = frozenset(entities) if source is not None else frozenset()
        self.accepts = Accepts(table=destination is not None)

    def read_tables(self) -> dict[str, pd.DataFrame]:
        """customers, transactions and line_items (FilesReader.read_all); nothing without a source."""
        if self.reader is None:
            return {}
        customers, transactions, line_items = self.reader.read_all()
        tables = {"customers": customers, "transactions": transactions}
        if line_items is not None:
            tables["line_items"] = line_items
        if self.reader.cfg.events is not None:
            from connector.usage import (
                read_events_file,  # the usage module reads files with this one's loader
            )

            tables["events"] = read_events_file(self.reader.cfg.events, self.base_dir)
        return tables

    def output(self) -> tuple[str, Path] | None:
        return None if self.destination is None else ("destinations.files.path", self.destination.path)

    def write_table(self, table: pd.DataFrame) -> Path | None:
        if self.destination is None:
            raise ConfigurationError("destinations.files is not configured: nothing may be written")
        return write_segments_csv(self.destination, self.base_dir, table)

    def close(self) -> None:
        """Nothing stays open between reads."""


class FilesReader:
    """Reads the configured transactions file into canonical (text-valued) frames."""

    name = "files"

    def __init__(self, cfg: FilesSource, base_dir: Path) -> None:
        self.cfg = cfg
        self.path = cfg.transactions if cfg.transactions.is_absolute() else base_dir / cfg.transactions

    def read(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(customers, transactions) with canonical column names (see read_all)."""
        customers, tx, _ = self.read_all()
        return customers, tx

    def read_all(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
        """(customers, transactions, line_items) with canonical column names.

        customers: customer_id, plus the configured attribute columns (first value seen).
        transactions: transaction_id, customer_id, occurred_at (parsed, NaT when unparseable
        is left to the quarantine), amount (raw), source='files'. With a product_column each
        row is a line item: lines sharing a transaction id are one transaction whose amount is
        the sum of the lines (quantity x unit price when the file has no amount column).
        line_items: the canonical line_items table (values raw, for
        segmentation.line_items.clean_line_items), or None without a product_column.
        """
        raw = self._load()
        cfg = self.cfg
        self._check_columns(raw)
        ids = raw[cfg.transaction_id_column].astype(str) if cfg.transaction_id_column else pd.Series(
            [f"row-{i + 2}" for i in range(len(raw))], index=raw.index)  # +2: header is line 1
        tx = pd.DataFrame(
            {
                "transaction_id": ids,
                "customer_id": raw[cfg.customer_id_column].astype("string").str.strip(),
                "occurred_at": self._dates(raw[cfg.date_column]),
                "amount": self._amounts(raw),
                "source": "files",
            }
        )
        if not cfg.transaction_id_column:
            self._warn_duplicates(tx)
        customers = (
            pd.DataFrame({"customer_id": tx["customer_id"], **{c: raw[c] for c in cfg.attribute_columns}})
            .dropna(subset=["customer_id"])
            .drop_duplicates("customer_id")
            .reset_index(drop=True)
        )
        if not cfg.product_column:
            return customers, tx, None
        return customers, _one_row_per_transaction(tx), self._line_items(raw, tx)

    def _check_columns(self, raw: pd.DataFrame) -> None:
        check_columns(self.cfg, self.path, [str(c) for c in raw.columns])

    def _amount_from_lines(self, raw: pd.DataFrame) -> bool:
        return _amount_from_lines(self.cfg, raw.columns)

    def _amounts(self, raw: pd.DataFrame) -> pd.Series:
        if not self._amount_from_lines(raw):
            return raw[self.cfg.amount_column]
        qty = pd.to_numeric(raw[self.cfg.quantity_column], errors="coerce")
        price = pd.to_numeric(raw[self.cfg.unit_price_column], errors="coerce")
        return qty * price

    def _line_items(self, raw: pd.DataFrame, tx: pd.DataFrame) -> pd.DataFrame:
        cfg = self.cfg

        def col(name: str | None, default: object) -> object:
            return raw[name] if name else default

        return pd.DataFrame({
            "transaction_id": tx["transaction_id"], "customer_id": tx["customer_id"], "occurred_at": tx["occurred_at"],
            "product_id": raw[cfg.product_column].astype("string").str.strip(),
            "product_name": col(cfg.product_name_column, None), "category": col(cfg.category_column, None),
            "quantity": col(cfg.quantity_column, 1.0), "unit_price": col(cfg.unit_price_column, float("nan")),
        })

    def _warn_duplicates(self, tx: pd.DataFrame) -> None:
        """Without a transaction id two identical rows are two purchases: say how many there are."""
        dup = tx.astype({"occurred_at": str, "amount": str}).duplicated(["customer_id", "occurred_at", "amount"])
        if dup.any():
            log.warning("%s: %d row(s) repeat an earlier row exactly (customer, date, amount) and count as separate "
                        "purchases; set sources.files.transaction_id_column if they are duplicates", self.path, int(dup.sum()))

    def _load(self) -> pd.DataFrame:
        return load_table(self.path, self.cfg.format, self.cfg.delimiter, "sources.files.transactions")

    def _dates(self, values: pd.Series) -> pd.Series:
        """Parse with the configured format; unparseable values stay as text for the quarantine."""
        text = values.astype("string").str.strip()
        if not self.cfg.date_format:
            present = text.dropna()
            refuse_non_iso_dates(self.path, self.cfg.date_column, present.iloc[::date_probe_step(len(present))])
            return text
        parsed = pd.to_datetime(text, format=self.cfg.date_format, errors="coerce", utc=True)
        return parsed.astype(object).where(parsed.notna(), text.astype(object))


def check_columns(cfg: FilesSource, path: Path, columns: Sequence[str]) -> None:
    """ConfigurationError naming every configured column the file's header (`columns`) lacks; the
    Spark engine's files reader (connector.engine.spark.sources) says it in the same words."""
    optional = [cfg.transaction_id_column, cfg.product_column, cfg.product_name_column, cfg.category_column,
                cfg.quantity_column, cfg.unit_price_column]
    needed = [cfg.customer_id_column, cfg.date_column, *cfg.attribute_columns, *[c for c in optional if c]]
    if not _amount_from_lines(cfg, columns):
        needed.append(cfg.amount_column)
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ConfigurationError(f"{path}: line 1 (the header): column(s) {', '.join(missing)} not found; "
                                 f"the file has {', '.join(columns)}")


def _amount_from_lines(cfg: FilesSource, columns: Sequence[str]) -> bool:
    return bool(cfg.quantity_column and cfg.unit_price_column) and cfg.amount_column not in columns


def date_probe_step(present: int) -> int:
    """Every how many present values of the date column refuse_non_iso_dates looks at (about _DATE_PROBE in all)."""
    return max(1, present // _DATE_PROBE)


def refuse_non_iso_dates(path: Path, column: str, sample: pd.Series) -> None:
    """Without date_format dates must be ISO 8601: guessed one by one, 12/06/1998 became 6 December
    and 30/06/1998 30 June in the same file. A file of mostly such dates is refused; a stray
    one, and values that are no date at all, are the quarantine's (a reason per row).

    sample: every date_probe_step-th present (trimmed) value of the date column, in file order,
    indexed by its 0-based row (the quarantine parses every value anyway). Both engines' files
    readers judge the same sample, so they refuse a file in the same words."""
    other = sample[pd.to_datetime(sample, format="ISO8601", errors="coerce", utc=True).isna()]
    if len(other) * 2 <= len(sample):
        return
    guessed = other[pd.to_datetime(other, format="mixed", errors="coerce", utc=True).notna()]
    if len(guessed) * 2 > len(sample):
        raise ConfigurationError(
            f"{path}: line {int(guessed.index[0]) + 2}: {len(guessed):,} of {len(sample):,} values of "
            f"sources.files.date_column {column!r} are not ISO 8601 dates (e.g. {guessed.iloc[0]!r}); "
            "set sources.files.date_format to their strftime format, e.g. \"%d/%m/%Y\" or \"%m/%d/%Y\"")


def load_table(path: Path, fmt: str, delimiter: str | None, key: str) -> pd.DataFrame:
    """A CSV (values as text) or Parquet file; errors name ``key`` (the config key) or the file."""
    if not path.exists():
        raise ConfigurationError(f"{key}: {path} does not exist")
    if fmt == "auto":
        fmt = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    if fmt == "parquet":
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise ConfigurationError("reading Parquet needs pyarrow: pip install 'segsync[parquet]'") from None
    kwargs: dict = {"dtype": str, "keep_default_na": False, "na_values": [""]}
    if delimiter == "whitespace":
        kwargs["sep"] = r"\s+"
    elif delimiter:
        kwargs["sep"] = delimiter
    else:
        kwargs["sep"] = sniff_delimiter(path)
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise ConfigurationError(f"{key}: {path} is empty (not even a header row)") from None
    except UnicodeDecodeError:
        raise ConfigurationError(not_utf8(path, first_bad_utf8_line(path) or 1)) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise ConfigurationError(f"{path}: cannot be read as CSV ({_first_line(exc)})") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _one_row_per_transaction(lines: pd.DataFrame) -> pd.DataFrame:
    """Lines of one transaction id as one transaction: first customer and date, summed amount
    (NaN when a line's amount is not a number, which the quarantine then reports)."""
    amount = pd.to_numeric(lines["amount"], errors="coerce")
    total = amount.groupby(lines["transaction_id"], sort=False).sum(min_count=1)
    bad = amount.isna().groupby(lines["transaction_id"], sort=False).any()
    first = lines.drop_duplicates("transaction_id").set_index("transaction_id")
    first["amount"] = total.where(~bad).reindex(first.index)
    return first.reset_index()


def sniff_delimiter(path: Path) -> str:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8", errors="replace") as f:
        sample = f.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def first_bad_utf8_line(path: Path) -> int | None:
    """1-based line of the first byte sequence that is not UTF-8, None when there is none (read in
    chunks: files can be large)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk[: max(exc.start, 0)].count(b"\n")
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return line
    return None


def not_utf8(path: Path, line: int) -> str:
    """The refusal of a file that is not UTF-8 (both engines' files readers)."""
    return f"{path}: line {line} is not UTF-8; save the file as UTF-8"


def _first_line(exc: BaseException) -> str:
    """The parser's message on one line; its 0-based "row N" becomes the file's 1-based "line N + 1"."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\brow (\d+)", lambda m: f"line {int(m.group(1)) + 1}", text)


#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TEMP_PREFIX = ".segsync-"


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix every text cell a spreadsheet would run as a formula with a single quote (OWASP's advice).

    Only text columns are touched: a negative number is data, not a formula."""
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        text = out[col]
        risky = text.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
        if risky.any():
            out.loc[risky, col] = "'" + text[risky]
    return out


def remove_stale_temp_files(folder: Path) -> int:
    """Temp files a killed push left behind (the caller holds the state lock, so none is live)."""
    removed = 0
    for stale in folder.glob(f"{TEMP_PREFIX}*.csv"):
        stale.unlink(missing_ok=True)
        removed += 1
    return removed


def write_segments_csv(cfg: FilesDestination, base_dir: Path, table: pd.DataFrame) -> Path | None:
    """Write the desired state (one row per customer) atomically: a reader never sees half a file.

    None when the file already holds exactly these bytes: it is left untouched (same inode and
    modification time), so a run with nothing changed writes nothing and wakes no file watcher.
    """
    path = cfg.path if cfg.path.is_absolute() else base_dir / cfg.path
    try:
        return _replace_if_changed(path, table)
    except OSError as exc:  # a read-only or missing folder, a full disk: say which key to change
        raise ConfigurationError(f"destinations.files.path: cannot write {path} ({exc.strerror or exc}); "
                                 "give a path in a folder this user can write") from None


def _replace_if_changed(path: Path, table: pd.DataFrame) -> Path | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if removed := remove_stale_temp_files(path.parent):
        log.info("removed %d temp file(s) an interrupted run left in %s", removed, path.parent)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            neutralise_formulas(table).to_csv(f, index=False)
        if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
            return None
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
