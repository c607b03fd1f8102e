"""A real Spark cluster on this machine: a standalone master and one worker from pyspark's own
distribution on 127.0.0.1, and one segsync cycle through `engine: {master: spark://...}`.

The cycle (files source, bad rows, k-means, a propensity score, CLV, arms, files sink) runs in a
child process, as `segsync run` would (one process holds one SparkContext; the parity tests hold
a local one). Its output is compared with the same cycle on the pandas engine. The same cycle
then runs through a Spark Connect server whose sessions run on that cluster (`remote: sc://`;
the server is the standalone cycle's driver, SparkConnectPlugin, not a JVM of its own), and must exit: a fitted pyspark.ml model under Connect used to hang the process at exit (see
connector/engine/spark/session.py). The Connect child runs the cycle, then the model checks
(cluster_cycles.MODELS), one after the other: the ML cache they count is the session's.

The cluster and both children are the test session's (the `cluster_cycles` fixture of
conftest.py; tests/connector/engine/cluster_cycles.py): started with the session's first Spark
test, they run while the other tests run, and these tests, ordered last, read what they did.
Every JVM there stops with the pytest process that started it, even one killed without teardown.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from connector.cli import main as cli_main
from connector.state import StateStore
from tests.connector.engine.cluster import Cluster
from tests.connector.engine.cluster_cycles import BAD, ClusterCycles, write_config

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


def _outputs(cfg: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    segments = pd.read_csv(cfg.parent / "out" / "segments.csv", dtype={"customer_id": str}).set_index("customer_id")
    with StateStore(cfg.parent / "state.sqlite") as store:
        rejected = store.rejected.open()
    return segments.sort_index(), dict(zip(rejected["record_key"], rejected["reason"], strict=True))


@pytest.fixture(scope="module")
def pandas_cfg(cluster_cycles: ClusterCycles) -> Path:
    """The same cycle on the pandas engine, in this process, on the cluster cycles' shop."""
    cfg = write_config(cluster_cycles.started().root / "pandas", "")  # the shop is written first
    assert cli_main(["run", str(cfg)]) == 0
    return cfg


@pytest.fixture(scope="module")
def good(cluster_cycles: ClusterCycles) -> pd.DataFrame:
    """The shop's good rows."""
    rows = cluster_cycles.started().good
    assert rows is not None
    return rows


def test_a_cycle_through_a_standalone_cluster(cluster_cycles: ClusterCycles, cluster: Cluster, pandas_cfg: Path,
                                              good: pd.DataFrame) -> None:
    code, out, err = cluster_cycles.wait("standalone")
    assert code == 0, out[-3000:] + err[-3000:]
    # the work ran on the cluster: the master registered the app, the worker launched its executor
    # (the Connect server's app runs there too: the lines name segsync's)
    master, worker = cluster.master.lines, cluster.worker.lines
    assert any("Registering app segsync" in line for line in master), "".join(master[-20:])
    assert any("Asked to launch executor" in line and "for segsync" in line for line in worker), "".join(worker[-20:])
    _same_outputs(pandas_cfg, cluster_cycles.root / "spark" / "segsync.yaml", good)


def test_a_cycle_through_spark_connect(cluster_cycles: ClusterCycles, connect_url: str, pandas_cfg: Path,
                                       good: pd.DataFrame) -> None:
    code, out, err = cluster_cycles.wait("connect")  # returns: the process exits once the cycle is done
    assert "cycle exit code: 0" in out.splitlines(), out[-3000:] + err[-3000:]
    _same_outputs(pandas_cfg, cluster_cycles.root / "connect" / "segsync.yaml", good)


def test_connect_models_are_released_and_the_process_exits(cluster_cycles: ClusterCycles, connect_url: str) -> None:
    code, out, err = cluster_cycles.wait("connect", timeout=300)  # without the fix: waits forever at exit
    assert code == 0, out[-3000:] + err[-3000:]
    lines = out.splitlines()
    refused = next(line for line in lines if line.startswith("refused:"))
    assert "spark_conf: the Spark Connect server refused spark.executor.memory" in refused and "2g" not in refused
    assert "partitions: 3" in lines
    # the probe sees its held model, and the cycle left none on the server
    assert "cached while a model is held: 1" in lines
    assert lines[-1] == "exiting"


def _same_outputs(pandas_cfg: Path, spark_cfg: Path, good: pd.DataFrame) -> None:
    expected, expected_rejected = _outputs(pandas_cfg)
    got, got_rejected = _outputs(spark_cfg)
    assert got_rejected == expected_rejected and len(got_rejected) == len(BAD)
    assert list(got.index) == list(expected.index) == sorted(good["CustomerID"].unique())
    assert adjusted_rand_score(expected["segment_id"], got["segment_id"]) >= 0.95
    assert sorted(got["segment_name"].unique()) == sorted(expected["segment_name"].unique())
    np.testing.assert_allclose(got["clv"], expected["clv"], rtol=0.01)
    np.testing.assert_allclose(got["buy_90d"], expected["buy_90d"], atol=1e-9)
    assert (got["arm"] == expected["arm"]).mean() >= 0.95
