"""End-to-end tests: the whole cycle against both sandbox CRMs in-process (see world.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.world import E2EWorld


@pytest.fixture
def world(tmp_path: Path) -> E2EWorld:
    """A fresh pair of sandbox CRMs holding 1,500 simulated customers."""
    return E2EWorld(tmp_path, n_customers=1500, seed=11)


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[frozenset[str], int]]]:
    """(columns, rows) of every result Spark hands to the driver (toPandas, collect, toLocalIterator)
    during the test."""
    from pyspark.sql.classic.dataframe import DataFrame

    seen: list[tuple[frozenset[str], int]] = []
    to_pandas, collect, local = DataFrame.toPandas, DataFrame.collect, DataFrame.toLocalIterator

    def spy_pandas(self: DataFrame) -> pd.DataFrame:
        out = to_pandas(self)
        seen.append((frozenset(out.columns), len(out)))
        return out

    def spy_collect(self: DataFrame) -> list:
        out = collect(self)
        seen.append((frozenset(self.columns), len(out)))
        return out

    def spy_local(self: DataFrame, prefetchPartitions: bool = False) -> Iterator:  # noqa: N803 - pyspark's name
        rows = list(local(self, prefetchPartitions))
        seen.append((frozenset(self.columns), len(rows)))
        return iter(rows)

    monkeypatch.setattr(DataFrame, "toPandas", spy_pandas)
    monkeypatch.setattr(DataFrame, "collect", spy_collect)
    monkeypatch.setattr(DataFrame, "toLocalIterator", spy_local)
    yield seen
