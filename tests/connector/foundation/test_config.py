"""Config loading: every error class names file, line and key path; env interpolation; the example validates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connector.config import (
    ConfigurationError,
    interpolate,
    json_schema,
    load_config,
    secret_values,
)

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "segsync.yaml"
    p.write_text(text)
    return p


def errors_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigurationError) as exc:
        load_config(path, env=env or {})
    return str(exc.value).splitlines()


SF = """sources:
  salesforce:
    instance_url: https://acme.my.salesforce.com
    auth:
      method: {method}
      client_id: abc
      username: u@x.com
      private_key_file: /k.pem
"""


def test_example_config_validates() -> None:
    cfg = load_config(ROOT / "config.example.yaml", env={})
    assert cfg.sources.files is not None
    assert cfg.sources.files.date_format == "%Y%m%d"
    assert cfg.experiments.items[0].key == "winback-2026q4"
    assert cfg.base_dir == ROOT


def test_example_config_with_crm_blocks_uncommented_validates(tmp_path: Path) -> None:
    text = (ROOT / "config.example.yaml").read_text()
    lines = []
    for line in text.splitlines():
        # uncomment the commented YAML blocks ('  # key: ...' lines, not the prose comments)
        m = re.match(r"^(\s+)# (\s*(?:[a-z_0-9]+:|- ).*)$", line)
        lines.append(m.group(1) + m.group(2) if m and "interval_minutes" not in line else line)
    p = write(tmp_path, "\n".join(lines))
    cfg = load_config(p, env={"SF_CLIENT_ID": "cid", "HUBSPOT_TOKEN": "pat-na1-secret"})
    assert cfg.sources.salesforce is not None and cfg.sources.salesforce.auth.method == "jwt"
    assert cfg.destinations.salesforce is not None
    assert cfg.destinations.salesforce.fields["buy_90d"] == "Segsync_Buy_90d__c"
    assert cfg.sources.hubspot is not None and cfg.sources.hubspot.tier_requests_per_10s == 190


def test_literal_error_names_file_line_path_and_choices(tmp_path: Path) -> None:
    p = write(tmp_path, SF.format(method="oauth"))
    assert errors_of(p) == [
        "segsync.yaml:5 sources.salesforce.auth.method: must be one of jwt, client_credentials, password (got 'oauth')"
    ]


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    p = write(tmp_path, "segmentation:\n  method: kmeans\n  k_mx: 5\n")
    (line,) = errors_of(p)
    assert line.startswith("segsync.yaml:3 segmentation.k_mx: unknown key (did you mean 'k_max'?)")


def test_internal_fields_are_not_keys_of_the_file(tmp_path: Path) -> None:
    # base_dir and source_file are set from the file's location; accepted, they were silently
    # overwritten, and source_file was offered as an allowed key
    p = write(tmp_path, "base_dir: /\nsource_file: /etc/passwd\nsegmentation:\n  k_mx: 5\n")
    lines = errors_of(p)
    assert lines[:2] == ["segsync.yaml:1 base_dir: unknown key; segsync sets it from where this file is",
                         "segsync.yaml:2 source_file: unknown key; segsync sets it from where this file is"]
    assert lines[2].startswith("segsync.yaml:4 segmentation.k_mx: unknown key") and len(lines) == 3
    (line,) = errors_of(write(tmp_path, "sourcs: {}\n"))
    assert "allowed: version, state," in line and "source_file" not in line and "base_dir" not in line
    assert not {"base_dir", "source_file"} & set(json_schema()["properties"])


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    p = write(tmp_path, "segmentation:\n  method: kmeanz\n  k: 1\nlogging:\n  level: LOUD\nmetrix: {}\n")
    lines = errors_of(p)
    assert len(lines) == 4
    assert lines[0].startswith("segsync.yaml:2 segmentation.method: must be one of rfm, kmeans")
    assert lines[1] == "segsync.yaml:3 segmentation.k: input should be greater than or equal to 2, or must be one of auto (got 1)"
    assert lines[2] == "segsync.yaml:5 logging.level: must be one of DEBUG, INFO, WARNING, ERROR (got 'LOUD')"
    assert lines[3].startswith("segsync.yaml:6 metrix: unknown key (did you mean 'metrics'?)")


def test_missing_and_cross_field_errors(tmp_path: Path) -> None:
    p = write(tmp_path, SF.format(method="password"))
    (line,) = errors_of(p)
    assert line == "segsync.yaml:4 sources.salesforce.auth: method password needs password, client_secret"
    p = write(tmp_path, "sources:\n  files: {}\n")
    assert errors_of(p) == ["segsync.yaml:2 sources.files.transactions: required"]


def test_experiment_weights_must_sum_to_one(tmp_path: Path) -> None:
    p = write(tmp_path, "experiments:\n  items:\n    - key: x\n      arms: [{name: a, weight: 0.5}, {name: b, weight: 0.2}]\n")
    (line,) = errors_of(p)
    assert line == "segsync.yaml:3 experiments.items[0]: arm weights must sum to 1 (got 0.7)"


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    p = write(tmp_path, "state:\n  path: [unclosed\nschedule: {}\n")
    (line,) = errors_of(p)
    assert line.startswith("segsync.yaml:") and "invalid YAML" in line


def test_env_interpolation_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("x${A}y", env, "w") == "x1y"
    assert interpolate("${B:-dflt}", env, "w") == "dflt"
    assert interpolate("${EMPTY:-dflt}", env, "w") == "dflt"
    assert interpolate("$${A} costs $$5", env, "w") == "${A} costs $5"
    assert interpolate("${A:?needed}", env, "w") == "1"
    with pytest.raises(ConfigurationError, match=r"w: set B please \(environment variable B is not set\)"):
        interpolate("${B:?set B please}", env, "w")
    with pytest.raises(ConfigurationError, match="environment variable B is not set"):
        interpolate("${B}", env, "w")


def test_unset_required_variable_reports_file_line_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "state:\n  path: ${STATE_DIR:?point STATE_DIR at a volume}/s.sqlite\n")
    assert errors_of(p) == [
        "segsync.yaml:2 state.path: point STATE_DIR at a volume (environment variable STATE_DIR is not set)"
    ]


def test_secret_values_never_printed(tmp_path: Path) -> None:
    secret = "pat-na1-TOPSECRET-123"
    p = write(
        tmp_path,
        "sources:\n  hubspot:\n    auth:\n      method: token\n      token: ${HS_TOKEN}\n    tier_requests_per_10s: ${HS_TOKEN}\n",
    )
    lines = errors_of(p, env={"HS_TOKEN": secret})
    assert lines and all(secret not in line for line in lines)
    assert lines[0].startswith("segsync.yaml:6 sources.hubspot.tier_requests_per_10s: must be one of 100, 110, 190, 250")
    p = write(tmp_path, "sources:\n  hubspot:\n    auth:\n      method: token\n      token: ${HS_TOKEN}\n")
    cfg = load_config(p, env={"HS_TOKEN": secret})
    assert secret not in repr(cfg) and secret not in str(cfg.model_dump())
    assert secret not in cfg.model_dump_json()
    assert secret_values(cfg) == [secret]


def test_schema_is_json_schema_for_editors() -> None:
    schema = json_schema()
    assert schema["title"] == "segsync configuration"
    assert set(schema["properties"]) >= {"state", "schedule", "sources", "segmentation", "experiments", "metrics"}
    assert "base_dir" not in schema["properties"]
    json.dumps(schema)


def test_schedule_rejects_both_triggers_and_bad_zone(tmp_path: Path) -> None:
    p = write(tmp_path, "schedule:\n  cron: '0 6 * * *'\n  interval_minutes: 5\n  timezone: Mars/Olympus\n")
    (line,) = errors_of(p)
    assert line == "segsync.yaml:1 schedule: set either cron or interval_minutes, not both"
    p = write(tmp_path, "schedule:\n  timezone: Mars/Olympus\n")
    assert errors_of(p) == ["segsync.yaml:1 schedule: unknown time zone 'Mars/Olympus'"]
