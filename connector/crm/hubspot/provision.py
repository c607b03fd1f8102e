"""Creating segsync's property group and contact properties, and keeping options in sync.

Create first, and read only what already exists: a 409 OBJECT_ALREADY_EXISTS means the
group or property is there (crm-apis.md B4). An existing property is checked for its
type, and an enumeration gets its full option list resent when it differs (an update
replaces the options, so all are sent; retired ones stay, hidden).
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.config import HubSpotDestination
from connector.crm.base import FieldSpec, ProvisionReport
from connector.crm.errors import ConfigurationError, FatalError
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.schema import PropertySpec, spec_for, synced_options
from connector.crm.hubspot.values import PropertyType

OBJECT = "contacts"


def _exists(exc: FatalError) -> bool:
    return exc.status == 409 and exc.code in {"OBJECT_ALREADY_EXISTS", "CONFLICT"}


def ensure_group(api: HubSpotApi, name: str) -> bool:
    """Create the property group; True when it was created, False when it existed."""
    body = {"name": name, "label": "segsync", "displayOrder": -1}
    try:
        api.call("POST", api.paths.property_groups(OBJECT), kind="property_group_create", json=body)
    except FatalError as exc:
        if _exists(exc):
            return False
        raise
    return True


def ensure_property(api: HubSpotApi, spec: PropertySpec, group: str) -> bool:
    """Create one property, or check and sync the existing one; True when created."""
    try:
        api.call("POST", api.paths.properties(OBJECT), kind="property_create", json=spec.create_body(group))
        return True
    except FatalError as exc:
        if not _exists(exc):
            raise
    current = api.call("GET", api.paths.properties(OBJECT, spec.name), kind="property_read")
    if current.get("type") != spec.type:
        raise ConfigurationError(
            f"HubSpot contact property {spec.name!r} exists with type {current.get('type')!r}, but segsync "
            f"writes {spec.key} as {spec.type!r}: map {spec.key} to another property in "
            "destinations.hubspot.properties, or delete the existing one"
        )
    if spec.type == "enumeration":
        options = synced_options(current.get("options") or [], spec.options)
        if options is not None:
            api.call("PATCH", api.paths.properties(OBJECT, spec.name), kind="property_update", json={"options": options})
    return False


def provision(
    api: HubSpotApi, destination: HubSpotDestination, fields: Sequence[FieldSpec]
) -> tuple[ProvisionReport, dict[str, PropertyType]]:
    """Make every field's property exist; returns the report and each key's HubSpot type."""
    unmapped = [f.key for f in fields if f.key not in destination.properties]
    if unmapped:
        raise ConfigurationError(
            f"destinations.hubspot.properties has no property for {', '.join(unmapped)}; "
            f"add e.g. `{unmapped[0]}: segsync_{unmapped[0]}`"
        )
    ensure_group(api, destination.property_group)
    existing: list[str] = []
    created: list[str] = []
    types: dict[str, PropertyType] = {}
    for field in fields:
        spec = spec_for(field, destination.properties[field.key])
        (created if ensure_property(api, spec, destination.property_group) else existing).append(spec.name)
        types[field.key] = spec.type
    return ProvisionReport(existing=tuple(existing), created=tuple(created)), types
