"""Batch read / create / update / upsert / archive, at most 100 inputs per call.

Partial success is a 207 whose `errors[]` name the ids that failed (OBJECT_NOT_FOUND with
`context.ids`) next to the `results` that worked, with `numErrors`; a clean batch is a 200
(201 for create). Bad property values fail the whole batch with a 400 VALIDATION_ERROR before
anything is written (reference §B2 [45][56][57]).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from connector.sandbox.hubspot.association_types import apply_links, plan_links
from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.objects import ObjectsApi
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.schema import format_ms
from connector.sandbox.hubspot.store import Store

MAX_INPUTS = 100
_LABEL = {"contacts": "CONTACT", "deals": "DEAL", "companies": "COMPANY", "products": "PRODUCT", "line_items": "LINE_ITEM",
          "tickets": "TICKET"}


class BatchApi:
    def __init__(self, store: Store, errors: ErrorFactory, objects: ObjectsApi) -> None:
        self.store = store
        self.errors = errors
        self.objects = objects

    def register(self, router: Router) -> None:
        base = "/crm/v3/objects/{objectType}/batch/"
        router.add("POST", base + "read", "objects.batch.read", self.read)
        router.add("POST", base + "create", "objects.batch.create", self.create)
        router.add("POST", base + "update", "objects.batch.update", self.update)
        router.add("POST", base + "upsert", "objects.batch.upsert", self.upsert)
        router.add("POST", base + "archive", "objects.batch.archive", self.archive)

    def _inputs(self, request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        body = request.json(self.errors)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise self.errors.validation("inputs must be a list of objects")
        if len(inputs) > MAX_INPUTS:
            raise self.errors.validation(
                f"Too many inputs: {len(inputs)}. The maximum number of inputs per batch is {MAX_INPUTS}.")
        return body, inputs

    def _reply(self, ok_status: int, started: int, results: list[dict[str, Any]],
               missing: list[str], object_type: str) -> Reply:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            message = (f"Could not get some {_LABEL[object_type]} objects, they may be deleted or "
                       "not exist. Check that ids are valid.")
            body["numErrors"] = 1
            body["errors"] = [self.errors.batch_error("OBJECT_NOT_FOUND", message, missing)]
        body["startedAt"] = format_ms(started)
        body["completedAt"] = format_ms(self.store.now_ms())
        return Reply(207 if missing else ok_status, body)

    def read(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        body, inputs = self._inputs(request)
        names = body.get("properties") or None
        id_property = body.get("idProperty")
        with self.store.lock:
            started = self.store.now_ms()
            results, missing = [], []
            for item in inputs:
                raw = str(item.get("id", ""))
                record_id = self.objects.resolve_id(object_type, raw, id_property)
                rec = None if record_id is None else self.store.row(object_type, record_id)
                if rec is None or record_id is None:
                    missing.append(raw)
                else:
                    results.append(self.store.render(object_type, record_id, rec, names))
            return self._reply(200, started, results, missing, object_type)

    def create(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        _, inputs = self._inputs(request)
        cleaned = [self.objects.clean_or_raise(object_type, i.get("properties", {})) for i in inputs]
        with self.store.lock:
            self._refuse_duplicate_emails(object_type, cleaned)
            links = [plan_links(self.store, self.errors, object_type, i.get("associations"))
                     for i in inputs]
            now = self.store.now_ms()
            results = []
            for clean, planned in zip(cleaned, links, strict=True):
                record_id = self.store.insert(object_type, clean, now)
                apply_links(self.store, object_type, record_id, planned)
                rec = self.store.row(object_type, record_id)
                assert rec is not None
                results.append(self.store.render(object_type, record_id, rec, list(clean)))
            return self._reply(201, now, results, [], object_type)

    def update(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        _, inputs = self._inputs(request)
        cleaned = [self.objects.clean_or_raise(object_type, i.get("properties", {})) for i in inputs]
        ids = [str(i.get("id", "")) for i in inputs]
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise self.errors.validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
        with self.store.lock:
            started = self.store.now_ms()
            results, missing = [], []
            for item, raw, clean in zip(inputs, ids, cleaned, strict=True):
                record_id = self.objects.resolve_id(object_type, raw, item.get("idProperty"))
                if record_id is None:
                    missing.append(raw)
                    continue
                self.store.apply(object_type, record_id, clean, started)
                rec = self.store.row(object_type, record_id)
                assert rec is not None
                results.append(self.store.render(object_type, record_id, rec, list(clean)))
            return self._reply(200, started, results, missing, object_type)

    def upsert(self, request: Request) -> Reply:
        """Create or update by a unique property; each result says `new` (reference §B2)."""
        object_type = self.objects.object_type(request)
        _, inputs = self._inputs(request)
        for item in inputs:
            if item.get("idProperty") != "email" or object_type != "contacts" or not item.get("id"):
                raise self.errors.validation(
                    "upsert needs idProperty 'email' (the sandbox's only unique property) and an id")
        cleaned = [self.objects.clean_or_raise(object_type, i.get("properties", {})) for i in inputs]
        with self.store.lock:
            now = self.store.now_ms()
            results = []
            for item, clean in zip(inputs, cleaned, strict=True):
                clean = {**clean, "email": str(item["id"]).strip()}
                record_id = self.store.find_by_email(clean["email"])
                is_new = record_id is None
                if record_id is None:
                    record_id = self.store.insert(object_type, clean, now)
                else:
                    self.store.apply(object_type, record_id, clean, now)
                rec = self.store.row(object_type, record_id)
                assert rec is not None
                results.append({**self.store.render(object_type, record_id, rec, list(clean)), "new": is_new})
            return self._reply(200, now, results, [], object_type)

    def archive(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        _, inputs = self._inputs(request)
        with self.store.lock:
            now = self.store.now_ms()
            for item in inputs:
                try:
                    self.store.remove(object_type, int(str(item.get("id", ""))), now)
                except ValueError:
                    continue  # unknown ids are ignored: the reply is 204 either way
        return Reply(204)

    def _refuse_duplicate_emails(self, object_type: str, cleaned: list[dict[str, str]]) -> None:
        seen: set[str] = set()
        for clean in cleaned:
            existing = self.objects.duplicate_email(object_type, clean)
            if existing is not None:
                raise self.objects.conflict(existing)
            email = clean.get("email", "").lower()
            if email and email in seen:
                raise self.errors.validation(f"Duplicate email in batch input: {email}")
            if email:
                seen.add(email)
