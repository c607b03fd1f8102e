"""The HubSpot connector: contacts and won deals in, properties and static lists out.

Public API: `HubSpotConnector` (the Connector protocol of connector.crm.base). The modules
behind it: paths (2026-03 / v3 URLs), classifier (replies -> error tree), auth (token or
OAuth refresh), api (transport and pacers), reader and search (full and incremental
pulls), records (canonical rows), writes (batch update / upsert, 207 reconciliation),
provision and schema (property group and properties), lists and membership (static
lists), outcomes (won deals of experiment members).
"""

from connector.crm.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
