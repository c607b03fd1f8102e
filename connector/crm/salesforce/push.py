"""Field updates: sObject Collections (200 records per call) or one Bulk API 2.0 ingest job.

- External ID configured: `PATCH /composite/sobjects/{Object}/{ExtId__c}` upserts (v46+).
- Otherwise: `PATCH /composite/sobjects` updates by record Id.
- More than `bulk_ingest_threshold` updates: one Bulk ingest job (upsert or update).

Both always send `allOrNone: false`, so one refused row never rolls back the others; each
update gets its own RecordResult (Collections answers in input order; Bulk result files are
unordered and are matched on the key column). A record Bulk did not process is reported
as failed (NOT_PROCESSED) and is retried next run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connector.config import SalesforceDestination
from connector.crm.base import FieldUpdate, RecordResult
from connector.crm.errors import ConfigurationError
from connector.crm.salesforce.bulk import MAX_UPLOAD_BYTES, BulkJobs, write_csv
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.soql import identifier


def wire_value(value: Any) -> Any:
    """A JSON-safe value: NaN and infinities become null (they are not JSON and would fail
    the whole call), dates become ISO strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def result_from_collections(key: str, item: dict[str, Any]) -> RecordResult:
    if item.get("success"):
        return RecordResult(key, True, crm_id=item.get("id"), created=bool(item.get("created", False)))
    errors = item.get("errors") or [{}]
    first = errors[0]
    return RecordResult(key, False, crm_id=item.get("id"), error_code=first.get("statusCode"),
                        message=first.get("message"))


def parse_bulk_error(text: str) -> tuple[str, str]:
    """'REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --' -> (code, message)."""
    code, _, rest = text.partition(":")
    return (code.strip() or "BULK_ERROR"), rest.strip()


class FieldWriter:
    """Writes desired field values to one object, mapping desired-state keys to fields."""

    def __init__(self, client: SalesforceClient, bulk: BulkJobs, destination: SalesforceDestination) -> None:
        self.client = client
        self.bulk = bulk
        self.destination = destination
        self.sobject = destination.object
        # upsert on the External ID only when asked to: segsync pulled every record it writes,
        # so it knows each Id, and an upsert on a key a record does not carry yet creates one
        self.upsert = destination.match == "external_id" and bool(destination.external_id_field)
        self.key_field = identifier(destination.external_id_field) if self.upsert and destination.external_id_field else "Id"

    def field_name(self, key: str) -> str:
        """The Salesforce field for a desired-state key (or a field name given directly)."""
        name = self.destination.fields.get(key)
        if name is not None:
            return identifier(name)
        if key == "customer_id" and self.destination.external_id_field:
            return identifier(self.destination.external_id_field)  # segsync's key, stamped
        if key.endswith("__c"):
            return identifier(key)
        raise ConfigurationError(
            f"destinations.salesforce.fields has no field for {key!r}; add `{key}: <Field__c>`"
        )

    def push(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        """One result per update, yielded as batches complete."""
        source = iter(updates)
        threshold = self.destination.bulk_ingest_threshold
        head = list(itertools.islice(source, threshold + 1))
        if len(head) > threshold:  # more than the threshold: one Bulk job (0 = always Bulk)
            yield from self._bulk(itertools.chain(head, source))
            return
        size = self.destination.batch_size
        batches = (head[i : i + size] for i in range(0, len(head), size))
        for results in self.client.http.map(self._collections, batches):
            yield from results

    # ------------------------------------------------------------------ Collections

    def _record(self, update: FieldUpdate) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": self.sobject}}
        record.update({self.field_name(k): wire_value(v) for k, v in update.values.items()})
        if self.upsert:
            record[self.key_field] = update.record_id
        else:
            record["id"] = update.record_id
        return record

    def _collections(self, batch: Sequence[FieldUpdate]) -> list[RecordResult]:
        body = {"allOrNone": False, "records": [self._record(u) for u in batch]}
        if self.upsert:
            path, kind = f"/{self.sobject}/{self.key_field}", "collections_upsert"
        else:
            path, kind = "", "collections_update"
        reply = self.client.collections("PATCH", path, body, kind=kind)
        if len(reply) != len(batch):
            return [RecordResult(u.record_id, False, error_code="RESULT_MISMATCH",
                                 message=f"{len(reply)} results for {len(batch)} records") for u in batch]
        return [result_from_collections(u.record_id, item) for u, item in zip(batch, reply, strict=True)]

    # ------------------------------------------------------------------ Bulk

    def _bulk(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        latest: dict[str, FieldUpdate] = {}
        for u in updates:
            latest[u.record_id] = u  # a key may appear once per job; the last value wins
        columns = sorted({self.field_name(k) for u in latest.values() for k in u.values})
        keys = {self.field_name(k): k for u in latest.values() for k in u.values}
        chunk: list[list[Any]] = []
        size = 0
        for u in latest.values():
            # an empty cell leaves the field as it is; None (null) is written as #N/A
            row = [u.record_id] + [wire_value(u.values[keys[c]]) if keys[c] in u.values else "" for c in columns]
            chunk.append(row)
            size += sum(len(str(v)) + 1 for v in row)
            if size >= MAX_UPLOAD_BYTES:
                yield from self._ingest_job(columns, chunk)
                chunk, size = [], 0
        if chunk:
            yield from self._ingest_job(columns, chunk)

    def _ingest_job(self, columns: list[str], rows: list[list[Any]]) -> Iterator[RecordResult]:
        header = [self.key_field, *columns]
        operation = "upsert" if self.upsert else "update"
        outcome = self.bulk.ingest(
            self.sobject, operation, write_csv(header, rows), external_id_field=self.destination.external_id_field if self.upsert else None
        )
        seen: set[str] = set()
        for r in outcome.successful:
            key = r.get(self.key_field) or r.get("sf__Id", "")
            seen.add(key)
            yield RecordResult(key, True, crm_id=r.get("sf__Id") or None, created=r.get("sf__Created") == "true")
        for r in outcome.failed:
            key = r.get(self.key_field) or r.get("sf__Id", "")
            seen.add(key)
            code, message = parse_bulk_error(r.get("sf__Error", ""))
            yield RecordResult(key, False, crm_id=r.get("sf__Id") or None, error_code=code, message=message)
        for row in rows:
            if str(row[0]) not in seen:
                yield RecordResult(str(row[0]), False, error_code="NOT_PROCESSED",
                                   message=f"not processed by Bulk job {outcome.job_id}")
