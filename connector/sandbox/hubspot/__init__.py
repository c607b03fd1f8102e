"""A loopback emulator of the HubSpot APIs segsync uses (contacts, deals, search,
properties, associations v4, lists v3, OAuth), with HubSpot's shapes, limits and errors."""

from __future__ import annotations

from connector.sandbox.hubspot.sandbox import HubSpotSandbox

__all__ = ["HubSpotSandbox"]
