"""Association types between object pairs: HubSpot's unlabeled ones and user-defined labels.

An AssociationSpec names a type by category and id: `{"associationCategory":
"HUBSPOT_DEFINED", "associationTypeId": 279}` (contact -> company, unlabeled) or
`{"associationCategory": "USER_DEFINED", "associationTypeId": 1000}` for a label made with
`POST /crm/v4/associations/{from}/{to}/labels` [HubSpot docs, Associations v4]. A create
body's `associations` carry only the target id, so the type id also tells the target's
object type. A type that does not fit the pair is a 400 VALIDATION_ERROR naming it.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.store import ASSOCIATION_TYPE_IDS, SINGULAR, Store, object_type_of
from connector.sandbox.hubspot.unemulated import unemulated_object

CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED")


def pair_of(errors: ErrorFactory, from_raw: str, to_raw: str) -> tuple[str, str]:
    """The canonical (from, to) object types of a v4 path; 400 for a pair with no types."""
    from_type, to_type = object_type_of(from_raw), object_type_of(to_raw)
    if (from_type is None and unemulated_object(from_raw)) or \
            (to_type is None and unemulated_object(to_raw)):
        raise errors.make(501, f"Associations {from_raw} -> {to_raw} exist in HubSpot but the "
                          "segsync sandbox does not emulate them", "NOT_IMPLEMENTED")
    if from_type is None or to_type is None or (from_type, to_type) not in ASSOCIATION_TYPE_IDS:
        raise errors.validation(f"Unsupported association {from_raw} -> {to_raw}")
    return from_type, to_type


def type_ids(store: Store, errors: ErrorFactory, from_type: str, to_type: str,
             specs: Any) -> list[int]:
    """The USER_DEFINED label ids among `specs` (HUBSPOT_DEFINED ones must be the pair's own)."""
    if not isinstance(specs, list) or not specs:
        raise errors.validation("types must be a non-empty list of association specs")
    labels = []
    for spec in specs:
        spec = spec if isinstance(spec, dict) else {}
        category, type_id = spec.get("associationCategory"), spec.get("associationTypeId")
        if category == "HUBSPOT_DEFINED" and type_id == ASSOCIATION_TYPE_IDS[(from_type, to_type)]:
            continue
        if category == "USER_DEFINED" and type_id in store.label_defs[(from_type, to_type)]:
            labels.append(int(type_id))
            continue
        raise errors.validation(f"associationTypeId {type_id} ({category}) is not valid for "
                                f"{SINGULAR[from_type]} to {SINGULAR[to_type]}")
    return labels


def target_type(store: Store, from_type: str, spec: dict[str, Any]) -> str | None:
    """The object type a create-body association points at, read from its type id."""
    type_id = spec.get("associationTypeId")
    for (a, b), default in ASSOCIATION_TYPE_IDS.items():
        if a == from_type and (type_id == default or type_id in store.label_defs[(a, b)]):
            return b
    return None


def describe(store: Store, from_type: str, from_id: int, to_type: str, to_id: int) -> list[dict]:
    """associationTypes of one link: the unlabeled type, then each label on it."""
    out: list[dict[str, Any]] = [{"category": "HUBSPOT_DEFINED", "label": None,
                                  "typeId": ASSOCIATION_TYPE_IDS[(from_type, to_type)]}]
    defs = store.label_defs[(from_type, to_type)]
    out += [{"category": "USER_DEFINED", "typeId": t, "label": defs.get(t)}
            for t in store.labels_of(from_type, from_id, to_type, to_id)]
    return out


class LabelsApi:
    """GET/POST /crm/v4/associations/{from}/{to}/labels."""

    def __init__(self, store: Store, errors: ErrorFactory) -> None:
        self.store = store
        self.errors = errors

    def register(self, router: Router) -> None:
        path = "/crm/v4/associations/{fromObjectType}/{toObjectType}/labels"
        router.add("GET", path, "associations.labels.read", self.read)
        router.add("POST", path, "associations.labels.create", self.create)

    def read(self, request: Request) -> Reply:
        a, b = pair_of(self.errors, request.params["fromObjectType"], request.params["toObjectType"])
        with self.store.lock:
            results = [{"category": "HUBSPOT_DEFINED", "typeId": ASSOCIATION_TYPE_IDS[(a, b)],
                        "label": None}]
            results += [{"category": "USER_DEFINED", "typeId": t, "label": label}
                        for t, label in sorted(self.store.label_defs[(a, b)].items())]
        return Reply(200, {"results": results})

    def create(self, request: Request) -> Reply:
        a, b = pair_of(self.errors, request.params["fromObjectType"], request.params["toObjectType"])
        body = request.json(self.errors)
        label = body.get("label") if isinstance(body, dict) else None
        if not isinstance(label, str) or not label or not body.get("name"):
            raise self.errors.validation("label and name are required")
        with self.store.lock:
            if label in self.store.label_defs[(a, b)].values():
                raise self.errors.make(409, f"An association label '{label}' already exists.",
                                       "CONFLICT")
            type_id = self.store.define_label(a, b, label)
        return Reply(200, {"results": [{"category": "USER_DEFINED", "typeId": type_id,
                                        "label": label}]})


Link = tuple[str, int, list[int]]  # (target object type, target id, label type ids)


def plan_links(store: Store, errors: ErrorFactory, from_type: str, associations: Any) -> list[Link]:
    """Check a create body's `associations` ([{"to": {"id"}, "types": [spec, ...]}]) before
    anything is written; the caller holds the lock."""
    if associations in (None, []):
        return []
    if not isinstance(associations, list) or not all(isinstance(a, dict) for a in associations):
        raise errors.validation("associations must be a list of {to, types} objects")
    links = []
    for item in associations:
        specs = item.get("types") if isinstance(item.get("types"), list) else []
        to_type = target_type(store, from_type, specs[0]) if specs and isinstance(specs[0], dict) else None
        if to_type is None:
            raise errors.validation(f"associations: no association type fits {item.get('types')!r} "
                                    f"from {SINGULAR[from_type]}")
        labels = type_ids(store, errors, from_type, to_type, specs)
        to_id = str((item.get("to") or {}).get("id", ""))
        if store.row(to_type, to_id) is None:
            raise errors.validation(f"associations: {SINGULAR[to_type]} {to_id} does not exist")
        links.append((to_type, int(to_id), labels))
    return links


def apply_links(store: Store, from_type: str, from_id: int, links: list[Link]) -> None:
    for to_type, to_id, labels in links:
        store.link(from_type, from_id, to_type, to_id)
        for type_id in labels:
            store.label_link(from_type, from_id, to_type, to_id, type_id)


def associations_of(store: Store, from_type: str, from_id: int, wanted: list[str]) -> dict[str, Any]:
    """The v3 `associations` block of a record read with ?associations=contacts,companies."""
    out: dict[str, Any] = {}
    for raw in wanted:
        to_type = object_type_of(raw)
        if to_type is None or (from_type, to_type) not in ASSOCIATION_TYPE_IDS:
            continue
        ids = store.linked(from_type, from_id, to_type)
        if ids:
            kind = f"{SINGULAR[from_type]}_to_{SINGULAR[to_type]}"
            out[raw] = {"results": [{"id": str(i), "type": kind} for i in ids]}
    return out
