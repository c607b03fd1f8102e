"""Where each HubSpot call goes, for the date-versioned (2026-03) or the legacy (v3) API.

The date-versioned scheme puts the version after the API name: `/crm/objects/2026-03/contacts`,
`/crm/properties/2026-03/contacts/groups`, `/crm/lists/2026-03/{listId}/memberships/...`,
`/crm/associations/2026-03/{from}/{to}/batch/read` (the v4 association shapes), and the token
endpoint `/oauth/2026-03/token` (developers.hubspot.com/docs/api-reference/latest/overview).
Request and reply bodies are the same as in v3/v4; the legacy paths stop being supported in
September 2027, so they are kept only as an option for accounts that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

ApiVersion = Literal["2026-03", "v3"]
TokenPath = Literal["2026-03", "v1"]

#: HubSpot's object type id for contacts, used by the lists API.
CONTACT_OBJECT_TYPE_ID = "0-1"


@dataclass(frozen=True)
class HubSpotPaths:
    """Builds request paths (relative to the base URL) for one API version."""

    api_version: ApiVersion = "2026-03"

    def _crm(self, api: str) -> str:
        # v3 is "/crm/v3/objects"; 2026-03 is "/crm/objects/2026-03". Associations moved
        # from v4 to the dated scheme with the v4 bodies.
        if self.api_version == "v3":
            return f"/crm/{'v4' if api == 'associations' else 'v3'}/{api}"
        return f"/crm/{api}/{self.api_version}"

    def objects(self, object_type: str) -> str:
        return f"{self._crm('objects')}/{object_type}"

    def batch(self, object_type: str, action: str) -> str:
        if action not in {"read", "create", "update", "upsert", "archive"}:
            raise ValueError(f"unknown batch action {action!r}")
        return f"{self.objects(object_type)}/batch/{action}"

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    def properties(self, object_type: str, name: str | None = None) -> str:
        base = f"{self._crm('properties')}/{object_type}"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    def property_groups(self, object_type: str, name: str | None = None) -> str:
        base = f"{self._crm('properties')}/{object_type}/groups"
        return base if name is None else f"{base}/{quote(name, safe='')}"

    def associations_batch_read(self, from_type: str, to_type: str) -> str:
        return f"{self._crm('associations')}/{from_type}/{to_type}/batch/read"

    def lists(self) -> str:
        return self._crm("lists")

    def list_by_name(self, name: str, object_type_id: str = CONTACT_OBJECT_TYPE_ID) -> str:
        return f"{self.lists()}/object-type-id/{object_type_id}/name/{quote(name, safe='')}"

    def list_memberships(self, list_id: str, action: str | None = None) -> str:
        base = f"{self.lists()}/{quote(str(list_id), safe='')}/memberships"
        if action is None:
            return base
        if action not in {"add", "remove", "add-and-remove"}:
            raise ValueError(f"unknown membership action {action!r}")
        return f"{base}/{action}"


def token_path(version: TokenPath) -> str:
    """The OAuth token endpoint: `/oauth/2026-03/token` by default, `/oauth/v1/token` (deprecated 16 Feb 2027)."""
    return f"/oauth/{version}/token"
