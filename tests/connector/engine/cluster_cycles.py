"""The segsync cycles the cluster tests run (tests/connector/engine/test_spark_cluster.py), started
at the start of the test session and waited for at its end.

Each cycle is a `segsync run` in a child process (one process holds one SparkContext, and the
test process holds the local one): one through `master: spark://` on the standalone cluster of
cluster.py, one through Spark Connect (`remote: sc://`), followed in that process by the model
checks of MODELS. The Connect server is the standalone cycle's driver (HOST): its session is
started with SparkConnectPlugin (cluster.CONNECT_CONF) before the cycle runs, so its sessions run
on the cluster through that application's executor, and the process stays up after its cycle until
the Connect child is done. One driver JVM and one executor fewer than a server of its own (about
40 CPU seconds of the Spark tests). Their JVMs (the master, worker, the host's driver and its
executor) start and work for about a minute, most of it waiting on one another; the tests of this
process use the same minute (the conftest starts `ClusterCycles` on the session's first Spark
test and orders the tests that wait for it last). Nothing here changes what the cycles do or what
the tests assert, only when the waiting happens.

The shop: 400 simulated customers' purchases in a CSV, and BAD rows the quarantine must reject.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario
from tests.connector.engine.cluster import (
    APP_CONF,
    CONNECT_CONF,
    LOW_PRIORITY,
    Cluster,
    free_port,
    start_cluster,
)
from tests.reaper import watch

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
#: The cluster's app settings (loopback, executor memory, cores, JVM options) as YAML.
SPARK_CONF = "  spark_conf:\n" + "".join(f'    {key}: "{value}"\n' for key, value in APP_CONF.items())

#: `segsync run CONFIG` whose driver serves Spark Connect (its spark_conf holds CONNECT_CONF): the
#: session is started first and "ready" written to the file descriptor READY; after the cycle the
#: driver (and the Connect server in it) stays up until this process's stdin is closed.
HOST = """
import os
import sys
from connector.cli import main
from connector.config import load_config
from connector.engine.spark.session import spark_session
config, ready = sys.argv[1], int(sys.argv[2])
spark_session(load_config(config).engine)  # the cycle's own session (getOrCreate hands it to the run)
os.write(ready, b"ready\\n")
os.close(ready)
code = main(["run", config])
print("cycle exit code:", code, flush=True)
sys.stdin.read()
sys.exit(code)
"""
#: `segsync run CONFIG` in a child process; then, when a Connect URL follows, the model checks of
#: MODELS in the same process and session.
CYCLE = """
import sys
from connector.cli import main
code = main(["run", sys.argv[1]])
print("cycle exit code:", code, flush=True)
if code or len(sys.argv) < 3:
    sys.exit(code)
del sys.argv[1]
"""
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


def write_shop(root: Path) -> pd.DataFrame:
    """The shop's CSV under root/data (good rows and BAD); returns the good rows."""
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


def write_config(folder: Path, engine: str) -> Path:
    """folder/segsync.yaml: CONFIG with `engine` (YAML text, empty for the pandas engine)."""
    folder.mkdir()
    (folder / "segsync.yaml").write_text(CONFIG + engine, encoding="utf-8")
    return folder / "segsync.yaml"


