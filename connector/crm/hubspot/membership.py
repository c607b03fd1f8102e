"""Static contact lists: found by name or created, members read and changed in chunks.

`GET /crm/lists/2026-03/object-type-id/0-1/name/{name}` finds a list (404 when there is
none); `POST /crm/lists/2026-03` with `{"name","objectTypeId":"0-1","processingType":
"MANUAL"}` creates one; memberships are read 250 per page from `.../memberships` and
changed with `PUT .../memberships/add-and-remove` (crm-apis.md B5; lists.py for replies).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from connector.crm.base import RecordResult
from connector.crm.errors import FatalError
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.batches import chunked
from connector.crm.hubspot.lists import MEMBERSHIP_CHUNK, MembershipOutcome, reconcile_membership
from connector.crm.hubspot.paths import CONTACT_OBJECT_TYPE_ID

WRITABLE = {"MANUAL", "SNAPSHOT"}
MEMBERS_PAGE = 250


class ListManager:
    def __init__(self, api: HubSpotApi, chunk: int = MEMBERSHIP_CHUNK) -> None:
        self.api = api
        self.chunk = chunk
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure_list(self, name: str) -> str:
        with self._lock:
            if name in self._ids:
                return self._ids[name]
        found = self._find(name)
        if found is None:
            body = {"name": name, "objectTypeId": CONTACT_OBJECT_TYPE_ID, "processingType": "MANUAL"}
            try:
                reply = self.api.call("POST", self.api.paths.lists(), kind="list_create", json=body)
                found = _list_id(reply, name)
            except FatalError as exc:
                # The name is taken: another writer created it between our lookup and our create,
                # or our own earlier attempt did and its reply was lost (a retried POST). HubSpot
                # answers 409, or 400 VALIDATION_ERROR "A list named ... already exists".
                if exc.status not in (400, 409) or (found := self._find(name)) is None:
                    raise
        with self._lock:
            self._ids[name] = found
        return found

    def _find(self, name: str) -> str | None:
        try:
            reply = self.api.call("GET", self.api.paths.list_by_name(name), kind="list_find")
        except FatalError as exc:
            if exc.status == 404:
                return None
            raise
        info = reply.get("list") or {}
        if info.get("processingType") not in WRITABLE:
            raise FatalError(
                f"HubSpot list {name!r} (id {info.get('listId')}) is {info.get('processingType')}: segsync can only "
                "change MANUAL lists; rename it or change lists.*_name_template",
                crm="hubspot",
                code="LIST_NOT_MANUAL",
            )
        return _list_id(reply, name)

    def members(self, list_id: str) -> set[str]:
        found: set[str] = set()
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": MEMBERS_PAGE}
            if after:
                params["after"] = after
            reply = self.api.call("GET", self.api.paths.list_memberships(list_id), kind="list_members", params=params)
            found.update(str(r["recordId"]) for r in reply.get("results") or [])
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return found

    def change(self, list_id: str, to_add: Sequence[str], to_remove: Sequence[str]) -> MembershipOutcome:
        """Add and remove in the same calls, `chunk` ids per call (adds and removes combined)."""
        total = MembershipOutcome()
        tagged = [(i, True) for i in dict.fromkeys(map(str, to_add))] + [(i, False) for i in dict.fromkeys(map(str, to_remove))]
        for chunk in chunked(tagged, self.chunk):
            adds = [i for i, add in chunk if add]
            removes = [i for i, add in chunk if not add]
            body = {"recordIdsToAdd": adds, "recordIdsToRemove": removes}
            path = self.api.paths.list_memberships(list_id, "add-and-remove")
            reply = self.api.call("PUT", path, kind="list_membership_change", json=body)
            total.merge(reconcile_membership(adds, removes, reply))
        return total

    def results(self, list_id: str, ids: Iterable[str], *, add: bool) -> Iterator[RecordResult]:
        ids = list(ids)
        outcome = self.change(list_id, ids if add else [], [] if add else ids)
        yield from (RecordResult(i, True, crm_id=i) for i in (outcome.added if add else outcome.removed))
        for i in outcome.missing:
            if not add:
                # removing a contact that no longer exists leaves the list as desired
                yield RecordResult(i, True, crm_id=i)
                continue
            # recordIdsMissing on an add: the contact does not exist (deleted or merged), not a success.
            yield RecordResult(i, False, crm_id=i, error_code="OBJECT_NOT_FOUND", message="no such HubSpot contact (deleted?)")


def _list_id(reply: dict, name: str) -> str:
    info = reply.get("list") or reply
    list_id = info.get("listId")
    if list_id is None:
        raise FatalError(f"HubSpot returned no listId for list {name!r}", crm="hubspot")
    return str(list_id)
