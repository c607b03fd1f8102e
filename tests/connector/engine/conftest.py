"""One local[2] SparkSession for every Spark test (a JVM start costs seconds), tiny data.

Shuffles use 4 partitions (the default 200 would dominate the run time of these small frames);
the UI is off and the driver binds to loopback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector.config.engine import EngineConfig
from connector.sandbox.cdnow import cdnow_sample_transactions

CDNOW_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "CDNOW_sample.txt"
TEST_CONF = {
    "spark.sql.shuffle.partitions": 4,
    "spark.default.parallelism": 4,
    "spark.ui.enabled": False,
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.ui.showConsoleProgress": False,
    # the Python workers print pyspark's pandas-3 FutureWarning once per task otherwise
    "spark.executorEnv.PYTHONWARNINGS": "ignore::FutureWarning",
}


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from connector.engine.spark.session import spark_session

    session = spark_session(EngineConfig(kind="spark", master="local[2]", spark_conf=TEST_CONF))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """The BG/NBD paper's CDNOW sample: 2,357 customers, 6,919 purchases (1997-1998)."""
    return cdnow_sample_transactions(CDNOW_SAMPLE)


def pytest_configure(config):
    # pyspark 4.3 warns on every Arrow conversion that it has not certified pandas 3 yet; the
    # parity tests below are what certifies the conversions segsync uses.
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated")
