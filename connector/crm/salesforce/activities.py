"""Tasks and Cases as canonical usage events (sources.salesforce.events), read whole each run.

    SELECT Id, WhoId, Type, Subject, CreatedDate FROM Task WHERE WhoId != null
    SELECT Id, ContactId, CreatedDate FROM Case WHERE ContactId != null

A Task's type is the configured field's value (Type by default: what an integration logging
product usage writes there, e.g. login, feature_used), its feature the configured field
(Subject); a Case is a support ticket. Rows are keyed by the Contact's Id (customer_source_id):
the cycle maps them to segsync's customer id through identity, as it does transactions.
Read whole, like sources.sql's events: an incremental (SystemModstamp, Id) stream is the next step.
"""

from __future__ import annotations

import pandas as pd

from connector.config.sources import SalesforceEvents
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.soql import select

COLUMNS = ["event_id", "customer_source_id", "type", "occurred_at", "value", "properties", "feature"]


def read_activities(client: SalesforceClient, cfg: SalesforceEvents) -> pd.DataFrame:
    """Canonical events of every Task and Case linked to a Contact (see the module docstring)."""
    rows: list[dict[str, object]] = []
    if cfg.tasks:
        fields = ["Id", "WhoId", cfg.task_type_field, "CreatedDate"]
        fields += [cfg.task_feature_field] if cfg.task_feature_field else []
        for r in client.query_records(select(fields, "Task", ["WhoId != null"], ["CreatedDate", "Id"])):
            kind = r.get(cfg.task_type_field)
            rows.append({"event_id": f"Task/{r['Id']}", "customer_source_id": r["WhoId"],
                         "type": str(kind).strip().lower() if kind else None, "occurred_at": r["CreatedDate"],
                         "feature": r.get(cfg.task_feature_field) if cfg.task_feature_field else None})
    if cfg.cases:
        for r in client.query_records(select(["Id", "ContactId", "CreatedDate"], "Case", ["ContactId != null"],
                                             ["CreatedDate", "Id"])):
            rows.append({"event_id": f"Case/{r['Id']}", "customer_source_id": r["ContactId"], "type": cfg.case_type,
                         "occurred_at": r["CreatedDate"], "feature": None})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, errors="coerce", format="ISO8601")
    return frame
