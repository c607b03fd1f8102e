"""Writes through the API: field-level checks on top of the store's org rules.

Used alike by single-record REST, sObject Collections and Bulk ingest, so a bad value
gets the same statusCode everywhere: INVALID_FIELD (unknown or FLS-hidden field),
INVALID_FIELD_FOR_INSERT_UPDATE (read-only), REQUIRED_FIELD_MISSING, STRING_TOO_LONG,
INVALID_EMAIL_ADDRESS, DUPLICATE_VALUE, ...
"""

from __future__ import annotations

import re

from connector.sandbox.salesforce.schema import Field, ObjectSchema
from connector.sandbox.salesforce.store import DmlError, RecordStore

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MultipleMatches(DmlError):
    """An upsert key matched several records (REST answers 300 with their URLs)."""

    def __init__(self, field: str, ids: list[str]) -> None:
        super().__init__("DUPLICATE_EXTERNAL_ID",
                         f"{field}: more than one record found for external id field: {ids}",
                         [field])
        self.ids = ids


def _unwritable(names: list[str]) -> DmlError:
    return DmlError("INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(names)}. Please check the "
                    "security settings of this field and verify that it is read/write for your "
                    "profile or permission set.", names)


class Dml:
    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def _checked(self, obj: ObjectSchema, raw: dict, *, creating: bool) -> dict:
        if not (obj.createable if creating else obj.updateable):
            # The user's profile lacks Create/Edit on the object (for Campaign: not a
            # Marketing User).
            verb = "inserted" if creating else "updated"
            raise DmlError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", f"entity type cannot be {verb}: {obj.name}")
        rec = self.store.canonical(obj, raw)
        bad = [n for n in rec if n != "Id" and not getattr(
            obj.fields[n.lower()], "createable" if creating else "updateable")]
        if bad:
            raise _unwritable(bad)
        for name, value in rec.items():
            f = obj.fields[name.lower()]
            if value is None and f.required:
                raise DmlError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]",
                               [name])
            if isinstance(value, str) and f.length and len(value) > f.length:
                raise DmlError("STRING_TOO_LONG", f"{f.label or name}: data value too large: "
                               f"{value[:40]} (max length={f.length})", [name])
            if f.type == "email" and value and not _EMAIL.match(value):
                raise DmlError("INVALID_EMAIL_ADDRESS", f"{f.label or name}: invalid email "
                               f"address: {value}", [name])
            if f.restricted and value is not None and value not in f.picklist:
                raise DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"{f.label or name}: "
                               f"bad value for restricted picklist field: {value}", [name])
            if f.type == "reference" and value:
                self._check_lookup(f, str(value))
        if creating:
            missing = [f.name for f in obj.fields.values()
                       if f.required and f.createable and rec.get(f.name) is None]
            if missing:
                raise DmlError("REQUIRED_FIELD_MISSING",
                               f"Required fields are missing: [{', '.join(missing)}]", missing)
        return rec

    def _check_lookup(self, f: Field, value: str) -> None:
        """A lookup must name a live record of its target object, as in a real org."""
        label = f.label or f.name
        if len(value) not in (15, 18) or not value.isalnum():
            raise DmlError("MALFORMED_ID", f"{label}: id value of incorrect type: {value}", [f.name])
        target = self.store.schema.get(f.reference_to[0]) if f.reference_to else None
        if target is None:
            return
        if value[:3] != target.key_prefix:
            raise DmlError("FIELD_INTEGRITY_EXCEPTION",
                           f"{label}: id value of incorrect type: {value}", [f.name])
        rec, deleted = self.store.find(target.name, value)
        if deleted:
            raise DmlError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
        if rec is None:
            raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])

    def _writable(self, obj: ObjectSchema, verb: str) -> None:
        if not obj.writable:
            raise DmlError("INVALID_TYPE_FOR_OPERATION",
                           f"entity type cannot be {verb}: {obj.name}")

    def create(self, sobject: str, raw: dict) -> str:
        obj = self.store.obj(sobject)
        self._writable(obj, "inserted")
        rec = self._checked(obj, raw, creating=True)
        if "Id" in rec:
            raise _unwritable(["Id"])
        return self.store.insert(obj.name, [rec])[0]

    def update(self, sobject: str, rid: str, raw: dict) -> None:
        obj = self.store.obj(sobject)
        self._writable(obj, "updated")
        rec = self._checked(obj, raw, creating=False)
        rec.pop("Id", None)
        self.store.update(obj.name, rid, rec)

    def delete(self, sobject: str, rid: str) -> None:
        self._writable(self.store.obj(sobject), "deleted")
        self.store.delete(sobject, rid)

    def upsert(self, sobject: str, field: str, value: str, raw: dict) -> tuple[str, bool]:
        """(id, created). The key field must be Id or marked External ID."""
        obj = self.store.obj(sobject)
        f = obj.field(field)
        if f is None or not (f.external_id or f.name == "Id"):
            raise DmlError("INVALID_FIELD", "Provided external ID field does not exist or is "
                           f"not accessible: {field}", [field])
        body = {k: v for k, v in raw.items() if k.lower() != f.name.lower()}
        if f.name == "Id":
            rec, deleted = self.store.find(obj.name, value) if value else (None, False)
            if rec is None or deleted:
                return self.create(obj.name, body), True
            self.update(obj.name, rec["Id"], body)
            return rec["Id"], False
        matches = sorted(self.store.lookup(obj.name, (f.name,), (value,)))
        if len(matches) > 1:
            raise MultipleMatches(f.name, matches)
        if matches:
            self.update(obj.name, matches[0], body)
            return matches[0], False
        return self.create(obj.name, {**body, f.name: value}), True