class Child:
    """A Python child process started now; its output goes to files (a pipe nobody reads while
    another test runs would fill and stall it). `wait` returns (exit code, stdout, stderr)."""

    def __init__(self, code: str, args: list[str], folder: Path, environ: dict[str, str],
                 pass_fds: tuple[int, ...] = ()) -> None:
        env = {**environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONWARNINGS": "ignore::FutureWarning"}
        folder.mkdir(parents=True, exist_ok=True)
        self.out, self.err = folder / "stdout.txt", folder / "stderr.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([*LOW_PRIORITY, sys.executable, "-c", code, *args], env=env,
                                         stdin=subprocess.PIPE, stdout=out, stderr=err, pass_fds=pass_fds)
        watch(self.proc.pid)

    def release(self) -> None:
        """Close its stdin (HOST: the Connect server may go)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout: float = 900) -> tuple[int, str, str]:
        try:
            code = self.proc.wait(timeout=timeout)  # without the Connect exit fix: waits forever
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code, self.out.read_text(), self.err.read_text()

    def stop(self) -> None:
        self.release()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


class ClusterCycles:
    """The cluster and its cycles, started on a thread now: the shop, the master and worker, then
    each child as soon as what it needs is up (with `connect`: the standalone cycle's driver serving
    Spark Connect, then the Connect cycle). `started()` waits for all that (an error on the way is
    raised there); `wait(name)` for one child."""

    def __init__(self, root: Path, *, connect: bool) -> None:
        self.root, self.connect_wanted = root, connect
        # os.environ now, in the fixture: the thread starts processes while tests run, and a test
        # may have patched the environment meanwhile (a fake JAVA_HOME: tests/connector/engine/test_engine_config.py)
        self.environ = dict(os.environ)
        self.good: pd.DataFrame | None = None
        self.cluster: Cluster | None = None
        self.connect_url: str | None = None  # sc://127.0.0.1:PORT, the standalone cycle's driver
        self.children: dict[str, Child] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cluster-cycles")
        self._start: Future[ClusterCycles] = self._pool.submit(self._run)

    def _run(self) -> ClusterCycles:
        self.good = write_shop(self.root)
        self.cluster = start_cluster(self.environ)
        engine = f'engine:\n  kind: spark\n  master: "{self.cluster.url}"\n' + SPARK_CONF
        if not self.connect_wanted:
            cfg = write_config(self.root / "spark", engine)
            self.children["standalone"] = Child(CYCLE, [str(cfg)], self.root / "spark" / "log", self.environ)
            return self
        port = free_port()
        serving = "".join(f'    {key}: "{value.format(port=port)}"\n' for key, value in CONNECT_CONF.items())
        cfg = write_config(self.root / "spark", engine + serving)
        self.connect_url = f"sc://127.0.0.1:{port}"
        self.children["standalone"] = _host(cfg, self.root / "spark" / "log", self.environ)
        cfg = write_config(self.root / "connect", f'engine:\n  kind: spark\n  remote: "{self.connect_url}"\n')
        self.children["connect"] = Child(CYCLE + MODELS, [str(cfg), self.connect_url], self.root / "connect" / "log",
                                      self.environ)
        return self

    def started(self) -> ClusterCycles:
        return self._start.result()

    def wait(self, name: str, timeout: float = 900) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of the cycle `name` ("standalone" or "connect"); the start's
        error if it never started. The standalone child ends after the Connect child (it serves it)."""
        self._start.exception()
        if name not in self.children:
            self.started()
        if name == "standalone" and "connect" in self.children:  # its driver serves the Connect cycle: until that ends
            self.children["connect"].proc.wait(timeout)
            self.children["standalone"].release()
        return self.children[name].wait(timeout)

    def stop(self) -> None:
        """Everything this started stopped, whether or not the start got to the end."""
        try:
            self._start.exception()  # the start finishes (or fails) before anything is stopped
        finally:
            self._pool.shutdown()
            for child in self.children.values():
                child.stop()
            if self.cluster is not None:
                self.cluster.stop()


def _host(cfg: Path, folder: Path, environ: dict[str, str]) -> Child:
    """HOST on `cfg`, once its driver serves Spark Connect (AssertionError with its log if it never does)."""
    read, write = os.pipe()
    try:
        host = Child(HOST, [str(cfg), str(write)], folder, environ, pass_fds=(write,))
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as ready:
        line = ready.readline()  # end of file if the child exits first
    if line != b"ready\n":
        host.stop()
        raise AssertionError(f"the standalone driver did not start serving Spark Connect:\n{host.err.read_text()[-3000:]}")
    return host
