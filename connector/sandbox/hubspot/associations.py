"""Associations v4 between contacts, deals and companies: batch read, create (default or
labeled) and archive, and the per-record read, create and archive.

A from-id with nothing associated is not left out silently: the batch answers 207 with an
OBJECT_NOT_FOUND error whose subCategory is crm.associations.NO_ASSOCIATIONS_FOUND ("No deal
is associated with contact 1.") next to the results for the others (fs
`NO_ASSOCIATIONS_FOUND`). `toObjectId` is a number in v4 replies (reference §B3 [65]).
Archive answers 204 whether or not the link existed, as HubSpot does.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.hubspot.association_types import describe, pair_of, type_ids
from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.schema import format_ms
from connector.sandbox.hubspot.store import ASSOCIATION_TYPE_IDS, OBJECT_TYPE_IDS, SINGULAR, Store

MAX_INPUTS = 1000
_SINGULAR = SINGULAR


class AssociationsApi:
    def __init__(self, store: Store, errors: ErrorFactory) -> None:
        self.store = store
        self.errors = errors

    def register(self, router: Router) -> None:
        base = "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/"
        router.add("POST", base + "read", "associations.batch.read", self.batch_read)
        router.add("POST", base + "associate/default", "associations.batch.create", self.batch_default)
        router.add("GET", "/crm/v4/objects/{fromObjectType}/{objectId}/associations/{toObjectType}",
                   "associations.read", self.read_one)
        router.add("PUT", "/crm/v4/objects/{fromObjectType}/{objectId}/associations/default/{toObjectType}/{toObjectId}",
                   "associations.create", self.put_default)
        one = "/crm/v4/objects/{fromObjectType}/{objectId}/associations/{toObjectType}/{toObjectId}"
        router.add("PUT", one, "associations.create", self.put_labeled)
        router.add("DELETE", one, "associations.archive", self.archive_one)
        router.add("POST", base + "create", "associations.batch.create", self.batch_create)
        router.add("POST", base + "archive", "associations.batch.archive", self.batch_archive)

    def _types(self, request: Request) -> tuple[str, str]:
        return pair_of(self.errors, request.params["fromObjectType"], request.params["toObjectType"])

    def _targets(self, from_type: str, to_type: str, from_id: int) -> list[dict[str, Any]]:
        return [{"toObjectId": to_id,
                 "associationTypes": describe(self.store, from_type, from_id, to_type, to_id)}
                for to_id in self.store.linked(from_type, from_id, to_type)]

    def _inputs(self, request: Request) -> list[dict[str, Any]]:
        body = request.json(self.errors)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise self.errors.validation("inputs must be a list of objects")
        if len(inputs) > MAX_INPUTS:
            raise self.errors.validation(f"Too many inputs: {len(inputs)}; the maximum is {MAX_INPUTS}.")
        return inputs

    def batch_read(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        inputs = self._inputs(request)
        with self.store.lock:
            started = self.store.now_ms()
            results, errors = [], []
            for item in inputs:
                raw = str(item.get("id", ""))
                targets = self._targets(from_type, to_type, int(raw)) if raw.isdigit() else []
                if targets:
                    results.append({"from": {"id": raw}, "to": targets})
                else:
                    errors.append(self._none_found(from_type, to_type, raw))
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = format_ms(started)
        body["completedAt"] = format_ms(self.store.now_ms())
        return Reply(207 if errors else 200, body)

    def _none_found(self, from_type: str, to_type: str, raw: str) -> dict[str, Any]:
        return {
            "status": "error", "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {_SINGULAR[to_type]} is associated with {_SINGULAR[from_type]} {raw}.",
            "context": {"fromObjectId": [raw], "fromObjectType": [_SINGULAR[from_type]],
                        "toObjectType": [_SINGULAR[to_type]]},
        }

    def batch_default(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        inputs = self._inputs(request)
        pairs = [(str((i.get("from") or {}).get("id", "")), str((i.get("to") or {}).get("id", ""))) for i in inputs]
        with self.store.lock:
            started = self.store.now_ms()
            missing = [f for f, t in pairs if self.store.row(from_type, f) is None]
            missing += [t for f, t in pairs if self.store.row(to_type, t) is None]
            results = []
            for from_id, to_id in pairs:
                if from_id in missing or to_id in missing:
                    continue
                self.store.link(from_type, int(from_id), to_type, int(to_id))
                results.append({"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": ASSOCIATION_TYPE_IDS[(from_type, to_type)]}})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            body["numErrors"] = 1
            body["errors"] = [self.errors.batch_error(
                "OBJECT_NOT_FOUND", "Some objects to associate do not exist.", sorted(set(missing)))]
        body["startedAt"] = format_ms(started)
        body["completedAt"] = format_ms(self.store.now_ms())
        return Reply(207 if missing else 200, body)

    def read_one(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        raw = request.params["objectId"]
        with self.store.lock:
            if self.store.row(from_type, raw) is None:
                raise self.errors.not_found()
            return Reply(200, {"results": self._targets(from_type, to_type, int(raw))})

    def put_default(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        from_id, to_id = request.params["objectId"], request.params["toObjectId"]
        with self.store.lock:
            if self.store.row(from_type, from_id) is None or self.store.row(to_type, to_id) is None:
                raise self.errors.not_found()
            self.store.link(from_type, int(from_id), to_type, int(to_id))
            return Reply(200, {"status": "COMPLETE", "results": [{
                "fromObjectTypeId": OBJECT_TYPE_IDS[from_type], "fromObjectId": int(from_id),
                "toObjectTypeId": OBJECT_TYPE_IDS[to_type], "toObjectId": int(to_id),
                "labels": []}], "startedAt": format_ms(self.store.now_ms()),
                "completedAt": format_ms(self.store.now_ms())})

    def _pair_reply(self, from_type: str, from_id: int, to_type: str, to_id: int) -> dict[str, Any]:
        """LabelsBetweenObjectPair: the user-defined labels now on the link."""
        defs = self.store.label_defs[(from_type, to_type)]
        return {"fromObjectTypeId": OBJECT_TYPE_IDS[from_type], "fromObjectId": from_id,
                "toObjectTypeId": OBJECT_TYPE_IDS[to_type], "toObjectId": to_id,
                "labels": [defs[t] for t in self.store.labels_of(from_type, from_id, to_type, to_id)]}

    def _link(self, from_type: str, from_id: str, to_type: str, to_id: str, specs: Any) -> dict[str, Any]:
        """Create one link with the types `specs` names; the caller holds the lock."""
        labels = type_ids(self.store, self.errors, from_type, to_type, specs)
        if self.store.row(from_type, from_id) is None or self.store.row(to_type, to_id) is None:
            raise self.errors.not_found()
        self.store.link(from_type, int(from_id), to_type, int(to_id))
        for type_id in labels:
            self.store.label_link(from_type, int(from_id), to_type, int(to_id), type_id)
        return self._pair_reply(from_type, int(from_id), to_type, int(to_id))

    def put_labeled(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        specs = request.json(self.errors)
        with self.store.lock:
            return Reply(201, self._link(from_type, request.params["objectId"], to_type,
                                         request.params["toObjectId"], specs))

    def archive_one(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        from_id, to_id = request.params["objectId"], request.params["toObjectId"]
        if from_id.isdigit() and to_id.isdigit():
            with self.store.lock:
                self.store.unlink(from_type, int(from_id), to_type, int(to_id))
        return Reply(204)

    def batch_create(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        inputs = self._inputs(request)
        with self.store.lock:
            started = self.store.now_ms()
            results, missing = [], []
            for item in inputs:
                from_id = str((item.get("from") or {}).get("id", ""))
                to_id = str((item.get("to") or {}).get("id", ""))
                if self.store.row(from_type, from_id) is None or self.store.row(to_type, to_id) is None:
                    missing += [from_id, to_id]
                    continue
                results.append(self._link(from_type, from_id, to_type, to_id, item.get("types")))
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            body["numErrors"] = 1
            body["errors"] = [self.errors.batch_error(
                "OBJECT_NOT_FOUND", "Some objects to associate do not exist.", sorted(set(missing)))]
        body["startedAt"] = format_ms(started)
        body["completedAt"] = format_ms(self.store.now_ms())
        return Reply(207 if missing else 201, body)

    def batch_archive(self, request: Request) -> Reply:
        from_type, to_type = self._types(request)
        inputs = self._inputs(request)
        with self.store.lock:
            for item in inputs:
                from_id = str((item.get("from") or {}).get("id", ""))
                targets = item.get("to")
                for target in targets if isinstance(targets, list) else []:
                    to_id = str((target or {}).get("id", ""))
                    if from_id.isdigit() and to_id.isdigit():
                        self.store.unlink(from_type, int(from_id), to_type, int(to_id))
        return Reply(204)
