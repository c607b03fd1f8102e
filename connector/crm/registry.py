"""Open the configured CRM connectors by name."""

from __future__ import annotations

from typing import Any

from connector.config import Config


def open_connectors(config: Config) -> dict[str, Any]:
    """'salesforce' / 'hubspot' -> a Connector for each configured source."""
    out: dict[str, Any] = {}
    if config.sources.salesforce is not None:
        from connector.crm.salesforce import SalesforceConnector

        out["salesforce"] = SalesforceConnector(config.sources.salesforce, config.destinations.salesforce)
    if config.sources.hubspot is not None:
        from connector.crm.hubspot import HubSpotConnector

        out["hubspot"] = HubSpotConnector(config.sources.hubspot, config.destinations.hubspot)
    return out
