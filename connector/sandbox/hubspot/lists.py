"""Lists v3 (now "segments"): MANUAL lists with unique names, find by name or by ids, search,
rename, memberships, and the lists one record belongs to.

HubSpot spells the add reply `recordsIdsAdded` (sic; its own OpenAPI spec and
hubspot-api-client's MembershipsUpdateResponse use that key), while the remove reply says
`recordIdsRemoved`; ids that are not records go to `recordIdsMissing`, ids already in (or
not in) the list are ignored silently (reference §B5 [72][73]).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.records import ListRecord
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.schema import format_ms
from connector.sandbox.hubspot.store import OBJECT_TYPE_IDS, Store

PROCESSING_TYPES = ("MANUAL", "SNAPSHOT", "DYNAMIC")
MAX_MEMBERSHIP_PAGE, MAX_SEARCH_COUNT = 250, 500
_TYPE_BY_ID = {v: k for k, v in OBJECT_TYPE_IDS.items()}


class ListsApi:
    def __init__(self, store: Store, errors: ErrorFactory, *, portal_user_id: int = 1) -> None:
        self.store = store
        self.errors = errors
        self.user_id = str(portal_user_id)
        self._sorted: dict[tuple[int, int], list[int]] = {}

    def register(self, router: Router) -> None:
        base = "/crm/v3/lists"
        router.add("POST", base, "lists.create", self.create)
        router.add("POST", base + "/search", "lists.search", self.search)
        router.add("GET", base + "/object-type-id/{objectTypeId}/name/{listName}", "lists.get", self.by_name)
        router.add("GET", base, "lists.get", self.by_ids)
        router.add("GET", base + "/{listId}", "lists.get", self.by_id)
        router.add("PUT", base + "/{listId}/update-list-name", "lists.update", self.rename)
        router.add("GET", base + "/records/{objectTypeId}/{recordId}/memberships",
                   "lists.memberships.read", self.record_memberships)
        router.add("DELETE", base + "/{listId}", "lists.delete", self.delete)
        router.add("GET", base + "/{listId}/memberships", "lists.memberships.read", self.memberships)
        router.add("DELETE", base + "/{listId}/memberships", "lists.memberships.clear", self.clear)
        router.add("PUT", base + "/{listId}/memberships/add", "lists.memberships.add", self.add)
        router.add("PUT", base + "/{listId}/memberships/remove", "lists.memberships.remove", self.remove)
        router.add("PUT", base + "/{listId}/memberships/add-and-remove", "lists.memberships.add-and-remove",
                   self.add_and_remove)

    def render(self, lst: ListRecord) -> dict[str, Any]:
        return {
            "listId": str(lst.list_id), "listVersion": lst.version, "name": lst.name,
            "objectTypeId": lst.object_type_id, "processingType": lst.processing_type,
            "processingStatus": "COMPLETE", "createdAt": format_ms(lst.created),
            "updatedAt": format_ms(lst.updated), "filtersUpdatedAt": format_ms(lst.created),
            "createdById": self.user_id, "updatedById": self.user_id, "size": len(lst.members),
        }

    def create(self, request: Request) -> Reply:
        body = request.json(self.errors)
        if not isinstance(body, dict) or not body.get("name") or not body.get("objectTypeId"):
            raise self.errors.validation("Missing required fields: name, objectTypeId, processingType")
        if body.get("processingType") not in PROCESSING_TYPES:
            raise self.errors.validation(f"processingType must be one of {list(PROCESSING_TYPES)}")
        if body["objectTypeId"] not in _TYPE_BY_ID:
            raise self.errors.validation(f"objectTypeId {body['objectTypeId']} is not supported by the sandbox")
        with self.store.lock:
            if self.store.list_named(body["name"]) is not None:
                # List names are unique per portal; the exact status/message is unverified.
                raise self.errors.validation(f"A list named '{body['name']}' already exists.")
            lst = self.store.new_list(body["name"], body["objectTypeId"], body["processingType"])
            return Reply(200, {"list": self.render(lst)})

    def by_name(self, request: Request) -> Reply:
        with self.store.lock:
            lst = self.store.list_named(request.params["listName"])
            if lst is None or lst.object_type_id != request.params["objectTypeId"]:
                raise self.errors.make(404, f"List with name {request.params['listName']} does not exist.",
                                       "OBJECT_NOT_FOUND")
            return Reply(200, {"list": self.render(lst)})

    def by_id(self, request: Request) -> Reply:
        with self.store.lock:
            return Reply(200, {"list": self.render(self._list(request))})

    def by_ids(self, request: Request) -> Reply:
        """GET /crm/v3/lists?listIds=1&listIds=2: the lists that exist, unknown ids left out."""
        ids = request.arg_list("listIds")
        if not all(i.isdigit() for i in ids):
            raise self.errors.validation(f"listIds must be numeric list ids, got {ids}")
        with self.store.lock:
            found = [self.store.list_by_id[int(i)] for i in ids if int(i) in self.store.list_by_id]
            return Reply(200, {"lists": [self.render(lst) for lst in found]})

    def rename(self, request: Request) -> Reply:
        name = request.arg("listName")
        if not name:
            raise self.errors.validation("The query parameter listName is required.")
        with self.store.lock:
            lst = self._list(request)
            other = self.store.list_named(name)
            if other is not None and other is not lst:
                raise self.errors.validation(f"A list named '{name}' already exists.")
            lst.name = name
            lst.updated = self.store.now_ms()
            return Reply(200, {"updatedList": self.render(lst)})

    def record_memberships(self, request: Request) -> Reply:
        """The lists holding one record, with when it was added [Lists v3, Memberships:
        GET /crm/v3/lists/records/{objectTypeId}/{recordId}/memberships]."""
        type_id, raw = request.params["objectTypeId"], request.params["recordId"]
        object_type = _TYPE_BY_ID.get(type_id)
        if object_type is None:
            raise self.errors.validation(f"objectTypeId {type_id} is not supported by the sandbox")
        with self.store.lock:
            if self.store.row(object_type, raw) is None:
                raise self.errors.not_found()
            results = [{"listId": str(lst.list_id), "listVersion": lst.version,
                        "firstAddedTimestamp": format_ms(lst.members[int(raw)]),
                        "lastAddedTimestamp": format_ms(lst.members[int(raw)])}
                       for lst in self.store.list_by_id.values()
                       if lst.object_type_id == type_id and int(raw) in lst.members]
        return Reply(200, {"results": results, "total": len(results)})

    def delete(self, request: Request) -> Reply:
        with self.store.lock:
            lst = self._list(request)
            del self.store.list_by_id[lst.list_id]
        return Reply(204)

    def search(self, request: Request) -> Reply:
        body = request.json(self.errors) or {}
        count = int(body.get("count", 20))
        offset = int(body.get("offset", 0))
        if not 0 < count <= MAX_SEARCH_COUNT:
            raise self.errors.validation(f"count must be between 1 and {MAX_SEARCH_COUNT}")
        query = str(body.get("query") or "").lower()
        types = set(body.get("processingTypes") or PROCESSING_TYPES)
        wanted_ids = {int(i) for i in body.get("listIds") or []}
        with self.store.lock:
            found = [lst for lst in self.store.list_by_id.values()
                     if query in lst.name.lower() and lst.processing_type in types
                     and (not wanted_ids or lst.list_id in wanted_ids)]
            page = found[offset:offset + count]
            lists = [{**self.render(lst), "additionalProperties": {"hs_list_size": str(len(lst.members))}}
                     for lst in page]
        return Reply(200, {"lists": lists, "total": len(found), "offset": offset + len(page),
                           "hasMore": offset + len(page) < len(found)})

    def memberships(self, request: Request) -> Reply:
        limit = int(request.arg("limit", "100") or 100)
        if not 0 < limit <= MAX_MEMBERSHIP_PAGE:
            raise self.errors.validation(f"limit must be between 1 and {MAX_MEMBERSHIP_PAGE}, got {limit}")
        after = int(request.arg("after", "0") or 0)
        with self.store.lock:
            lst = self._list(request)
            ordered = self._ordered(lst)
            start = bisect_left(ordered, after)
            page = ordered[start:start + limit]
            results = [{"recordId": str(r), "membershipTimestamp": format_ms(lst.members[r])} for r in page]
            body: dict[str, Any] = {"results": results, "total": len(ordered)}
            if start + limit < len(ordered):
                nxt = ordered[start + limit]
                body["paging"] = {"next": {"after": str(nxt),
                                           "link": f"{request.base_url}{request.path}?after={nxt}&limit={limit}"}}
        return Reply(200, body)

    def clear(self, request: Request) -> Reply:
        with self.store.lock:
            lst = self._writable(request)
            lst.members.clear()
            self._touch(lst)
        return Reply(204)

    def add(self, request: Request) -> Reply:
        ids = self._ids(request.json(self.errors))
        with self.store.lock:
            added, _, missing = self._change(self._writable(request), ids, [])
        return Reply(200, {"recordsIdsAdded": added, "recordIdsMissing": missing})

    def remove(self, request: Request) -> Reply:
        ids = self._ids(request.json(self.errors))
        with self.store.lock:
            _, removed, missing = self._change(self._writable(request), [], ids)
        return Reply(200, {"recordIdsRemoved": removed, "recordIdsMissing": missing})

    def add_and_remove(self, request: Request) -> Reply:
        body = request.json(self.errors)
        if not isinstance(body, dict):
            raise self.errors.validation("body must be {recordIdsToAdd, recordIdsToRemove}")
        to_add = self._ids(body.get("recordIdsToAdd") or [])
        to_remove = self._ids(body.get("recordIdsToRemove") or [])
        with self.store.lock:
            added, removed, missing = self._change(self._writable(request), to_add, to_remove)
        return Reply(200, {"recordIdsMissing": missing, "recordIdsRemoved": removed, "recordsIdsAdded": added})

    def _change(self, lst: ListRecord, to_add: list[str], to_remove: list[str]
                ) -> tuple[list[str], list[str], list[str]]:
        object_type = _TYPE_BY_ID[lst.object_type_id]
        now = self.store.now_ms()
        added, removed, missing = [], [], []
        for raw in to_remove:
            if self.store.row(object_type, raw) is None:
                missing.append(raw)
            elif lst.members.pop(int(raw), None) is not None:
                removed.append(raw)
        for raw in to_add:
            if self.store.row(object_type, raw) is None:
                missing.append(raw)
            elif int(raw) not in lst.members:
                lst.members[int(raw)] = now
                added.append(raw)
        if added or removed:
            self._touch(lst)
        return added, removed, sorted(set(missing), key=missing.index)

    def _touch(self, lst: ListRecord) -> None:
        lst.version += 1
        lst.updated = self.store.now_ms()

    def _ordered(self, lst: ListRecord) -> list[int]:
        key = (lst.list_id, lst.version)
        if key not in self._sorted:
            self._sorted = {key: sorted(lst.members)}  # keep one: the list being paged
        return self._sorted[key]

    def _ids(self, raw: Any) -> list[str]:
        if not isinstance(raw, list) or not all(isinstance(i, str | int) and str(i).isdigit() for i in raw):
            raise self.errors.validation("record ids must be a list of numeric ids")
        return [str(i) for i in raw]

    def _list(self, request: Request) -> ListRecord:
        raw = request.params["listId"]
        lst = self.store.list_by_id.get(int(raw)) if raw.isdigit() else None
        if lst is None:
            raise self.errors.make(404, f"List {raw} does not exist.", "OBJECT_NOT_FOUND")
        return lst

    def _writable(self, request: Request) -> ListRecord:
        lst = self._list(request)
        if lst.processing_type == "DYNAMIC":
            raise self.errors.validation(
                f"List {lst.list_id} is DYNAMIC: only MANUAL and SNAPSHOT lists accept membership changes")
        return lst
