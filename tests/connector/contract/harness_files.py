"""The files harness of the contract suite: a CSV of purchases in a temporary folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from connector.config import FilesDestination, FilesSource
from connector.crm.files import FilesPlugin

ROWS = """CustomerID,date,amount,sku
c1,2026-01-02,10.50,A
c1,2026-01-05,3.00,B
c2,2026-01-03,7.25,A
c3,2026-01-04,not a number,C
"""


class FilesHarness:
    name = "files"
    kind = "table"

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory()
        self.folder = Path(self._folder.name)
        (self.folder / "purchases.csv").write_text(ROWS)

    def plugin(self, with_line_items: bool = False) -> FilesPlugin:
        source = FilesSource(transactions=Path("purchases.csv"), product_column="sku" if with_line_items else None)
        return FilesPlugin(source, FilesDestination(path=Path("out/segments.csv")), self.folder)

    def expected_customers(self) -> set[str]:
        return {"c1", "c2", "c3"}

    def read_output(self) -> pd.DataFrame:
        return pd.read_csv(self.folder / "out" / "segments.csv", dtype=str, keep_default_na=False)

    def close(self) -> None:
        self._folder.cleanup()


HARNESS = FilesHarness
