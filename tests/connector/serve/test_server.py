"""The API on a real uvicorn server: snapshot swaps under load, and kill -9 while events are posted."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from connector.config import ServeConfig
from connector.serve.server import ApiServer
from connector.serve.snapshot import CURRENT
from connector.state import StateStore
from tests.connector.serve.conftest import Shop
from tests.reaper import watch


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _republish(directory: Path, base: str, version: int) -> None:
    """Version `version` of the snapshot: every buy_90d score is the base's + version (same protocol as publish)."""
    src = directory / base
    tmp, target = directory / f".run-{version}.tmp", directory / f"run-{version}"
    tmp.mkdir()
    with np.load(src / "columns.npz", allow_pickle=False) as data:
        cols = {k: data[k] for k in data.files}
    cols["score.buy_90d"] = cols["score.buy_90d"] + version
    np.savez(tmp / "columns.npz", **cols)
    meta = json.loads((src / "meta.json").read_text())
    (tmp / "meta.json").write_text(json.dumps({**meta, "version": version}))
    os.replace(tmp, target)
    (directory / "CURRENT.tmp").write_text(target.name)
    os.replace(directory / "CURRENT.tmp", directory / CURRENT)


def test_snapshot_swaps_under_load_fail_no_request_and_mix_no_versions(shop: Shop) -> None:
    cfg = shop.config
    cfg = cfg.model_copy(update={"serve": ServeConfig(port=0, reload_seconds=0.01, rate_limit_per_second=1e6, rate_limit_burst=10**6)})
    server = ApiServer(cfg)
    base = server.service.loaded().snapshot
    ids = base.ids[:50]
    expected = {cid: base.number("score.buy_90d", base.locate(cid)) for cid in ids}
    token = server.store.api_keys.create(frozenset({"read"}))[1]
    sock = _listening()
    server.start_background(sock)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    results: list[tuple[int, str | None, dict]] = []
    seen = threading.Condition()
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            while not stop.is_set():
                r = http.get(f"/v1/customers/{ids[rng.integers(len(ids))]}")
                with seen:
                    results.append((r.status_code, r.headers.get("X-Snapshot-Version"), r.json()))
                    seen.notify_all()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    directory = cfg.snapshot_dir()
    try:
        for version in range(1, 9):
            if version > 1:
                _republish(directory, "run-1", version)
            with seen:  # wait until clients have had 30 answers from this version
                assert seen.wait_for(lambda v=str(version): sum(h == v for _, h, _ in results[-200:]) >= 30, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        server.close()
    assert len(results) >= 240
    assert all(status == 200 for status, _, _ in results)
    versions = set()
    for _, header, body in results:
        v = body["snapshot_version"]
        versions.add(v)
        assert header == str(v) and body["run_id"] == v
        offset = 0 if v == 1 else v
        assert body["scores"]["buy_90d"] == pytest.approx(expected[body["customer_id"]] + offset)
    assert versions == set(range(1, 9))


def test_kill_9_while_events_are_posted_loses_no_acknowledged_event(shop: Shop, tmp_path: Path) -> None:
    cfg = shop.config
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        token = store.api_keys.create(frozenset({"events", "read"}))[1]
        ids = store.events.since(0)  # none yet
    assert ids.empty
    port = _free_port()
    proc = _start(shop, port)
    acked: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def poster(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
            for batch in range(10_000):
                events = [{"event_id": f"w{worker}-{batch}-{k}", "customer_id": f"S{k:07d}", "type": "view",
                           "occurred_at": "2026-02-27T09:00:00Z"} for k in range(10)]
                try:
                    r = http.post("/v1/events", json={"events": events})
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 202:
                    with lock:
                        acked.extend(e["event_id"] for e in events)
                        if len(acked) >= 3000:
                            enough.set()

    threads = [threading.Thread(target=poster, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    assert enough.wait(timeout=120)
    proc.send_signal(signal.SIGKILL)  # mid-stream: the posters are still sending
    proc.wait(timeout=30)
    for t in threads:
        t.join()
    with lock:
        acknowledged = set(acked)
    restarted = _start(shop, port)
    try:
        with StateStore(cfg.resolve(cfg.state.path)) as store:
            stored = set(store.events.since(0)["event_id"])
        assert acknowledged <= stored
        r = httpx.get(f"http://127.0.0.1:{port}/v1/customers/S0000001", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert r.json()["live"]["events"] >= sum(1 for e in acknowledged if e.endswith("-1"))
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(shop: Shop, port: int) -> subprocess.Popen[str]:
    """`segsync serve` in its own process; returns once uvicorn says it is listening."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "serve", str(shop.config_path), "--port", str(port)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    watch(proc.pid)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Uvicorn running on" in line:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc
    raise AssertionError(f"segsync serve exited with {proc.wait()}")


def test_tls_from_the_yaml_serves_https_only(shop: Shop, tmp_path: Path) -> None:
    from connector.sandbox.server import make_self_signed_cert

    cert, key = make_self_signed_cert(tmp_path / "tls")
    cfg = shop.config.model_copy(update={"serve": ServeConfig(port=0, tls_cert_file=cert, tls_key_file=key)})
    server = ApiServer(cfg)
    sock = _listening()
    server.start_background(sock)
    port = sock.getsockname()[1]
    try:
        r = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=ssl.create_default_context(cafile=str(cert)), timeout=30)
        assert r.status_code == 200 and r.json()["snapshot_version"] == 1
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not answered
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    finally:
        server.stop()
        server.close()
