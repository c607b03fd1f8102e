"""Bulk API 2.0: query jobs (large pulls) and ingest jobs (large pushes).

Query: POST /jobs/query, poll until JobComplete, then page the CSV results with
`maxRecords` and the `Sforce-Locator` header until it reads "null" (Bulk API 2.0 Developer
Guide, "Get Results for a Query Job"). ORDER BY is not used: it disables PK chunking and
can time the job out ("Understanding Bulk API 2.0 Query"), so callers must not rely on row
order.

Ingest: POST /jobs/ingest, PUT the CSV to the job's contentUrl, PATCH state UploadComplete
(without it the job never starts), poll, then read successfulResults/, failedResults/ and
unprocessedrecords/. Result rows come back in any order, so they are matched on a key
column. Polling waits on the transport's clock, so tests do not sleep; every call goes
through the transport and so is re-authenticated on 401 INVALID_SESSION_ID like REST calls.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from connector.crm.errors import FatalError
from connector.crm.salesforce.client import SalesforceClient

TERMINAL = {"JobComplete", "Failed", "Aborted"}
#: Raw CSV per ingest job; the API takes 150 MB after base64, i.e. about 100 MB raw.
MAX_UPLOAD_BYTES = 100_000_000
NULL = "#N/A"  # Bulk API CSV: sets a field to null


@dataclass(frozen=True)
class IngestOutcome:
    """Rows of the three result files of one ingest job, as dicts keyed by CSV header."""

    job_id: str
    successful: list[dict[str, str]]
    failed: list[dict[str, str]]
    unprocessed: list[dict[str, str]]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class BulkJobs:
    """Runs Bulk API 2.0 jobs through a SalesforceClient."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        poll_initial: float = 0.5,
        poll_max: float = 10.0,
        max_wait: float = 4 * 3600.0,
        results_page: int = 50_000,
    ) -> None:
        self.client = client
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.max_wait = max_wait
        self.results_page = results_page

    def wait(self, path: str, kind: str) -> dict[str, Any]:
        """Poll a job until it is terminal; a Failed or Aborted job is a FatalError."""
        delay, waited = self.poll_initial, 0.0
        while True:
            job = self.client.json("GET", path, kind=kind)
            state = job.get("state")
            if state in TERMINAL:
                break
            if waited >= self.max_wait:
                raise FatalError(f"Bulk job {job.get('id')} still {state} after {waited:.0f} s", crm="salesforce")
            self.client.clock.sleep(delay)
            waited += delay
            delay = min(self.poll_max, delay * 2)
        if state != "JobComplete":
            raise FatalError(
                f"Bulk job {job.get('id')} ended {state}: {job.get('errorMessage') or 'no message'}",
                crm="salesforce",
                code=f"BULK_{str(state).upper()}",
            )
        return job

    # ------------------------------------------------------------------ query

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[list[dict[str, str]]]:
        """Pages of CSV rows of a query job (unordered), one page in memory at a time."""
        job = self.client.json(
            "POST",
            "jobs/query",
            kind="bulk_query",
            json={
                "operation": "queryAll" if include_deleted else "query",
                "query": soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        )
        job_id = job["id"]
        self.wait(f"jobs/query/{job_id}", "bulk_query_poll")
        locator: str | None = None
        while True:
            params: dict[str, Any] = {"maxRecords": self.results_page}
            if locator:
                params["locator"] = locator
            response = self.client.call(
                "GET", f"jobs/query/{job_id}/results", kind="bulk_query_results",
                params=params, headers={"Accept": "text/csv"},
            )
            rows = read_csv(response.text)
            if rows:
                yield rows
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    # ------------------------------------------------------------------ ingest

    def ingest(self, sobject: str, operation: str, csv_text: str, external_id_field: str | None = None) -> IngestOutcome:
        """One ingest job for `csv_text` (header + rows, LF line endings)."""
        body: dict[str, Any] = {"object": sobject, "operation": operation, "contentType": "CSV", "lineEnding": "LF"}
        if external_id_field:
            body["externalIdFieldName"] = external_id_field
        job = self.client.json("POST", "jobs/ingest", kind="bulk_ingest", json=body)
        job_id = job["id"]
        # contentUrl is relative to the instance ("services/data/v66.0/jobs/ingest/750.../batches")
        content_url = job.get("contentUrl") or f"jobs/ingest/{job_id}/batches"
        if content_url.startswith("services/"):
            content_url = "/" + content_url
        self.client.call(
            "PUT", content_url, kind="bulk_ingest_upload",
            content=csv_text.encode("utf-8"), headers={"Content-Type": "text/csv"},
        )
        self.client.json("PATCH", f"jobs/ingest/{job_id}", kind="bulk_ingest_close", json={"state": "UploadComplete"})
        self.wait(f"jobs/ingest/{job_id}", "bulk_ingest_poll")
        files = {}
        for name in ("successfulResults", "failedResults", "unprocessedrecords"):
            response = self.client.call(
                "GET", f"jobs/ingest/{job_id}/{name}/", kind="bulk_ingest_results", headers={"Accept": "text/csv"}
            )
            files[name] = read_csv(response.text)
        return IngestOutcome(job_id, files["successfulResults"], files["failedResults"], files["unprocessedrecords"])


def csv_value(value: Any) -> str:
    """A value as a Bulk CSV cell: None -> #N/A (null), booleans lower-case."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def write_csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([csv_value(v) for v in row] for row in rows)
    return out.getvalue()
