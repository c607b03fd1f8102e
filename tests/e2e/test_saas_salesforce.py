"""The SaaS case in the Salesforce sandbox through the cycle: Tasks and Cases pulled as usage events.

Users are Contacts, their logins and feature uses Tasks, their tickets Cases, their conversions
Closed Won Opportunities (connector.sandbox.saas_crm). A cycle with sources.salesforce.events
reads the Tasks and Cases, keys them to the pulled Contacts and builds usage features; the
purchase propensity target (a first payment is the conversion) trains on them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd

from connector.config import Config
from connector.crm.salesforce import SalesforceConnector
from connector.pipeline import run_cycle
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.saas import simulate_saas
from connector.sandbox.saas_crm import load_into_salesforce
from connector.sandbox.saas_scenario import load_saas_scenario
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore


def test_salesforce_tasks_and_cases_feed_the_usage_features_of_a_cycle(tmp_path: Path) -> None:
    population = simulate_saas(load_saas_scenario("saas"), 300, random_state=6)
    clock = SandboxClock(population.end.to_pydatetime(), frozen=True)
    sb = SalesforceSandbox(clock=clock, seed=6)
    load_into_salesforce(sb, population)
    clock.advance(seconds=3600)
    c = sb.credentials
    cfg = Config.model_validate({
        "state": {"path": str(tmp_path / "state.sqlite")},
        "sources": {"salesforce": {
            "instance_url": c["instance_url"], "login_url": c["login_url"],
            "auth": {"method": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]},
            "events": {"task_type_field": "Type", "case_type": "ticket"}}},
        "features": {"events": {"types": ["login", "feature_used", "ticket"], "windows": [7, 30]}},
        "segmentation": {"method": "kmeans", "k": 3, "sample_size": 1000,
                         "features": ["recency_days", "tenure_days", "login_count_30d", "features_adopted"]},
        "scoring": {"targets": [{"name": "pay_90d", "kind": "propensity", "horizon_days": 90}], "models": ["gbm"],
                    "cutoffs": 3, "clv": {"enabled": False}},
    })

    def factory(config: Config) -> dict[str, SalesforceConnector]:
        return {"salesforce": SalesforceConnector(config.sources.salesforce, None, clock=TransportClock(clock),
                                                  transport=httpx.WSGITransport(app=sb.app), now=clock.now)}

    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(cfg, store, connector_factory=factory)
        champion = store.models.champion("score", "pay_90d")
        segments = store.models.latest("segmentation", "default")
    assert result.status == "succeeded", result.error
    assert result.counts["events"] == len(population.events)
    assert result.counts["customers"] == 300
    assert segments is not None and "features_adopted" in segments[1].params.columns
    assert champion is not None
    assert {"login_trend_14d", "ticket_count_30d", "days_since_login"} <= set(champion[1].estimator.encoder_.columns_)
    assert pd.Series(population.truth["converted"]).sum() == result.counts["transactions"]
