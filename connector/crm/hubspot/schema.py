"""The contact properties segsync writes, and how they are kept in sync.

Creating a property needs both `type` and `fieldType`; a taken name answers 409
OBJECT_ALREADY_EXISTS; an enumeration update replaces the whole option list, so every
option is resent (crm-apis.md B4; developers.hubspot.com/docs/methods/contacts/v2/
update_contact_property). Options that segsync no longer uses are kept, hidden, so that
records still holding them stay valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.crm.base import FieldSpec
from connector.crm.hubspot.values import PropertyType

ENUM_KEYS = {"segment_id", "segment_name", "arm"}
#: Desired-state keys holding text (product names or codes) whatever their name says.
TEXT_KEYS = {"offer_1", "offer_2", "offer_3"}


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    hidden: bool = False

    def wire(self, order: int) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "displayOrder": order, "hidden": self.hidden}


@dataclass(frozen=True)
class PropertySpec:
    """One segsync property: desired-state key, HubSpot name, type and options."""

    key: str
    name: str
    type: PropertyType
    label: str
    options: tuple[Option, ...] = ()

    @property
    def field_type(self) -> str:
        return {
            "enumeration": "select",
            "number": "number",
            "date": "date",
            "datetime": "date",
            "bool": "booleancheckbox",
        }.get(
            self.type, "textarea" if self.key.endswith("_reasons") else "text"
        )

    def create_body(self, group: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": group,
            "description": f"Written by segsync ({self.key}).",
        }
        if self.type == "enumeration":
            body["options"] = [o.wire(i) for i, o in enumerate(self.options)]
        return body


def property_type(key: str) -> PropertyType:
    """The HubSpot type for a desired-state key (segment_id, arm, a score, <score>_reasons, ...)."""
    if key in ENUM_KEYS:
        return "enumeration"
    if key in TEXT_KEYS or key.endswith("_reasons") or key.endswith("_name"):
        return "string"
    if key.endswith("_at") or key.endswith("_date"):
        return "date"
    return "number"


def spec_for(field: FieldSpec, name: str) -> PropertySpec:
    """The HubSpot property for one segsync field (`name` from the destination's mapping)."""
    kind: PropertyType = "string" if field.type == "text" else field.type
    options = tuple(Option(str(o), str(o)) for o in dict.fromkeys(field.options))
    return PropertySpec(field.key, name, kind, field.label, options)


def synced_options(existing: Iterable[Mapping[str, Any]], desired: Sequence[Option]) -> list[dict[str, Any]] | None:
    """The full option list to send, or None when HubSpot already has it.

    Desired options come first, visible, with their current labels; options HubSpot has
    that segsync no longer uses follow, hidden.
    """
    have = {str(o.get("value")): o for o in existing}
    wanted = {o.value for o in desired}
    merged = list(desired) + [
        Option(v, str(o.get("label") or v), hidden=True) for v, o in have.items() if v not in wanted
    ]
    unchanged = all(
        o.value in have
        and str(have[o.value].get("label")) == o.label
        and bool(have[o.value].get("hidden", False)) == o.hidden
        for o in merged
    )
    if unchanged and len(have) == len(merged):
        return None
    return [o.wire(i) for i, o in enumerate(merged)]
