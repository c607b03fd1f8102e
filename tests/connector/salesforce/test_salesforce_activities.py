"""Tasks and Cases in the Salesforce sandbox read as usage events, then usage features."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.config import EventFeaturesConfig
from connector.config.sources import SalesforceEvents
from connector.crm.salesforce.activities import read_activities
from connector.usage import build_usage
from tests.connector.salesforce.test_salesforce_sandbox import make_connector, make_sandbox


def test_tasks_and_cases_become_events_and_usage_features() -> None:
    sb = make_sandbox()
    ada, bob = sb.store.insert("Contact", [{"LastName": "Ada", "Email": "ada@example.com"},
                                           {"LastName": "Bob", "Email": "bob@example.com"}])
    sb.store.insert("Task", [{"WhoId": ada, "Type": "Login", "Subject": "signed in"}])
    sb.clock.advance(days=1)
    sb.store.insert("Task", [{"WhoId": ada, "Type": "feature_used", "Subject": "export"},
                             {"WhoId": ada, "Type": "feature_used", "Subject": "sso"},
                             {"WhoId": ada, "Type": "feature_used", "Subject": "export"},
                             {"Type": "login", "Subject": "nobody's"}])  # no contact: not an event of anyone
    sb.store.insert("Case", [{"ContactId": bob, "Subject": "cannot log in"}, {"Subject": "orphan"}])
    conn = make_connector(sb)

    events = read_activities(conn.client, SalesforceEvents())
    assert sorted(events["type"]) == ["feature_used"] * 3 + ["login", "ticket"]
    assert set(events["customer_source_id"]) == {ada, bob}
    assert events["event_id"].str.match(r"^(Task|Case)/").all()
    assert events.loc[events["type"] == "feature_used", "feature"].tolist() == ["export", "sso", "export"]
    assert str(events["occurred_at"].dt.tz) == "UTC"

    keyed = events.assign(customer_id=events["customer_source_id"])
    usage = build_usage(EventFeaturesConfig(windows=[7, 30]), [keyed], pd.Index([ada, bob]))
    assert usage is not None
    features = usage.features(pd.Timestamp(sb.clock.now()) + pd.Timedelta(hours=1))
    assert features.loc[ada, ["login_count_7d", "feature_used_count_7d", "features_adopted"]].tolist() == [1, 3, 2]
    assert features.loc[ada, "days_since_login"] == 1
    assert features.loc[bob, "ticket_count_30d"] == 1

    only_cases = read_activities(conn.client, SalesforceEvents(tasks=False))
    assert only_cases["type"].tolist() == ["ticket"]


def test_the_saas_population_loads_into_salesforce_and_its_drivers_come_back_through_the_connector() -> None:
    from connector.saas_demo import user_features
    from connector.sandbox.saas import simulate_saas
    from connector.sandbox.saas_crm import load_into_salesforce
    from connector.sandbox.saas_scenario import DRIVERS, load_saas_scenario

    population = simulate_saas(load_saas_scenario("saas"), 40, random_state=9)
    sb = make_sandbox()
    ids = load_into_salesforce(sb, population)
    conn = make_connector(sb)
    events = read_activities(conn.client, SalesforceEvents())
    assert len(events) == len(population.events)
    by_contact = {v: k for k, v in ids.items()}
    pulled = events.assign(customer_id=events["customer_source_id"].map(by_contact))
    features = user_features(pulled, population.truth)
    truth = population.truth.set_index("customer_id").loc[features.index]
    for driver in DRIVERS:
        assert features[driver].tolist() == pytest.approx(truth[driver].tolist())
    won = list(conn.client.query_records("SELECT Id, ContactId FROM Opportunity WHERE StageName = 'Closed Won'"))
    assert {by_contact[r["ContactId"]] for r in won} == set(truth.index[truth["converted"]])
