"""Provisioning: the custom fields segsync writes must exist and be visible to it.

`GET /sobjects/{Object}/describe` lists the fields the integration user can see. Missing
ones are created through the Tooling API (`POST /tooling/sobjects/CustomField`) when the
config allows it; otherwise the run stops with a message naming each field, its type and
the field-level-security step. A field that exists but is not visible is the classic trap:
it is absent from describe and writes fail INVALID_FIELD until FLS is granted
(simple-salesforce #621, restforce #353), and creating it again answers "There is already
a field named ...", so that reply also leads to the FLS message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.config import SalesforceDestination
from connector.crm.base import FieldSpec, ProvisionReport
from connector.crm.errors import ConfigurationError, FatalError
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.push import FieldWriter

#: Characters of a Long Text Area segsync creates (Salesforce allows 256 to 131,072; the default).
LONG_TEXT_LENGTH = 32_768


def tooling_metadata(spec: FieldSpec) -> dict[str, Any]:
    """The CustomField Metadata for a FieldSpec. Enumerations are Text: segment names and
    arms change over time and a restricted picklist would refuse new values. Reasons (a score's
    drivers, offer_reasons with three product names each) outgrow Text's 255 characters
    (STRING_TOO_LONG): they are Long Text Areas, as HubSpot gets them as textarea properties."""
    if spec.type == "text" and spec.key.endswith("_reasons"):
        return {"label": spec.label, "type": "LongTextArea", "length": LONG_TEXT_LENGTH, "visibleLines": 3}
    if spec.type == "number":
        return {"label": spec.label, "type": "Number", "precision": 18, "scale": 6}
    if spec.type == "date":
        return {"label": spec.label, "type": "Date"}
    return {"label": spec.label, "type": "Text", "length": 255}


def describe_type(spec: FieldSpec) -> str:
    meta = tooling_metadata(spec)
    return f"{meta['type']}({meta['length']})" if "length" in meta else meta["type"]


class FieldProvisioner:
    def __init__(self, client: SalesforceClient, destination: SalesforceDestination, writer: FieldWriter) -> None:
        self.client = client
        self.destination = destination
        self.writer = writer

    def describe(self) -> dict[str, dict[str, Any]]:
        body = self.client.json("GET", f"sobjects/{self.destination.object}/describe", kind="describe")
        return {f["name"]: f for f in body.get("fields", [])}

    def provision(self, specs: Sequence[FieldSpec]) -> ProvisionReport:
        obj = self.destination.object
        visible = self.describe()
        self._check_external_id(visible)
        wanted = {self.writer.field_name(s.key): s for s in specs}
        existing = tuple(n for n in wanted if n in visible)
        missing = [n for n in wanted if n not in visible]
        if not missing:
            return ProvisionReport(existing=existing)
        if not self.destination.create_missing_fields:
            raise ConfigurationError(self._manual_steps(missing, wanted))
        for name in missing:
            self._create(name, wanted[name])
        # "already a field named" means hidden by FLS, or created by our own earlier attempt
        # whose reply was lost (a retried POST): the second describe tells which.
        visible = self.describe()
        created = [n for n in missing if n in visible]
        invisible = [n for n in missing if n not in visible]
        if invisible:
            raise ConfigurationError(
                f"Salesforce {obj} fields {', '.join(sorted(set(invisible)))} exist but the integration user "
                f"cannot see them: grant field-level security (Setup > Object Manager > {obj} > "
                "Fields & Relationships > <field> > Set Field-Level Security: Visible, not Read-Only) "
                "to its profile or permission set, then run again"
            )
        return ProvisionReport(existing=existing, created=tuple(created))

    def _create(self, name: str, spec: FieldSpec) -> bool:
        """Create one field; False when it already exists (hidden by field-level security)."""
        body = {"FullName": f"{self.destination.object}.{name}", "Metadata": tooling_metadata(spec)}
        try:
            self.client.json("POST", "tooling/sobjects/CustomField", kind="tooling_create_field", json=body)
        except FatalError as exc:
            if "already a field named" in str(exc).lower() or exc.code == "DUPLICATE_DEVELOPER_NAME":
                return False
            raise
        return True

    def _manual_steps(self, missing: list[str], wanted: dict[str, FieldSpec]) -> str:
        obj = self.destination.object
        fields = "; ".join(f"{n} ({describe_type(wanted[n])}, label {wanted[n].label!r})" for n in missing)
        return (
            f"Salesforce {obj} is missing fields segsync writes: {fields}. Create them in Setup > Object "
            f"Manager > {obj} > Fields & Relationships, then grant field-level security (Visible, not "
            "Read-Only) to the integration user's profile or permission set; or set "
            "destinations.salesforce.create_missing_fields: true to let segsync create them through the "
            "Tooling API (it still needs the field-level-security step)"
        )

    def _check_external_id(self, visible: dict[str, dict[str, Any]]) -> None:
        ext = self.destination.external_id_field
        if ext is None:
            return
        field = visible.get(ext)
        if field is None or not field.get("externalId", False):
            raise ConfigurationError(
                f"destinations.salesforce.external_id_field {ext!r} must be a visible field of "
                f"{self.destination.object} marked External ID (and Unique)"
            )
