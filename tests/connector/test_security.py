"""Secrets never reach logs, reports, the state file or error messages; SOQL injection stays data.

End to end, with the real connectors against both sandbox CRMs: every Salesforce login flow
(client credentials, password + security token, JWT with an inline key), HubSpot OAuth with
tokens that expire mid-cycle, faults that make the transport log retries and refreshes. The
secrets searched for include the access tokens the sandboxes issued, which no config holds.
Log records are captured raw at DEBUG, before any redacting handler, with tracebacks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connector.config import Config
from connector.pipeline import run_cycle
from connector.report import write_report
from connector.state import StateStore
from tests.chaos.convergence import assert_converged, hubspot_state, salesforce_state
from tests.chaos.world import SandboxWorld, issue_faults


class RawRecords(logging.Handler):
    """Every log record, formatted with its traceback, before any redaction filter."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def raw_log():
    handler, root = RawRecords(), logging.getLogger()
    old = root.level, logging.getLogger("httpx").level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old[0])
    logging.getLogger("httpx").setLevel(old[1])


def _sf_auth(world: SandboxWorld, method: str) -> dict:
    c = world.sf.credentials
    if method == "password":
        return {"method": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
                "username": c["username"], "password": c["password"], "security_token": c["security_token"]}
    if method == "jwt":
        return {"method": "jwt", "client_id": c["client_id"], "username": c["username"], "private_key": c["private_key"]}
    return {"method": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]}


def leaks(secrets: list[str], **texts: str) -> list[str]:
    return [f"{where}: ...{secret[:6]}..." for where, text in texts.items() for secret in secrets if secret in text]


def _files_text(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in sorted(folder.glob("state.sqlite*")) if p.is_file())


@pytest.mark.parametrize("sf_method", ["client_credentials", "password", "jwt"])
def test_no_secret_in_logs_state_report_or_errors(sf_method, raw_log, tmp_path):
    world = SandboxWorld(150, 31, faults=issue_faults(31), session_seconds=60, request_seconds=5, hubspot_oauth=True)
    data = world.config_data(state={"path": str(tmp_path / "state.sqlite")})
    data["sources"]["salesforce"]["auth"] = _sf_auth(world, sf_method)
    config = Config.model_validate(data)
    from connector.config import secret_values

    with StateStore(tmp_path / "state.sqlite", redact=secret_values(config)) as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        assert world.sf.request_count[("oauth", 200)] >= 2 and world.hs.calls("oauth.token", 200) >= 2
        rejected = store.rejected.open().to_csv()
    report = write_report(config, tmp_path / "report").read_text(encoding="utf-8")
    secrets = world.secrets()
    assert len(secrets) >= 8  # configured secrets plus the tokens the sandboxes issued
    found = leaks(secrets, log="\n".join(raw_log.lines), state=_files_text(tmp_path), report=report,
                  rejected=rejected, config_repr=repr(config) + str(config.model_dump()))
    assert found == [], found


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_refused_credentials_fail_cleanly_without_echoing_them(crm, raw_log, tmp_path):
    world = SandboxWorld(60, 32)
    wrong = "wrong-Secret-7f3a9c1e5b2d-do-not-echo"
    data = world.config_data()
    if crm == "salesforce":
        data["sources"]["salesforce"]["auth"]["client_secret"] = wrong
    else:
        data["sources"]["hubspot"]["auth"]["token"] = wrong
    config = Config.model_validate(data)
    from connector.config import secret_values

    with StateStore(tmp_path / "state.sqlite", redact=secret_values(config)) as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        runs = store.runs.last()
    assert result.status == "failed"
    assert "AuthenticationError" in result.error and crm in result.error.lower()
    found = leaks([wrong, *world.secrets()], error=result.error, stored=str(runs), log="\n".join(raw_log.lines),
                  state=_files_text(tmp_path))
    assert found == [], found


def test_soql_injection_in_config_and_data_stays_data(tmp_path):
    world = SandboxWorld(120, 33)
    [decoy] = world.sf.store.insert("Campaign", [{"Name": "decoy campaign"}])
    [obrien] = world.sf.store.insert("Contact", [{"LastName": "x' OR Id != '", "Email": "o'brien@example.com"}])
    world.sf.store.insert("Opportunity", [{"Name": "o'order", "StageName": "Closed Won", "CloseDate": "2026-02-01",
                                          "Amount": 20.0, "ContactId": obrien}])
    evil = "segsync {segment_name}' OR Name != '"
    data = world.config_data()
    data["destinations"]["salesforce"]["lists"] = {"segment_name_template": evil,
                                                   "arm_name_template": "segsync {experiment} {arm}\\' OR Name LIKE '%"}
    config = Config.model_validate(data)
    contacts = (len(salesforce_state(world)[0]), len(hubspot_state(world)[0]))
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(config, store, connector_factory=world.factory)
        assert result.status == "succeeded", result.error
        assert_converged(world, store, config, n_contacts=contacts)
    campaigns = salesforce_state(world)[1]
    assert sum("' OR Name != '" in name for name in campaigns) == result.counts["segments"]
    assert sum(name.endswith("\\' OR Name LIKE '%") for name in campaigns) == 2  # one per arm, quotes kept verbatim
    members = salesforce_state(world)[2]
    assert not any(campaign == decoy for campaign, _ in members), "an injected condition matched the decoy"
    assert world.sf.store.get("Contact", obrien).get("Segsync_Segment__c"), "the O'Brien contact got its segment"


def test_field_name_injection_in_config_is_refused_before_any_query(tmp_path):
    world = SandboxWorld(60, 34)
    data = world.config_data()
    data["sources"]["salesforce"]["customers"] = {"attributes": {"country": "MailingCountry FROM Contact WHERE Name != ''"}}
    config = Config.model_validate(data)
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(config, store, connector_factory=world.factory)
    assert result.status == "failed"
    assert "not a valid Salesforce field name" in result.error and "MailingCountry FROM Contact" in result.error
    assert world.sf.request_count["query"] == 0


def test_daemon_redacts_secrets_in_the_state_file_like_segsync_run(tmp_path):
    """The daemon stores failed cycles' errors through the same redaction as `segsync run`."""
    import threading

    from connector.daemon import Daemon

    secret = "pat-na1-daemon-s3cret-0f9e8d7c"
    config = Config.model_validate({
        "state": {"path": str(tmp_path / "state.sqlite")},
        "schedule": {"interval_minutes": 1440, "run_on_start": True},
        "sources": {"hubspot": {"auth": {"method": "token", "token": secret}}},
    })
    failed = threading.Event()

    def leaky_pull(ctx) -> None:
        failed.set()
        raise RuntimeError(f"refused with token {secret}")

    daemon = Daemon(config, steps={"pull": leaky_pull})
    thread = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    thread.start()
    assert failed.wait(60)
    daemon.request_stop()
    thread.join(60)
    assert not thread.is_alive()
    with StateStore(tmp_path / "state.sqlite") as store:
        (run,) = store.runs.last()
    assert run.status == "failed" and "refused with token" in run.error
    assert secret not in _files_text(tmp_path)
