"""Property values written in batches of 100, by record id or upserted by email.

`POST .../batch/update` takes `{"inputs":[{"id","properties"}]}`; `.../batch/upsert` takes
`{"inputs":[{"id":"a@x.com","idProperty":"email","properties"}]}`; at most 100 inputs either
way (crm-apis.md B2). A reply of 200 confirms every input, 207 some of them: each input is
matched to its result or error by key (batches.py). A 400 refuses the whole batch when one
input is invalid, so the batch is split in halves until the refused record stands alone;
the others go through and only that record is reported with its error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from connector.config import HubSpotDestination
from connector.crm.base import FieldUpdate, RecordResult
from connector.crm.errors import FatalError
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.batches import chunked, reconcile_batch, result_id, result_property
from connector.crm.hubspot.schema import property_type
from connector.crm.hubspot.values import PropertyType, to_wire


def _failure(key: str, code: str, message: str) -> RecordResult:
    return RecordResult(record_id=key, ok=False, error_code=code, message=message)


class PropertyWriter:
    """Pushes FieldUpdates for one destination; `types` refines value formats after provisioning."""

    def __init__(self, api: HubSpotApi, destination: HubSpotDestination) -> None:
        self.api = api
        self.destination = destination
        self.by_email = destination.match == "email"
        self.types: dict[str, PropertyType] = {}

    def push(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        batches = chunked(updates, self.destination.batch_size)
        for results in self.api.transport.map(self._send_batch, batches):
            yield from results

    def _send_batch(self, batch: list[FieldUpdate]) -> list[RecordResult]:
        inputs: dict[str, dict[str, Any]] = {}
        results: list[RecordResult] = []
        for update in batch:
            key = update.record_id.strip().lower() if self.by_email else str(update.record_id)
            try:
                properties = self._properties(update.values)
            except (KeyError, ValueError, TypeError) as exc:
                results.append(_failure(update.record_id, "INVALID_VALUE", str(exc)))
                continue
            if key in inputs:
                # HubSpot refuses a batch naming one record twice; the later values win.
                results.append(_failure(inputs[key]["_key"], "DUPLICATE_INPUT", "superseded by a later update of the same record"))
            inputs[key] = {"_key": update.record_id, "properties": properties}
        if inputs:
            results.extend(self._write(list(inputs.items())))
        return results

    def _properties(self, values: Mapping[str, Any]) -> dict[str, str]:
        mapping = self.destination.properties
        out: dict[str, str] = {}
        for key, value in values.items():
            if key not in mapping:
                raise KeyError(f"no HubSpot property is mapped for {key!r} (destinations.hubspot.properties)")
            out[mapping[key]] = to_wire(value, self.types.get(key) or property_type(key))
        return out

    def _write(self, items: list[tuple[str, dict[str, Any]]]) -> list[RecordResult]:
        try:
            return self._call(items)
        except FatalError as exc:
            if exc.status != 400:
                raise
            if len(items) == 1:
                return [_failure(items[0][1]["_key"], exc.code or "VALIDATION_ERROR", str(exc))]
            half = len(items) // 2
            return self._write(items[:half]) + self._write(items[half:])

    def _call(self, items: list[tuple[str, dict[str, Any]]]) -> list[RecordResult]:
        if self.by_email:
            inputs = [
                {"id": key, "idProperty": "email", "properties": {**item["properties"], "email": key}}
                for key, item in items
            ]
            action, reader = "upsert", result_property("email")
        else:
            inputs = [{"id": key, "properties": item["properties"]} for key, item in items]
            action, reader = "update", result_id
        path = self.api.paths.batch("contacts", action)
        reply = self.api.call("POST", path, kind=f"contacts_batch_{action}", json={"inputs": inputs})
        outcome = reconcile_batch([k for k, _ in items], reply, reader, normalise=str.lower if self.by_email else str)
        out: list[RecordResult] = []
        for key, item in items:
            caller_key = item["_key"]
            if key in outcome.confirmed:
                res = outcome.confirmed[key]
                out.append(RecordResult(caller_key, True, crm_id=result_id(res), created=bool(res.get("new", False))))
            else:
                err = outcome.failed[key]
                out.append(_failure(caller_key, err.code or "ERROR", str(err)))
        return out
