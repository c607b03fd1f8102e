"""One local[2] SparkSession for every Spark test (a JVM start costs seconds), tiny data, and one
standalone cluster (master, worker, Spark Connect server) for the tests that need one.

Shuffles use 4 partitions (the default 200 would dominate the run time of these small frames);
the UI is off and the driver binds to loopback; the driver JVM runs with the short-lived JVM's
options of cluster.py. The cluster starts once per test session, on the first test that asks
for it (tests/connector/engine/cluster.py), and only then.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from connector.config.engine import EngineConfig
from connector.sandbox.cdnow import cdnow_sample_transactions
from tests.connector.engine.cluster import JVM_OPTIONS, Cluster, start_cluster

CDNOW_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "CDNOW_sample.txt"
TEST_CONF = {
    "spark.sql.shuffle.partitions": 4,
    "spark.default.parallelism": 4,
    "spark.ui.enabled": False,
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": JVM_OPTIONS,
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
    _stop(session)


def _stop(session) -> None:
    """Stop the session and end its JVM now, not when the interpreter exits: py4j closes its
    connections while pytest still captures what they log, and the JVM (with its Python workers)
    is gone with pytest. Once: a module that imports this fixture holds a second registration of
    it, with the same session (getOrCreate)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    session.stop()
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = SparkContext._jvm = None
    if proc is not None and proc.stdin is not None:
        proc.stdin.close()  # the JVM exits at end of file on its stdin (pyspark's PythonGatewayServer)
        proc.wait(timeout=60)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A standalone master and worker on 127.0.0.1; with a Spark Connect server started beside the
    worker when a collected test asks for `connect_server`."""
    pytest.importorskip("pyspark")
    connect = any("connect_server" in getattr(item, "fixturenames", ()) for item in request.session.items)
    if connect:
        connect = _has_grpc()
    started = start_cluster(connect=connect)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def connect_server(cluster: Cluster) -> str:
    """The sc:// URL of a Spark Connect server (the jar ships in pyspark 4) whose sessions run on `cluster`."""
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (grpcio)")
    return cluster.connect()


def _has_grpc() -> bool:
    import importlib.util

    return importlib.util.find_spec("grpc") is not None


@pytest.fixture(scope="session")
def cdnow() -> pd.DataFrame:
    """The BG/NBD paper's CDNOW sample: 2,357 customers, 6,919 purchases (1997-1998)."""
    return cdnow_sample_transactions(CDNOW_SAMPLE)


def pytest_configure(config):
    # pyspark 4.3 warns on every Arrow conversion that it has not certified pandas 3 yet; the
    # parity tests below are what certifies the conversions segsync uses.
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated")
