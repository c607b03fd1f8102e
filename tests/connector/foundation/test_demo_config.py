"""The config `segsync demo` writes validates on its own, so status and report work on it later."""

from __future__ import annotations

from pathlib import Path

from connector.config import load_config
from connector.demo import CONFIG, EXPERIMENT


def test_demo_config_loads_without_the_demo_environment(tmp_path: Path) -> None:
    path = tmp_path / "segsync.yaml"
    path.write_text(CONFIG.format(sf_instance="https://127.0.0.1:9", experiment=EXPERIMENT, sf_client_id="3MVGdemo",
                                  sf_client_secret="sandbox-secret", hs_token="pat-na1-demo"))
    cfg = load_config(path, env={})
    assert cfg.sources.salesforce is not None and cfg.sources.hubspot is not None
    assert cfg.sources.salesforce.auth.client_secret is not None
    assert cfg.sources.salesforce.auth.client_secret.get_secret_value() == "sandbox-secret"
    assert cfg.sources.hubspot.auth.token is not None and cfg.sources.hubspot.auth.token.get_secret_value() == "pat-na1-demo"
    assert [e.key for e in cfg.experiments.items] == [EXPERIMENT]
    assert cfg.experiments.items[0].conversion_window_days == 30  # the scenario's window
    # the environment still wins, as for any secret
    env_cfg = load_config(path, env={"DEMO_HUBSPOT_TOKEN": "pat-other"})
    assert env_cfg.sources.hubspot is not None and env_cfg.sources.hubspot.auth.token is not None
    assert env_cfg.sources.hubspot.auth.token.get_secret_value() == "pat-other"
