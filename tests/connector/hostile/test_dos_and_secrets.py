"""Issue 14, "denial of service and secrets": alias bombs and huge files, implausible secrets,
TLS off or plain http away from loopback, secrets written in the file, the report's mode."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.connector.hostile.shop import run, write_shop

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path, capsys) -> None:
    (tmp_path / "segsync.yaml").write_text(BOMB)
    assert len(BOMB) < 400
    assert run("validate", str(tmp_path / "segsync.yaml")) == 2
    assert "more than 100,000 values once YAML aliases are expanded" in capsys.readouterr().err


def test_a_huge_config_file_is_refused_before_parsing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "segsync.yaml"
    with path.open("w") as f:
        f.write("version: 1\nextra:\n")
        for i in range(450_000):
            f.write(f"  key{i}: {i}\n")
    assert path.stat().st_size > 8_000_000
    assert run("validate", str(path)) == 2
    assert "larger than 1,000,000 bytes; not a configuration" in capsys.readouterr().err


def _hubspot(folder: Path, **overrides) -> dict:
    base = {"base_url": "https://api.hubapi.com", "auth": {"method": "token", "token": "${HS_TOKEN}"}}
    for key, value in overrides.items():
        base[key] = value
    return {"hubspot": base, "files": {"transactions": "data/tx.csv"}}


@pytest.mark.parametrize(("token", "what"), [
    ("pat-na1-abcdef\nINJECTED LINE", "contains a control character"),
    ("pat-na1-abc\tdef", "contains a control character"),
    ("x", "implausible length 1"),
    ("y" * 20_000, "implausible length 20000"),
], ids=["newline", "tab", "one character", "20k characters"])
def test_implausible_secrets_are_refused_naming_the_field_never_the_value(tmp_path: Path, token, what, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HS_TOKEN", token)
    cfg = write_shop(tmp_path, sources=_hubspot(tmp_path))
    assert run("validate", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "sources.hubspot.auth.token:" in err and what in err
    for part in token.split():
        if len(part) > 1:
            assert part not in err


@pytest.mark.parametrize(("sources", "message"), [
    ({"base_url": "https://api.hubapi.com", "http": {"verify_tls": False}},
     "http.verify_tls: false is allowed only for the loopback sandbox, not api.hubapi.com"),
    ({"base_url": "http://api.hubapi.com"}, "base_url: plain http:// sends credentials unencrypted; use https://"),
    ({"base_url": "api.hubapi.com"}, "base_url: must be an https:// URL with a host (got 'api.hubapi.com')"),
], ids=["tls off remote", "http remote", "not a URL"])
def test_tls_off_plain_http_and_non_urls_are_refused_away_from_loopback(tmp_path: Path, sources, message, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-na1-0123456789")
    cfg = write_shop(tmp_path, sources=_hubspot(tmp_path, **sources))
    assert run("validate", str(cfg)) == 2
    assert message in capsys.readouterr().err


def test_salesforce_http_login_url_is_refused(tmp_path: Path, capsys) -> None:
    sf = {"instance_url": "https://acme.my.salesforce.com", "login_url": "http://login.salesforce.com",
          "auth": {"method": "client_credentials", "client_id": "cid", "client_secret": "${SF_SECRET:-0123456789abcdef}"}}
    cfg = write_shop(tmp_path, sources={"salesforce": sf, "files": {"transactions": "data/tx.csv"}})
    assert run("validate", str(cfg)) == 2
    assert "login_url: plain http:// sends credentials unencrypted" in capsys.readouterr().err


def test_the_loopback_sandbox_may_use_http_and_turn_tls_off(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-na1-0123456789")
    cfg = write_shop(tmp_path, sources=_hubspot(tmp_path, base_url="http://127.0.0.1:8702", http={"verify_tls": False}))
    assert run("validate", str(cfg)) == 0


def test_a_token_written_in_plain_text_is_warned_about(tmp_path: Path, capsys) -> None:
    sources = _hubspot(tmp_path)
    sources["hubspot"]["auth"]["token"] = "pat-na1-written-in-the-file"
    cfg = write_shop(tmp_path, sources=sources)
    assert run("validate", str(cfg)) == 0
    err = capsys.readouterr().err
    assert "sources.hubspot.auth.token is written in plain text in the config; put it in the environment" in err
    assert "pat-na1-written-in-the-file" not in err


def test_the_report_is_written_0600(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    assert run("report", str(cfg), "--out", str(tmp_path / "report")) == 0
    assert stat.S_IMODE((tmp_path / "report" / "index.html").stat().st_mode) == 0o600
