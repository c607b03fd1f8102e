"""The commands: `segsync apikey create|list|revoke`, the `serve:` section, and the daemon serving beside its schedule."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from connector.cli import main as cli_main
from connector.config import load_config
from connector.crm.errors import ConfigurationError
from connector.daemon import Daemon
from connector.state import StateStore
from connector.state.api_keys import verify_token
from tests.connector.serve.conftest import Shop


def test_apikey_create_prints_the_key_alone_on_its_last_line_and_stores_only_its_hash(shop: Shop, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(shop.config_path)
    assert cli_main(["apikey", "create", cfg, "--scope", "read,events", "--name", "web"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("ssk_") and " " not in token
    with StateStore(shop.config.resolve(shop.config.state.path)) as store:
        found = verify_token(token, store.api_keys.active_hashes())
        dump = "\n".join(store.conn.iterdump())
    assert found is not None and found[1] == frozenset({"read", "events"})
    assert token.split("_", 2)[2] not in dump

    assert cli_main(["apikey", "list", cfg]) == 0
    listed = capsys.readouterr().out
    assert found[0] in listed and "events,read" in listed and "active" in listed and token not in listed
    assert cli_main(["apikey", "revoke", cfg, found[0]]) == 0
    assert cli_main(["apikey", "revoke", cfg, found[0]]) == 2  # no active key with that id any more
    assert cli_main(["apikey", "list", cfg]) == 0
    assert "revoked" in capsys.readouterr().out
    assert cli_main(["apikey", "create", cfg, "--scope", "read,admin"]) == 2
    assert "admin" in capsys.readouterr().err


def test_serve_section_is_validated(tmp_path: Path) -> None:
    p = tmp_path / "segsync.yaml"
    p.write_text("serve:\n  tls_cert_file: cert.pem\n")
    with pytest.raises(ConfigurationError, match="tls_key_file"):
        load_config(p)
    p.write_text("serve:\n  port: 8081\n  colour: blue\n")
    with pytest.raises(ConfigurationError, match="colour"):
        load_config(p)
    p.write_text("state:\n  path: s/state.sqlite\nserve:\n  port: 8081\n")
    cfg = load_config(p)
    assert cfg.serve is not None and cfg.serve.host == "127.0.0.1"
    assert cfg.snapshot_dir() == tmp_path / "s" / "state.sqlite.snapshots"


def test_the_daemon_serves_the_api_beside_its_schedule(shop: Shop) -> None:
    cfg = shop.config
    ready = threading.Event()
    daemon = Daemon(cfg, steps={})  # no cycle work: the API serves the snapshot already published
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False, "on_ready": ready.set})
    thread.start()
    try:
        assert ready.wait(60)
        assert daemon.api is not None and daemon.api.port > 0
        with StateStore(cfg.resolve(cfg.state.path)) as store:
            token = store.api_keys.create(frozenset({"read"}))[1]
        base = f"http://127.0.0.1:{daemon.api.port}"
        assert httpx.get(f"{base}/readyz", timeout=30).json()["snapshot_version"] == 1
        r = httpx.get(f"{base}/v1/customers/S0000001", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200 and r.json()["customer_id"] == "S0000001"
    finally:
        daemon.request_stop()
        thread.join(60)
    assert not thread.is_alive()
