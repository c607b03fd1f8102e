"""A real Spark cluster on this machine: a standalone master and one worker from pyspark's own
distribution on 127.0.0.1, and one segsync cycle through `engine: {master: spark://...}`.

The cycle (files source, bad rows, k-means, a propensity score, CLV, arms, files sink) runs in a
child process, as `segsync run` would (one process holds one SparkContext; the parity tests hold
a local one). Its output is compared with the same cycle on the pandas engine. The same cycle
then runs through a Spark Connect server whose sessions run on that cluster (`remote: sc://`),
and must exit: a fitted pyspark.ml model under Connect used to hang the process at exit (see
connector/engine/spark/session.py).

The two child processes run at the same time, each on its own executor (the worker has slots for
both): each test waits for its own. The Connect child runs the cycle, then the model checks
(MODELS), one after the other: the ML cache they count is the session's.

The master, worker and Connect server are the test session's (the `cluster` and `connect_server`
fixtures of conftest.py, started once; tests/connector/engine/cluster.py): every JVM there stops
with the pytest process that started it, even one killed without teardown.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from connector.cli import main as cli_main
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario
from connector.state import StateStore
from tests.connector.engine.cluster import APP_CONF, Cluster
from tests.reaper import watch

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

CONFIG = """\
version: 1
state: {path: state.sqlite}
sources:
  files: {transactions: ../data/transactions.csv}
destinations:
  files: {path: out/segments.csv}
segmentation: {method: kmeans, k: 3, sample_size: 1000}
scoring:
  targets: [{name: buy_90d, kind: propensity, horizon_days: 90}]
  models: [logistic]
experiments:
  items:
    - key: welcome
      arms: [{name: control, weight: 0.5, control: true}, {name: offer, weight: 0.5}]
"""
BAD = [("", "15.00", "2026-01-12"), (None, "-10.00", "2026-01-10"), (None, "12,50 EUR", "2026-01-11"),
       (None, "20.00", "yesterday")]


def _shop(root: Path) -> pd.DataFrame:
    pop = PopulationGenerator(load_scenario("default"), 400, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"),
                              random_state=4).generate()
    tx = pop.transactions
    good = pd.DataFrame({"CustomerID": tx["customer_id"].astype(str), "amount": tx["amount"].map(lambda a: f"{a:.2f}"),
                         "date": tx["occurred_at"].dt.strftime("%Y-%m-%d")})
    owner = good["CustomerID"].iloc[0]
    bad = pd.DataFrame([(owner if c is None else c, a, d) for c, a, d in BAD], columns=good.columns)
    (root / "data").mkdir()
    pd.concat([good, bad], ignore_index=True).to_csv(root / "data" / "transactions.csv", index=False)
    return good


def _config(folder: Path, engine: str) -> Path:
    folder.mkdir()
    (folder / "segsync.yaml").write_text(CONFIG + engine, encoding="utf-8")
    return folder / "segsync.yaml"


def _outputs(cfg: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    segments = pd.read_csv(cfg.parent / "out" / "segments.csv", dtype={"customer_id": str}).set_index("customer_id")
    with StateStore(cfg.parent / "state.sqlite") as store:
        rejected = store.rejected.open()
    return segments.sort_index(), dict(zip(rejected["record_key"], rejected["reason"], strict=True))


class Child:
    """A Python child process started now; its output goes to files (a pipe nobody reads while
    another test runs would fill and stall it). `wait` returns (exit code, stdout, stderr)."""

    def __init__(self, code: str, args: list[str], folder: Path) -> None:
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONWARNINGS": "ignore::FutureWarning"}
        folder.mkdir(parents=True, exist_ok=True)
        self.out, self.err = folder / "stdout.txt", folder / "stderr.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=out, stderr=err)
        watch(self.proc.pid)

    def wait(self, timeout: float = 900) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)  # without the exit fix: waits forever
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code, self.out.read_text(), self.err.read_text()


#: `segsync run CONFIG` in a child process (one SparkContext per process); then, when a Connect
#: URL follows, the model checks of MODELS in the same process and session.
CYCLE = """
import sys
from connector.cli import main
code = main(["run", sys.argv[1]])
print("cycle exit code:", code, flush=True)
if code or len(sys.argv) < 3:
    sys.exit(code)
