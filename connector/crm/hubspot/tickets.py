"""Tickets as canonical usage events (sources.hubspot.events), read whole each run.

Every ticket page of the list endpoint (`GET /crm/objects/2026-03/tickets`), then one v4
batch read per page for the contacts each ticket is associated with (typeId 16): a ticket
becomes one event of each of its contacts at its createdate. Rows are keyed by the contact's
record id (customer_source_id); the cycle maps them to segsync's customer id through identity.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from connector.config.sources import HubSpotEvents
from connector.crm.hubspot.associations import associated_ids
from connector.crm.hubspot.reader import ObjectReader

COLUMNS = ["event_id", "customer_source_id", "type", "occurred_at", "value", "properties", "feature"]


def read_tickets(reader: ObjectReader, cfg: HubSpotEvents) -> pd.DataFrame:
    """Canonical events of every ticket associated with a contact (see the module docstring)."""
    rows = list(_rows(reader, cfg)) if cfg.tickets else []
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, errors="coerce", format="ISO8601")
    return frame


def _rows(reader: ObjectReader, cfg: HubSpotEvents) -> Iterator[dict[str, object]]:
    for page in reader.pages(None):
        ids = [str(r["id"]) for r in page.records]
        contacts = associated_ids(reader.api, "tickets", "contacts", ids) if ids else {}
        for record in page.records:
            created = (record.get("properties") or {}).get("createdate") or record.get("createdAt")
            for contact in contacts.get(str(record["id"]), []):
                yield {"event_id": f"ticket/{record['id']}/{contact}", "customer_source_id": contact,
                       "type": cfg.ticket_type, "occurred_at": created, "feature": None}
