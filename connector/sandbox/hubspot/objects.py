"""Contacts and deals, one at a time: list (with `after` paging), get, create, update,
archive.

The list reply has `paging.next.after` only when another page exists: on the last page
`paging` is absent (reference §B2 [54]), which is how hubspot-api-client's get_all stops.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.hubspot import schema
from connector.sandbox.hubspot.association_types import apply_links, associations_of, plan_links
from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.store import Store, object_type_of
from connector.sandbox.hubspot.unemulated import unemulated_object

MAX_PAGE = 100


class ObjectsApi:
    def __init__(self, store: Store, errors: ErrorFactory) -> None:
        self.store = store
        self.errors = errors

    def register(self, router: Router) -> None:
        base = "/crm/v3/objects/{objectType}"
        router.add("GET", base, "objects.list", self.list_page)
        router.add("POST", base, "objects.create", self.create_one)
        router.add("GET", base + "/{objectId}", "objects.get", self.get_one)
        router.add("PATCH", base + "/{objectId}", "objects.update", self.update_one)
        router.add("DELETE", base + "/{objectId}", "objects.archive", self.archive_one)

    # ---- shared by the batch and search handlers --------------------------------------
    def object_type(self, request: Request) -> str:
        raw = request.params["objectType"]
        resolved = object_type_of(raw)
        if resolved is None and unemulated_object(raw):
            raise self.errors.make(501, f"The {raw} object exists in HubSpot but the segsync "
                                   "sandbox does not emulate it", "NOT_IMPLEMENTED")
        if resolved is None:
            raise self.errors.validation(f"Unable to infer object type from: {raw}")
        return resolved

    def clean_or_raise(self, object_type: str, values: Any) -> dict[str, str]:
        if not isinstance(values, dict):
            raise self.errors.validation("properties must be an object of name -> value")
        clean, problems = schema.validate_properties(self.store.properties[object_type], values)
        if problems:
            raise self.errors.invalid_values(problems)
        return clean

    def duplicate_email(self, object_type: str, clean: dict[str, str]) -> int | None:
        if object_type != "contacts" or not clean.get("email"):
            return None
        return self.store.find_by_email(clean["email"])

    def conflict(self, existing: int) -> Exception:
        # fs "Contact already exists. Existing ID: 6001" (reference §B2 [58]).
        return self.errors.make(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")

    def resolve_id(self, object_type: str, raw_id: Any, id_property: str | None) -> int | None:
        if id_property in (None, "", "hs_object_id"):
            return int(raw_id) if self.store.row(object_type, raw_id) is not None else None
        if id_property == "email" and object_type == "contacts":
            return self.store.find_by_email(str(raw_id))
        raise self.errors.validation(f"idProperty {id_property} is not a unique property of {object_type}")

    # ---- handlers ------------------------------------------------------------------
    def list_page(self, request: Request) -> Reply:
        object_type = self.object_type(request)
        limit = self._int_arg(request, "limit", 10, 1, MAX_PAGE)
        after = self._int_arg(request, "after", 0, 0, None)
        archived = (request.arg("archived", "false") or "false").lower() == "true"
        names = request.arg_list("properties") or None
        with self.store.lock:
            page: list[dict[str, Any]] = []
            next_id = None
            for record_id, rec in self.store.iter_rows(object_type, after, archived=archived):
                if len(page) == limit:
                    next_id = record_id
                    break
                page.append(self.with_associations(
                    request, object_type, record_id, self.store.render(object_type, record_id, rec, names)))
        body: dict[str, Any] = {"results": page}
        if next_id is not None:
            link = f"{request.base_url}{request.path}?limit={limit}&after={next_id}"
            body["paging"] = {"next": {"after": str(next_id), "link": link}}
        return Reply(200, body)

    def get_one(self, request: Request) -> Reply:
        object_type = self.object_type(request)
        names = request.arg_list("properties") or None
        archived = (request.arg("archived", "false") or "false").lower() == "true"
        with self.store.lock:
            record_id = self.resolve_id(object_type, request.params["objectId"], request.arg("idProperty"))
            rec = None if record_id is None else self.store.row(object_type, record_id, archived=archived)
            if rec is None or record_id is None:
                raise self.errors.not_found()
            return Reply(200, self.with_associations(request, object_type, record_id,
                                                     self.store.render(object_type, record_id, rec, names)))

    def with_associations(self, request: Request, object_type: str, record_id: int,
                          rendered: dict[str, Any]) -> dict[str, Any]:
        """`rendered` plus the `associations` block ?associations=... asks for (only
        non-empty ones, as HubSpot leaves out a type with nothing associated)."""
        wanted = request.arg_list("associations")
        found = associations_of(self.store, object_type, record_id, wanted) if wanted else {}
        return {**rendered, "associations": found} if found else rendered

    def create_one(self, request: Request) -> Reply:
        object_type = self.object_type(request)
        body = request.json(self.errors)
        clean = self.clean_or_raise(object_type, (body or {}).get("properties", {}))
        with self.store.lock:
            existing = self.duplicate_email(object_type, clean)
            if existing is not None:
                raise self.conflict(existing)
            links = plan_links(self.store, self.errors, object_type, (body or {}).get("associations"))
            record_id = self.store.insert(object_type, clean, self.store.now_ms())
            apply_links(self.store, object_type, record_id, links)
            rec = self.store.row(object_type, record_id)
            assert rec is not None
            return Reply(201, self.store.render(object_type, record_id, rec, list(clean)))

    def update_one(self, request: Request) -> Reply:
        object_type = self.object_type(request)
        body = request.json(self.errors)
        clean = self.clean_or_raise(object_type, (body or {}).get("properties", {}))
        with self.store.lock:
            record_id = self.resolve_id(object_type, request.params["objectId"], request.arg("idProperty"))
            if record_id is None:
                raise self.errors.not_found()
            existing = self.duplicate_email(object_type, clean)
            if existing is not None and existing != record_id:
                raise self.conflict(existing)
            self.store.apply(object_type, record_id, clean, self.store.now_ms())
            rec = self.store.row(object_type, record_id)
            assert rec is not None
            return Reply(200, self.store.render(object_type, record_id, rec, list(clean)))

    def archive_one(self, request: Request) -> Reply:
        object_type = self.object_type(request)
        with self.store.lock:
            try:
                self.store.remove(object_type, int(request.params["objectId"]), self.store.now_ms())
            except ValueError:
                pass  # HubSpot answers 204 for an id it does not know
        return Reply(204)

    def _int_arg(self, request: Request, name: str, default: int, low: int, high: int | None) -> int:
        raw = request.arg(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self.errors.validation(f"Invalid value for query parameter {name}: {raw}") from None
        if value < low or (high is not None and value > high):
            top = f" and {high}" if high is not None else ""
            raise self.errors.validation(f"{name} must be between {low}{top}, got {value}")
        return value
