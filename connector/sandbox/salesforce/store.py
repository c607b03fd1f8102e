"""In-memory records of the sandbox org, with an undo journal for allOrNone.

`RecordStore` is also the Python back door the population simulator uses (insert 1M
contacts without HTTP). Writes through it still run the org's rules (rules.py: campaign
member uniqueness, default member statuses, computed fields) but may set read-only fields
such as IsConverted or CreatedDate: it is trusted. The REST and Bulk layers validate
createable/updateable/required first (dml.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce.schema import TEXT_TYPES, Field, ObjectSchema, Schema
from connector.sandbox.salesforce.values import BadValue, coerce, format_datetime, record_id


class DmlError(Exception):
    """A record-level refusal, reported as {statusCode, message, fields}."""

    def __init__(self, code: str, message: str, fields: list[str] | tuple[str, ...] = ()):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = list(fields)

    def as_result(self) -> dict:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_rest(self) -> dict:
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}


USER_ID = "0055g00000AbCdEIAV"  # the integration user every write is attributed to


class RecordStore:
    """Records per sObject (live and deleted), composite indexes built on first use."""

    def __init__(self, schema: Schema, clock: SandboxClock, *, pod: str = "5g") -> None:
        from connector.sandbox.salesforce.rules import Rules

        self.schema = schema
        self.clock = clock
        self.pod = pod
        self.live: dict[str, dict[str, dict]] = {o.name: {} for o in schema.objects.values()}
        self.deleted: dict[str, dict[str, dict]] = {o.name: {} for o in schema.objects.values()}
        self.counters: dict[str, int] = {}
        self.lock = threading.RLock()
        self._keymaps: dict[tuple, list[tuple[str, Field | None]]] = {}
        self._indexes: dict[str, dict[tuple[str, ...], dict[tuple, set[str]]]] = {}
        self._journal: list[tuple] | None = None
        self.rules = Rules(self)

    # ---- lookups -------------------------------------------------------------------
    def obj(self, sobject: str) -> ObjectSchema:
        o = self.schema.get(sobject)
        if o is None:
            raise DmlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        return o

    def sobject_of(self, record_id_: str) -> str | None:
        prefix = record_id_[:3]
        for o in self.schema.objects.values():
            if o.key_prefix == prefix:
                return o.name
        return None

    def get(self, sobject: str, rid: str) -> dict:
        """A copy of the live record; KeyError if absent or deleted."""
        return dict(self.live[self.obj(sobject).name][_id18(rid)])

    def find(self, sobject: str, rid: str) -> tuple[dict | None, bool]:
        """(record, is_deleted) without copying; (None, False) when unknown."""
        name = self.obj(sobject).name
        rid = _id18(rid)
        rec = self.live[name].get(rid)
        if rec is not None:
            return rec, False
        rec = self.deleted[name].get(rid)
        return rec, rec is not None

    def records(self, sobject: str, *, include_deleted: bool = False) -> Iterator[dict]:
        name = self.obj(sobject).name
        yield from self.live[name].values()
        if include_deleted:
            yield from self.deleted[name].values()

    def lookup(self, sobject: str, fields: tuple[str, ...], key: tuple) -> set[str]:
        """Ids of live records whose `fields` equal `key` (index built on first use)."""
        name = self.obj(sobject).name
        with self.lock:
            per_obj = self._indexes.setdefault(name, {})
            index = per_obj.get(fields)
            if index is None:
                index = {}
                for rid, rec in self.live[name].items():
                    index.setdefault(tuple(rec.get(f) for f in fields), set()).add(rid)
                per_obj[fields] = index
            return set(index.get(key, ()))

    # ---- writes (public API) -----------------------------------------------------------
    def insert(self, sobject: str, records: list[dict]) -> list[str]:
        """Insert records (field names any case); returns their new 18-char Ids."""
        obj = self.obj(sobject)
        stamp = format_datetime(self.clock.now())
        defaults = self.rules.defaults(obj, stamp)
        ids = []
        with self.lock:
            for raw in records:
                rec = dict(defaults)
                rec.update(self.canonical(obj, raw))
                ids.append(self.rules.insert(obj, rec))
        return ids

    def update(self, sobject: str, rid: str, fields: dict) -> None:
        obj = self.obj(sobject)
        with self.lock:
            rec = self._live(obj, rid)
            changes = self.canonical(obj, fields)
            changes.pop("Id", None)
            self.rules.update(obj, rec, changes)

    def delete(self, sobject: str, rid: str) -> None:
        obj = self.obj(sobject)
        with self.lock:
            self.rules.delete(obj, self._live(obj, rid))

    def _live(self, obj: ObjectSchema, rid: str) -> dict:
        """The live record `rid`, or the DML error Salesforce gives for a missing or deleted one."""
        rec, deleted = self.find(obj.name, rid)
        if rec is None:
            raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if deleted:
            raise DmlError("ENTITY_IS_DELETED", "entity is deleted")
        return rec

    def canonical(self, obj: ObjectSchema, raw: dict) -> dict:
        """`raw` with canonical field names and stored value types; DmlError otherwise."""
        keys = tuple(raw)
        keymap = self._keymaps.get((obj.name, keys))
        if keymap is None:
            keymap = []
            for k in keys:
                if k == "attributes":
                    keymap.append(("", None))
                    continue
                f = obj.field(k)
                if f is None:
                    raise DmlError(
                        "INVALID_FIELD", f"No such column '{k}' on sobject of type {obj.name}", [k]
                    )
                keymap.append((f.name, None if f.type in TEXT_TYPES else f))
            self._keymaps[(obj.name, keys)] = keymap
        out: dict[str, object] = {}
        for (name, f), value in zip(keymap, raw.values(), strict=True):
            if not name:
                continue
            if f is None:
                out[name] = value if value is None or isinstance(value, str) else str(value)
            else:
                try:
                    out[name] = coerce(f, value)
                except BadValue as exc:
                    raise DmlError("INVALID_TYPE_ON_FIELD_IN_RECORD",
                                   f"{f.label or f.name}: value not of required type: {value}",
                                   [f.name]) from exc
        return out

    # ---- primitives (journaled, index-maintaining) ---------------------------------------
    def new_id(self, obj: ObjectSchema) -> str:
        n = self.counters.get(obj.name, 0) + 1
        self.counters[obj.name] = n
        return record_id(obj.key_prefix, self.pod, n)

    def put_new(self, name: str, rec: dict) -> None:
        self.live[name][rec["Id"]] = rec
        self._index(name, rec, add=True)
        if self._journal is not None:
            self._journal.append(("insert", name, rec["Id"]))

    def replace(self, name: str, rid: str, new: dict) -> None:
        old = self.live[name][rid]
        self._index(name, old, add=False)
        self.live[name][rid] = new
        self._index(name, new, add=True)
        if self._journal is not None:
            self._journal.append(("update", name, rid, old))

    def remove(self, name: str, rid: str, stamp: str) -> None:
        rec = self.live[name].pop(rid)
        self._index(name, rec, add=False)
        gone = {**rec, "IsDeleted": True, "SystemModstamp": stamp}
        self.deleted[name][rid] = gone
        if self._journal is not None:
            self._journal.append(("delete", name, rid, rec))

    def _index(self, name: str, rec: dict, *, add: bool) -> None:
        for fields, index in self._indexes.get(name, {}).items():
            key = tuple(rec.get(f) for f in fields)
            if add:
                index.setdefault(key, set()).add(rec["Id"])
            else:
                ids = index.get(key)
                if ids is not None:
                    ids.discard(rec["Id"])

    @contextmanager
    def transaction(self, *, all_or_none: bool = True) -> Iterator[Any]:
        """Journal writes; `tx.rollback()` (or an exception) undoes them in reverse."""
        with self.lock:
            outer, self._journal = self._journal, []
            tx = _Transaction(self, self._journal)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            finally:
                if outer is not None and not tx.rolled_back:
                    outer.extend(self._journal)
                self._journal = outer


class _Transaction:
    def __init__(self, store: RecordStore, journal: list[tuple]) -> None:
        self.store = store
        self.journal = journal
        self.rolled_back = False

    def rollback(self) -> None:
        s = self.store
        s._journal = None  # undo without journaling the undo
        for entry in reversed(self.journal):
            kind, name, rid = entry[:3]
            if kind == "insert":
                rec = s.live[name].pop(rid)
                s._index(name, rec, add=False)
            elif kind == "update":
                s._index(name, s.live[name][rid], add=False)
                s.live[name][rid] = entry[3]
                s._index(name, entry[3], add=True)
            else:
                s.deleted[name].pop(rid, None)
                s.live[name][rid] = entry[3]
                s._index(name, entry[3], add=True)
        self.journal.clear()
        s._journal = self.journal
        self.rolled_back = True


def _id18(rid: str) -> str:
    """15-char Ids are accepted everywhere an Id is; stored keys are 18-char."""
    if len(rid) == 15:
        from connector.sandbox.salesforce.values import id_suffix

        return rid + id_suffix(rid)
    return rid
