"""HubSpot APIs and objects that exist but this sandbox does not emulate.

A valid request for one of them answers 501 NOT_IMPLEMENTED naming what is missing, never a
404 or a VALIDATION_ERROR that would make it look like the caller's mistake.
"""

from __future__ import annotations

import re

from connector.sandbox.hubspot.routing import canonical_path

# CRM objects every portal has [HubSpot docs, Understanding the CRM: object type ids].
OBJECTS = frozenset({
    "quotes", "calls", "emails", "meetings", "notes",
    "tasks", "communications", "postal_mail", "feedback_submissions", "goal_targets", "leads",
    "invoices", "orders", "carts", "discounts", "fees", "taxes", "payments", "subscriptions",
    "users", "appointments", "courses", "listings", "services", "0-14",
    "0-48", "0-49", "0-47", "0-46", "0-27", "0-136"})
_ROUTES = [re.compile(p) for p in (
    r"^/crm/v3/objects/[^/]+/(merge|gdpr-delete)$",
    r"^/crm/v4/associations/[^/]+/[^/]+/batch/labels/archive$",
    r"^/crm/v4/associations/[^/]+/[^/]+/labels/[^/]+$",
    r"^/crm/v3/lists/folders(/.*)?$",
    r"^/crm/v3/lists/[^/]+/(restore|update-list-filters)$",
    r"^/crm/v3/lists/[^/]+/memberships/(add-from/[^/]+|join-order)$",
    r"^/crm/v3/(pipelines|schemas|imports|exports|owners|extensions|timeline)(/.*)?$",
    r"^/(marketing|automation|cms|conversations|files|settings|webhooks|events|"
    r"communication-preferences)/.*$",
)]


def unemulated_object(name: str) -> bool:
    """True for a HubSpot object name the store does not hold (callers ask only after their
    own lookup failed, so an object added to the store later wins)."""
    return name.lower() in OBJECTS


def unemulated_route(path: str) -> bool:
    path = canonical_path(path.rstrip("/") or "/")
    m = re.match(r"^/crm/v[34]/objects/([^/]+)", path)
    return any(p.match(path) for p in _ROUTES) or bool(m and unemulated_object(m.group(1)))
