"""The emulated portal's data: records, their properties, associations and lists.

Records live in one Python list per object type, indexed by `id - first id`: ids are
handed out in increasing order (like HubSpot's), so paging by id and lookups by id are both
O(1) and a million contacts cost a few hundred MB. Only written values are stored; the
computed ones (hs_object_id, createdate, (hs_)lastmodifieddate, hs_is_closed_won) are
derived on read. Every timestamp comes from the SandboxClock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import schema
from connector.sandbox.hubspot.records import ListRecord, Record, TouchLog
from connector.sandbox.hubspot.schema import format_ms, to_ms

OBJECT_TYPES = ("contacts", "deals", "companies", "products", "line_items", "tickets")
FIRST_ID = {"contacts": 100_001, "deals": 9_000_001, "companies": 5_000_001, "products": 2_000_001,
            "line_items": 7_000_001, "tickets": 3_000_001}
OBJECT_TYPE_IDS = {"contacts": "0-1", "deals": "0-3", "companies": "0-2", "products": "0-7", "line_items": "0-8",
                   "tickets": "0-5"}
SINGULAR = {"contacts": "contact", "deals": "deal", "companies": "company", "products": "product",
            "line_items": "line_item", "tickets": "ticket"}
_ALIASES = {"contact": "contacts", "0-1": "contacts", "deal": "deals", "0-3": "deals",
            "company": "companies", "0-2": "companies", "product": "products", "0-7": "products",
            "line_item": "line_items", "lineitem": "line_items", "lineitems": "line_items", "0-8": "line_items",
            "ticket": "tickets", "0-5": "tickets"}
# v4 unlabeled association type ids, HUBSPOT_DEFINED [HubSpot docs, Associations v4:
# association type id values]: contact->deal 4, deal->contact 3, contact->company 279,
# company->contact 280, deal->company 341, company->deal 342, deal->line item 19, line item->deal
# 20, contact->ticket 15, ticket->contact 16. Products cannot be associated with anything: a product reaches a deal as a line item
# (crm-apis.md, "Line items and products").
ASSOCIATION_TYPE_IDS = {("contacts", "deals"): 4, ("deals", "contacts"): 3,
                        ("contacts", "companies"): 279, ("companies", "contacts"): 280,
                        ("deals", "companies"): 341, ("companies", "deals"): 342,
                        ("deals", "line_items"): 19, ("line_items", "deals"): 20,
                        ("contacts", "tickets"): 15, ("tickets", "contacts"): 16}
FIRST_LABEL_TYPE_ID = 1_000  # user-defined label type ids are handed out from here


def line_amount(props: dict[str, str]) -> str | None:
    """A line item's `amount`, which HubSpot calculates: quantity x price (1 unit when no quantity)."""
    try:
        price = float(props["price"])
        quantity = float(props.get("quantity") or 1)
    except (KeyError, ValueError):
        return None
    total = round(quantity * price, 2)
    return str(int(total)) if total.is_integer() else str(total)


def object_type_of(name: str) -> str | None:
    name = name.lower()
    return name if name in OBJECT_TYPES else _ALIASES.get(name)


