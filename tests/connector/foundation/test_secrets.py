"""A secret set in the environment never appears in logs, error messages or the state file."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

from connector.config import load_config, secret_values
from connector.logs import configure_logging
from connector.pipeline import CycleContext, run_cycle
from connector.state import StateStore

SECRET = "pat-na1-5ecr3t-d0-not-leak-4242"


def test_secret_absent_from_logs_state_and_errors(tmp_path: Path) -> None:
    cfg_path = tmp_path / "segsync.yaml"
    cfg_path.write_text("state:\n  path: s.sqlite\nsources:\n  hubspot:\n    auth:\n      method: token\n      token: ${HS_TOKEN}\n")
    cfg = load_config(cfg_path, env={"HS_TOKEN": SECRET})
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secret_values(cfg), stream=stream)
    log = logging.getLogger("segsync.test")

    def leaky(ctx: CycleContext) -> None:
        token = ctx.config.sources.hubspot.auth.token.get_secret_value()
        log.info("calling with Authorization: Bearer %s", token)
        log.debug("header dump %s", {"Authorization": f"Bearer {token}"})
        ctx.store.rejected.add(ctx.run_id, "push", "hubspot", [{"record_key": "1", "reason": f"refused for {token}", "payload": {"t": token}}])
        raise RuntimeError(f"request failed with token {token}")

    store = StateStore(tmp_path / "s.sqlite", redact=secret_values(cfg))
    result = run_cycle(cfg, store, steps={"pull": leaky})
    store.close()
    assert result.status == "failed"
    assert result.error is not None and "request failed with token **********" in result.error
    output = stream.getvalue()
    assert "Bearer **********" in output and "RuntimeError" in output
    assert SECRET not in output
    for f in tmp_path.iterdir():
        assert SECRET.encode() not in f.read_bytes(), f
    logging.getLogger().handlers.clear()


def test_secret_absent_from_validate_output(tmp_path: Path) -> None:
    cfg_path = tmp_path / "segsync.yaml"
    cfg_path.write_text("sources:\n  hubspot:\n    base_url: ${HS_TOKEN}\n    auth:\n      method: oauth\n      client_id: ${HS_TOKEN}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "connector.cli", "validate", str(cfg_path)],
        capture_output=True, text=True, env={"HS_TOKEN": SECRET, "PATH": "/usr/bin:/bin"}, timeout=60,
    )
    assert proc.returncode == 2
    assert "sources.hubspot.auth: method oauth needs client_secret, refresh_token" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
