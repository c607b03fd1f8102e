"""Property (issue 14): any transactions file either runs, every row clean or quarantined, or is
refused with one message naming the file and the line; never a traceback, never an output
written over an input.

Hypothesis writes CSV files from hostile pieces: formula-looking and unicode ids, quotes,
delimiters and line breaks inside values, dates far in the future or past, huge, negative and
non-numeric amounts, ragged rows, invalid UTF-8 and NUL bytes, empty files and missing columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.cli import main as cli_main
from connector.state import StateStore

IDS = st.one_of(
    st.sampled_from(["C1", "C2", "C3", "=1+1", "+cmd", "-2", "@SUM(A1)", "\t=x", " C1 ", "", "Zoë🎉", 'a"b', "a,b", "a\nb"]),
    st.text(min_size=0, max_size=12),
)
DATES = st.one_of(
    st.sampled_from(["2026-01-05", "2025-06-30T12:00:00Z", "2099-01-01", "9999-12-31", "1899-01-01", "0001-01-01",
                     "31/02/2026", "yesterday", "", "2026-13-45", "20260105"]),
    st.dates().map(str),
    st.text(max_size=10),
)
AMOUNTS = st.one_of(
    st.sampled_from(["10", "12.50", "-5", "0", "1e308", "1e400", "inf", "-inf", "nan", "NaN", "", "12,50 EUR", "1_000"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
ROW = st.tuples(IDS, DATES, AMOUNTS)
HEADERS = st.sampled_from([("CustomerID", "date", "amount"), ("CustomerID", "amount", "date"), ("CustomerID", "date"),
                           ("customer", "date", "amount")])


@st.composite
def files(draw: st.DrawFn) -> bytes:
    header = draw(HEADERS)
    rows = draw(st.lists(ROW, min_size=0, max_size=25))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in rows:
        extra = draw(st.sampled_from([(), (), (), ("extra",)]))  # now and then a ragged row
        writer.writerow([*row[: len(header)], *extra])
    data = buf.getvalue().encode("utf-8")
    damage = draw(st.sampled_from(["none", "none", "none", "latin1", "nul", "empty", "truncate"]))
    if damage == "latin1":
        data += b"C9,2026-01-01,caf\xe9\n"
    elif damage == "nul":
        data += b"C9,2026-01-01,1\x000\n"
    elif damage == "empty":
        data = b""
    elif damage == "truncate":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    return data


CONFIG = {
    "state": {"path": "state.sqlite"},
    "sources": {"files": {"transactions": "tx.csv", "delimiter": ","}},
    "destinations": {"files": {"path": "out/segments.csv"}},
    "segmentation": {"method": "rfm"},
    "scoring": {"clv": {"enabled": False}},
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(content=files())
def test_any_transactions_file_runs_or_is_refused_with_file_and_line(content: bytes) -> None:
    import contextlib

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tx = folder / "tx.csv"
        tx.write_bytes(content)
        cfg = folder / "segsync.yaml"
        cfg.write_text(json.dumps(CONFIG), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(["run", str(cfg)])
        errors = err.getvalue()
        assert "Traceback" not in errors, errors
        assert tx.read_bytes() == content  # the input is never written over
        assert code in (0, 2), errors
        if code == 2:
            message = [line for line in errors.splitlines() if str(tx) in line][-1]
            assert re.search(r"line \d+|empty", message), message
            return
        with StateStore(folder / "state.sqlite") as store:
            [run] = store.runs.last(1)
        assert run.status == "succeeded", run.error
        counts = run.counts
        assert counts.get("transactions", 0) + counts.get("rejected_rows", 0) == counts.get("pulled_files_transactions", 0)
        written = folder / "out" / "segments.csv"
        if counts.get("customers"):
            with written.open(newline="", encoding="utf-8") as f:
                cells = [c for row in list(csv.reader(f))[1:] for c in row]
            assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(c)]  # no formula
        else:
            assert "nothing was segmented" in out.getvalue()


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