class Store:
    """Thread-safe in-memory portal. Python API for tests and the population simulator."""

    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.version = 0  # bumped on every write; search caches key on it
        created = format_ms(self.now_ms())
        self.properties = {t: schema.builtin_properties(t, created) for t in OBJECT_TYPES}
        self.groups: dict[str, dict[str, dict[str, Any]]] = {
            t: {g: {"name": g, "label": label, "displayOrder": -1, "archived": False}}
            for t, (g, label) in schema.BUILTIN_GROUPS.items()}
        self.rows: dict[str, list[Record | None]] = {t: [] for t in OBJECT_TYPES}
        self.emails: dict[str, int] = {}
        self.touched = {t: TouchLog() for t in OBJECT_TYPES}
        self.links: dict[tuple[str, str], dict[int, set[int]]] = {k: {} for k in ASSOCIATION_TYPE_IDS}
        # user-defined labels: (from, to) -> typeId -> label; typeIds set on one link
        self.label_defs: dict[tuple[str, str], dict[int, str]] = {k: {} for k in ASSOCIATION_TYPE_IDS}
        self.link_labels: dict[tuple[str, int, str, int], set[int]] = {}
        self.list_by_id: dict[int, ListRecord] = {}
        self.next_list_id = 1

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    # ---- records -------------------------------------------------------------------
    def row(self, object_type: str, record_id: str | int, *, archived: bool = False) -> Record | None:
        try:
            index = int(record_id) - FIRST_ID[object_type]
        except (TypeError, ValueError):
            return None
        rows = self.rows[object_type]
        if index < 0 or index >= len(rows):
            return None
        rec = rows[index]
        if rec is None or rec.archived != archived:
            return None
        return rec

    def find_by_email(self, email: str) -> int | None:
        return self.emails.get(email.strip().lower())

    def insert(self, object_type: str, clean: dict[str, str], now: int) -> int:
        """Add one already-validated record; the caller holds the lock."""
        if object_type == "line_items":
            clean = self._from_product(clean)
        rows = self.rows[object_type]
        record_id = FIRST_ID[object_type] + len(rows)
        rows.append(Record(now, {k: v for k, v in clean.items() if v != ""}))
        self.touched[object_type].note(now, record_id)
        if object_type == "contacts" and clean.get("email"):
            self.emails[clean["email"].lower()] = record_id
        self.version += 1
        return record_id

    def _from_product(self, clean: dict[str, str]) -> dict[str, str]:
        """A line item made from a product (hs_product_id) takes the product's name, price and
        SKU unless the write gives its own, as HubSpot's line item editor and API do."""
        product = self.row("products", clean.get("hs_product_id") or "")
        if product is None:
            return clean
        copied = {k: product.props[k] for k in ("name", "price", "hs_sku") if product.props.get(k) and not clean.get(k)}
        return {**clean, **copied}

    def apply(self, object_type: str, record_id: int, clean: dict[str, str], now: int) -> None:
        """Overwrite values on an existing record; the caller holds the lock."""
        rec = self.row(object_type, record_id)
        assert rec is not None
        if object_type == "contacts" and "email" in clean:
            old = rec.props.get("email")
            if old:
                self.emails.pop(old.lower(), None)
            if clean["email"]:
                self.emails[clean["email"].lower()] = record_id
        for name, value in clean.items():
            if value == "":
                rec.props.pop(name, None)
            else:
                rec.props[name] = value
        rec.updated = now
        self.touched[object_type].note(now, record_id)
        self.version += 1

    def remove(self, object_type: str, record_id: int, now: int) -> bool:
        rec = self.row(object_type, record_id)
        if rec is None:
            return False
        rec.archived = True
        rec.updated = now
        if object_type == "contacts" and rec.props.get("email"):
            self.emails.pop(rec.props["email"].lower(), None)
        for lst in self.list_by_id.values():
            if lst.members.pop(record_id, None) is not None:
                lst.version += 1
        self.version += 1
        return True

    def value(self, object_type: str, record_id: int, rec: Record, name: str) -> str | None:
        """One property as the API returns it (computed ones included)."""
        if name == "hs_object_id":
            return str(record_id)
        if name == "createdate":
            return format_ms(rec.created)
        if name == schema.LAST_MODIFIED[object_type]:
            return format_ms(rec.updated)
        if object_type == "deals" and name in ("hs_is_closed_won", "hs_is_closed"):
            stage = rec.props.get("dealstage", "")
            closed = stage == "closedwon" or (name == "hs_is_closed" and stage == "closedlost")
            return "true" if closed else "false"
        if object_type == "line_items" and name == "amount":
            return line_amount(rec.props)
        return rec.props.get(name)

    def render(self, object_type: str, record_id: int, rec: Record, names: list[str] | None) -> dict[str, Any]:
        """A SimplePublicObject: `names` None means the default property set."""
        if names is None:
            wanted: tuple[str, ...] | list[str] = schema.DEFAULT_READ[object_type]
        else:
            known = self.properties[object_type]
            wanted = sorted({*schema.ALWAYS_READ[object_type], *(n for n in names if n in known)})
        return {
            "id": str(record_id),
            "properties": {n: self.value(object_type, record_id, rec, n) for n in wanted},
            "createdAt": format_ms(rec.created),
            "updatedAt": format_ms(rec.updated),
            "archived": rec.archived,
            **({"archivedAt": format_ms(rec.updated)} if rec.archived else {}),
        }

    def iter_rows(self, object_type: str, start_id: int = 0, *, archived: bool = False
                  ) -> Iterator[tuple[int, Record]]:
        first = FIRST_ID[object_type]
        rows = self.rows[object_type]
        for index in range(max(0, start_id - first), len(rows)):
            rec = rows[index]
            if rec is not None and rec.archived == archived:
                yield first + index, rec

    # ---- associations ----------------------------------------------------------------
    def link(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        self.links[(from_type, to_type)].setdefault(from_id, set()).add(to_id)
        self.links[(to_type, from_type)].setdefault(to_id, set()).add(from_id)
        self.version += 1

    def linked(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        return sorted(self.links[(from_type, to_type)].get(from_id, ()))

    def unlink(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Remove the association both ways, labels included (v4 archive)."""
        self.links[(from_type, to_type)].get(from_id, set()).discard(to_id)
        self.links[(to_type, from_type)].get(to_id, set()).discard(from_id)
        self.link_labels.pop((from_type, from_id, to_type, to_id), None)
        self.link_labels.pop((to_type, to_id, from_type, from_id), None)
        self.version += 1

    def label_link(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        """Add a user-defined label to a link (the link itself is made too)."""
        self.link(from_type, from_id, to_type, to_id)
        self.link_labels.setdefault((from_type, from_id, to_type, to_id), set()).add(type_id)
        self.link_labels.setdefault((to_type, to_id, from_type, from_id), set()).add(type_id)

    def labels_of(self, from_type: str, from_id: int, to_type: str, to_id: int) -> list[int]:
        return sorted(self.link_labels.get((from_type, from_id, to_type, to_id), ()))

    def define_label(self, from_type: str, to_type: str, label: str) -> int:
        """A new user-defined label for the pair, usable both ways; returns its typeId."""
        used = [t for defs in self.label_defs.values() for t in defs]
        type_id = max(used, default=FIRST_LABEL_TYPE_ID - 1) + 1
        self.label_defs[(from_type, to_type)][type_id] = label
        self.label_defs[(to_type, from_type)][type_id] = label
        return type_id

    # ---- lists ---------------------------------------------------------------------
    def list_named(self, name: str) -> ListRecord | None:
        return next((lst for lst in self.list_by_id.values() if lst.name == name), None)

    def new_list(self, name: str, object_type_id: str, processing_type: str) -> ListRecord:
        lst = ListRecord(self.next_list_id, name, object_type_id, processing_type, self.now_ms())
        self.list_by_id[lst.list_id] = lst
        self.next_list_id += 1
        return lst

    # ---- the Python API (tests, the population simulator) ------------------------------
    def create(self, object_type: str, properties_list: list[dict[str, Any]]) -> list[str]:
        """Create records; values are validated like an API write. Returns the new ids."""
        object_type = self._object_type(object_type)
        with self.lock:
            defs = self.properties[object_type]
            now = self.now_ms()
            cleaned, seen = [], set()
            for values in properties_list:
                clean, problems = schema.validate_properties(defs, values)
                if problems:
                    raise ValueError(f"invalid {object_type} values {problems}")
                email = clean.get("email", "").lower() if object_type == "contacts" else ""
                if email and (email in self.emails or email in seen):
                    raise ValueError(f"contact {email!r} already exists")
                seen.add(email)
                cleaned.append(clean)
            return [str(self.insert(object_type, clean, now)) for clean in cleaned]

    def update(self, object_type: str, record_id: str | int, properties: dict[str, Any]) -> None:
        object_type = self._object_type(object_type)
        with self.lock:
            if self.row(object_type, record_id) is None:
                raise KeyError(f"no {object_type} record {record_id}")
            clean, problems = schema.validate_properties(self.properties[object_type], properties)
            if problems:
                raise ValueError(f"invalid {object_type} values {problems}")
            self.apply(object_type, int(record_id), clean, self.now_ms())

    def get(self, object_type: str, record_id: str | int) -> dict[str, Any]:
        """The record with every stored and computed property (KeyError when absent)."""
        object_type = self._object_type(object_type)
        with self.lock:
            rec = self.row(object_type, record_id)
            if rec is None:
                raise KeyError(f"no {object_type} record {record_id}")
            return self._full(object_type, int(record_id), rec)

    def records(self, object_type: str) -> Iterator[dict[str, Any]]:
        object_type = self._object_type(object_type)
        for record_id, rec in self.iter_rows(object_type):
            yield self._full(object_type, record_id, rec)

    def archive(self, object_type: str, record_id: str | int) -> None:
        object_type = self._object_type(object_type)
        with self.lock:
            if not self.remove(object_type, int(record_id), self.now_ms()):
                raise KeyError(f"no {object_type} record {record_id}")

    def associate(self, from_type: str, from_id: str | int, to_type: str, to_id: str | int) -> None:
        from_type, to_type = self._object_type(from_type), self._object_type(to_type)
        with self.lock:
            if self.row(from_type, from_id) is None or self.row(to_type, to_id) is None:
                raise KeyError(f"no such {from_type} {from_id} or {to_type} {to_id}")
            self.link(from_type, int(from_id), to_type, int(to_id))

    def define_property(self, object_type: str, name: str, type_: str = "string",
                        field_type: str = "text", options: list[str] | None = None) -> None:
        """Create a custom property (what POST /crm/v3/properties does, without the HTTP)."""
        object_type = self._object_type(object_type)
        with self.lock:
            if name in self.properties[object_type]:
                raise ValueError(f"property {name!r} already exists on {object_type}")
            self.properties[object_type][name] = schema.definition(
                name, name, type_, field_type, "", hubspot_defined=False,
                options=schema.option_list(tuple(options or ())), created_at=format_ms(self.now_ms()))

    def find_list(self, name: str) -> str | None:
        with self.lock:
            lst = self.list_named(name)
            return str(lst.list_id) if lst else None

    def list_members(self, list_id: str | int) -> set[str]:
        with self.lock:
            return {str(m) for m in self.list_by_id[int(list_id)].members}

    def lists(self) -> dict[str, str]:
        with self.lock:
            return {lst.name: str(lst.list_id) for lst in self.list_by_id.values()}

    def _full(self, object_type: str, record_id: int, rec: Record) -> dict[str, Any]:
        names = sorted({*rec.props, *schema.COMPUTED[object_type]})
        out = self.render(object_type, record_id, rec, None)
        out["properties"] = {n: self.value(object_type, record_id, rec, n) for n in names}
        return out

    @staticmethod
    def _object_type(name: str) -> str:
        resolved = object_type_of(name)
        if resolved is None:
            raise ValueError(f"object type must be one of {OBJECT_TYPES}, not {name!r}")
        return resolved