del sys.argv[1]
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The shop's CSV (good rows and BAD), and the folder every config is written in."""
    root = tmp_path_factory.mktemp("shop")
    return root, _shop(root)


@pytest.fixture(scope="module")
def children(request: pytest.FixtureRequest, cluster: Cluster, shop) -> dict[str, Child]:
    """The Spark cycles of this module's tests, all started before the first is waited for."""
    root, _ = shop
    spark_cfg = _config(root / "spark", f'engine:\n  kind: spark\n  master: "{cluster.url}"\n' + SPARK_CONF)
    started = {"standalone": Child(CYCLE, [str(spark_cfg)], root / "spark" / "log")}
    if any("connect_server" in item.fixturenames for item in request.session.items
           if getattr(item, "module", None) is request.module):
        url = request.getfixturevalue("connect_server")
        connect_cfg = _config(root / "connect", f'engine:\n  kind: spark\n  remote: "{url}"\n')
        started["connect"] = Child(CYCLE + MODELS, [str(connect_cfg), url], root / "connect" / "log")
    return started


@pytest.fixture(scope="module")
def pandas_cfg(shop, children) -> Path:
    """The same cycle on the pandas engine (in this process, while the children run)."""
    root, _ = shop
    cfg = _config(root / "pandas", "")
    assert cli_main(["run", str(cfg)]) == 0
    return cfg


#: The cluster's app settings (loopback, executor memory, cores, JVM options) as YAML.
SPARK_CONF = "  spark_conf:\n" + "".join(f'    {key}: "{value}"\n' for key, value in APP_CONF.items())


def test_a_cycle_through_a_standalone_cluster(cluster: Cluster, children, pandas_cfg, shop) -> None:
    code, out, err = children["standalone"].wait()
    assert code == 0, out[-3000:] + err[-3000:]
    # the work ran on the cluster: the master registered the app, the worker launched its executor
    # (the Connect server's app runs there too: the lines name segsync's)
    master, worker = cluster.master.lines, cluster.worker.lines
    assert any("Registering app segsync" in line for line in master), "".join(master[-20:])
    assert any("Asked to launch executor" in line and "for segsync" in line for line in worker), "".join(worker[-20:])
    _same_outputs(pandas_cfg, shop[0] / "spark" / "segsync.yaml", shop[1])


def test_a_cycle_through_spark_connect(connect_server, children, pandas_cfg, shop) -> None:
    code, out, err = children["connect"].wait()  # returns: the process exits once the cycle is done
    assert "cycle exit code: 0" in out.splitlines(), out[-3000:] + err[-3000:]
    _same_outputs(pandas_cfg, shop[0] / "connect" / "segsync.yaml", shop[1])


#: After the Connect cycle, in its process: spark_conf through remote, a model left to the
#: interpreter's last collection (the case that hung), then exit.
MODELS = """
import gc
from connector.config.engine import EngineConfig
from connector.crm.errors import ConfigurationError
from connector.engine.spark.session import spark_session
url = sys.argv[1]
try:
    spark_session(EngineConfig(kind="spark", remote=url, spark_conf={"spark.executor.memory": "2g"}))
except ConfigurationError as exc:
    print("refused:", exc)
spark = spark_session(EngineConfig(kind="spark", remote=url, spark_conf={"spark.sql.shuffle.partitions": 3}))
print("partitions:", spark.conf.get("spark.sql.shuffle.partitions"))
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import VectorAssembler
points = spark.range(90).selectExpr("(id % 3) * 10 + rand(1) as x", "(id % 3) * -5 + rand(2) as y")
vectors = VectorAssembler(inputCols=["x", "y"], outputCol="features").transform(points).select("features")
gc.set_threshold(10**9)  # no automatic collection from here: a cycle waits for the interpreter's final one
kept = KMeans(k=3, seed=1).fit(vectors)
print("cached while a model is held:", len(spark.client._get_ml_cache_info()))
del kept  # model -> summary -> its DataFrame's plan -> model: only the collector frees it
print("exiting")
"""


def test_connect_models_are_released_and_the_process_exits(connect_server, children) -> None:
    code, out, err = children["connect"].wait(timeout=300)  # without the fix: waits forever at exit
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
