"""SOQL field paths through relationships: `Account.Name` on Contact, `Opportunity.Account.Name`
on a line item (parent lookups, up to five levels), and child relationship names
(`Account.Contacts`, `Contact.Opportunities`) for subqueries.

A path resolves once per query to a `Column`; reading it per record walks the live store by
Id. A null lookup, or one pointing at a deleted record, reads as null, as in a real org.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connector.sandbox.salesforce.schema import Field, ObjectSchema, Schema
from connector.sandbox.salesforce.soql_ast import Query, SoqlError
from connector.sandbox.salesforce.store import RecordStore

MAX_PARENT_LEVELS = 5
NO_COLUMN = ("No such column '{f}' on entity '{o}'. If you are attempting to use a custom "
             "field, be sure to append the '__c' after the custom field name. Please reference "
             "your WSDL or the describe call for the appropriate names.")
_NO_RELATIONSHIP = ("Didn't understand relationship '{r}' in field path. If you are attempting "
                    "to use a custom relationship, be sure to append the '__r' after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.")
_NO_CHILD = ("Didn't understand relationship '{r}' in FROM part of query call. If you are "
             "attempting to use a custom relationship, be sure to append the '__r' after the "
             "custom relationship name. Please reference your WSDL or the describe call for the "
             "appropriate names.")


@dataclass(frozen=True)
class Hop:
    lookup: Field  # the reference field on the record we walk from
    target: ObjectSchema  # the parent object it points at

    @property
    def name(self) -> str:
        return self.lookup.relationship_name or ""


@dataclass(frozen=True)
class Column:
    """A resolved field path: the lookups to walk, then the field to read."""

    hops: tuple[Hop, ...]
    field: Field

    @property
    def path(self) -> str:
        return ".".join([h.name for h in self.hops] + [self.field.name])

    def reader(self, store: RecordStore) -> Callable[[dict], object]:
        """A function record -> value of this path (None through a null lookup)."""
        name = self.field.name
        if not self.hops:
            return lambda r: r.get(name)
        hops = [(h.lookup.name, store.live[h.target.name]) for h in self.hops]

        def read(r: dict | None) -> object:
            for key, table in hops:
                r = table.get(r.get(key) or "") if r is not None else None
            return r.get(name) if r is not None else None

        return read


def resolve(q: Query, schema: Schema, obj: ObjectSchema, path: str, pos: int) -> Column:
    """The column `path` names on `obj`; INVALID_FIELD with Salesforce's message otherwise."""
    *rels, name = path.split(".")
    if rels and rels[0].lower() == obj.name.lower() and obj.parent_field(rels[0]) is None:
        rels = rels[1:]  # SELECT Contact.Email FROM Contact: the object's own name may lead
    if len(rels) > MAX_PARENT_LEVELS:
        raise SoqlError("INVALID_FIELD", q.text, pos, "SOQL statements cannot query "
                        f"relationships that are more than {MAX_PARENT_LEVELS} levels away")
    hops: list[Hop] = []
    current = obj
    for rel in rels:
        lookup = current.parent_field(rel)
        target = schema.get(lookup.reference_to[0]) if lookup and lookup.reference_to else None
        if lookup is None or target is None:
            raise SoqlError("INVALID_FIELD", q.text, pos, _NO_RELATIONSHIP.format(r=rel))
        hops.append(Hop(lookup, target))
        current = target
    f = current.field(name)
    if f is None:
        raise SoqlError("INVALID_FIELD", q.text, pos, NO_COLUMN.format(f=name, o=current.name))
    return Column(tuple(hops), f)


def child(q: Query, parent: ObjectSchema, name: str, pos: int) -> tuple[ObjectSchema, Field]:
    """(child object, its lookup to `parent`) for the child relationship `name`."""
    found = parent.children.get(name.lower())
    if found is None:
        raise SoqlError("INVALID_TYPE", q.text, pos, _NO_CHILD.format(r=name))
    return found
