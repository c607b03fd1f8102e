"""One local[2] SparkSession for every Spark test (a JVM start costs seconds), tiny data, and one
standalone cluster (master, worker; the standalone cycle's driver serves Spark Connect) for the
tests that need one.

Shuffles use 2 partitions, one per core (the default 200 would dominate the run time of these
small frames, and every partition is a task to schedule and run: 4 cost about 5 % more); the UI
is off and the driver binds to loopback. The driver JVM keeps the serial collector of cluster.py's
JVM_OPTIONS but not its C1-only JIT: it lives for the whole run (minutes, thousands of queries),
where C2's faster code repays its compiling (measured with benchmarks/bench_spark_tests.py: the
run 7 s shorter, the last tests 10-20 % faster). The cluster and the cycles run through it start
once per test session, on a thread, with the first Spark test, when a collected test waits for
them (cluster_cycles.py); those tests run last, so the cycles run while the other tests do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from connector.config.engine import EngineConfig
from connector.sandbox.cdnow import cdnow_sample_transactions
from tests.connector.engine.cluster import LONG_LIVED_JVM_OPTIONS, Cluster
from tests.connector.engine.cluster_cycles import ClusterCycles

CDNOW_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "CDNOW_sample.txt"
TEST_CONF = {
    "spark.sql.shuffle.partitions": 2,
    "spark.default.parallelism": 2,
    "spark.ui.enabled": False,
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.memory": "1g",
    "spark.driver.extraJavaOptions": LONG_LIVED_JVM_OPTIONS,
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
def cluster_cycles(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterCycles]:
    """The standalone cluster (master, worker; the standalone cycle's driver serves Spark Connect
    when a collected test asks for `connect_url`) and the segsync cycles run through it, started on a
    thread (tests/connector/engine/cluster_cycles.py); stopped at the end of the session."""
    pytest.importorskip("pyspark")
    connect = any("connect_url" in getattr(item, "fixturenames", ()) for item in request.session.items)
    cycles = ClusterCycles(tmp_path_factory.mktemp("shop"), connect=connect and _has_grpc())
    try:
        yield cycles
    finally:
        cycles.stop()


@pytest.fixture(scope="session")
def cluster(cluster_cycles: ClusterCycles) -> Cluster:
    """The running master and worker (spark://127.0.0.1:PORT) of cluster_cycles."""
    cluster = cluster_cycles.started().cluster
    assert cluster is not None
    return cluster


@pytest.fixture(scope="session")
def connect_url(cluster_cycles: ClusterCycles) -> str:
    """The sc:// URL of the Spark Connect server (the jar ships in pyspark 4): the standalone cycle's
    driver, whose sessions run on `cluster`."""
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (grpcio)")
    url = cluster_cycles.started().connect_url
    assert url is not None
    return url


@pytest.fixture(scope="session", autouse=True)
def _cluster_cycles_early(request: pytest.FixtureRequest) -> None:
    """cluster_cycles started with the session's first Spark test, not when the first test that
    waits for it comes (last: pytest_collection_modifyitems): its JVMs start and its cycles run
    while the other tests run, instead of the test process waiting a minute for them."""
    if _has_pyspark() and any(_waits_for_cluster(item) for item in request.session.items):
        request.getfixturevalue("cluster_cycles")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that wait for the cluster's cycles run last (in their own order)."""
    late = [item for item in items if _waits_for_cluster(item)]
    if late:
        items[:] = [item for item in items if not _waits_for_cluster(item)] + late


def _waits_for_cluster(item: pytest.Item) -> bool:
    return "cluster_cycles" in getattr(item, "fixturenames", ())


def _has_pyspark() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None


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
