"""The same tracking against a real `mlflow server` on 127.0.0.1 (what a data team runs):
runs, metrics, registered versions and the champion alias, read back with MlflowClient."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from connector.config import load_config
from connector.daemon import Daemon
from connector.state import StateStore

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

from tests.connector.lifecycle.test_lifecycle import START, config, cycle, population, write_until  # noqa: E402
from tests.reaper import watch  # noqa: E402

READY_SECONDS = 240  # a cold start imports a lot; on a loaded 2-core machine it took 45 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    proc = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "art")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch(proc.pid)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_SECONDS
    try:
        while True:  # readiness of a child process, not a timed assertion
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start (exit {proc.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_retrains_reach_a_tracking_server(tmp_path: Path, server: str) -> None:
    tx = population(300, seed=8)
    cfg = load_config(config(tmp_path, f"{{kind: mlflow, uri: '{server}', experiment: served}}"), env={})
    daemon = Daemon(cfg)
    with StateStore(tmp_path / "state.sqlite") as store:
        for end in (START - pd.Timedelta(days=60), START):
            write_until(tmp_path, tx, end)
            assert cycle(daemon, store) == "succeeded"
        champion = store.models.aliases("score", "buy_90d")["champion"]
    client = MlflowClient(tracking_uri=server, registry_uri=server)
    runs = client.search_runs([client.get_experiment_by_name("served").experiment_id])
    families = sorted(r.data.tags["segsync.family"] for r in runs)
    assert families.count("segsync-score-buy_90d") == 2 and "segsync-segmentation-default" in families
    assert all("roc_auc" in r.data.metrics for r in runs if r.data.tags["segsync.family"].startswith("segsync-score"))
    version = client.get_model_version_by_alias("segsync-score-buy_90d", "champion")
    assert version.tags["segsync.version"] == str(champion)
    loaded = mlflow.pyfunc.load_model("models:/segsync-score-buy_90d@champion")
    assert loaded.metadata.signature is not None
