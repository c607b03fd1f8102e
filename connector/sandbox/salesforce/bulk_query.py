"""Bulk API 2.0 query jobs.

Create (state UploadComplete) -> polls see InProgress -> JobComplete after
`bulk_job_polls` polls (no sleeping anywhere). Results are CSV pages with every value
quoted, `Sforce-NumberOfRecords`, and `Sforce-Locator`: an opaque string (base64 of the
offset, like the documented "MTAwMDA") or the literal string "null" on the last page.
Results must be read with the job's own API version, else 409 [Bulk API 2.0 Developer
Guide, Get Results for a Query Job].
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connector.sandbox.salesforce.selection import Selection, select
from connector.sandbox.salesforce.soql import SoqlError
from connector.sandbox.salesforce.store import USER_ID
from connector.sandbox.salesforce.values import format_datetime, record_id, to_csv
from connector.sandbox.salesforce.wire import Request, Response, not_found, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
              "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 100_000
CSV_TYPE = "text/csv"


@dataclass
class Job:
    id: str
    operation: str
    object: str
    version: str
    created: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "UploadComplete"
    polls: int = 0
    extra: dict = field(default_factory=dict)
    data: bytes = b""  # ingest: the uploaded CSV
    results: list = field(default_factory=list)  # ingest: (row, id or None, created or error)

    def info(self) -> dict:
        return {
            "id": self.id, "operation": self.operation, "object": self.object,
            "createdById": USER_ID, "createdDate": self.created, "systemModstamp": self.created,
            "state": self.state, "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(self.version), "lineEnding": self.line_ending,
            "columnDelimiter": self.delimiter, **self.extra,
        }


def format_options(body: dict) -> tuple[str, str]:
    delimiter = str(body.get("columnDelimiter") or "COMMA")
    ending = str(body.get("lineEnding") or "LF")
    if delimiter not in DELIMITERS or ending not in LINE_ENDINGS:
        raise sf_error(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
    return delimiter, ending


def write_csv(header: list[str], rows: list[list[str]], delimiter: str, ending: str) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=DELIMITERS[delimiter], lineterminator=LINE_ENDINGS[ending],
                   quoting=csv.QUOTE_ALL)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


class JobCollection:
    """A Bulk API 2.0 job collection (/jobs/query, /jobs/ingest): POST creates a job, GET lists
    them, /{id}/... goes to the job (`job_route`, per kind)."""

    def __init__(self, sb: SalesforceSandbox) -> None:
        self.sb = sb
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def route(self, req: Request, version: str, rest: list[str]) -> Response:
        if not rest:
            if req.method == "POST":
                return self.create(req, version)
            if req.method == "GET":
                items = [j.info() for j in self.jobs.values()]
                return Response.json(200, {"done": True, "records": items, "nextRecordsUrl": None})
            raise not_found()
        job = self.jobs.get(rest[0])
        if job is None:
            raise not_found()
        return self.job_route(req, version, job, rest[1:])

    def create(self, req: Request, version: str) -> Response:
        raise NotImplementedError

    def job_route(self, req: Request, version: str, job: Job, tail: list[str]) -> Response:
        raise NotImplementedError


class QueryJobs(JobCollection):
    def __init__(self, sb: SalesforceSandbox) -> None:
        super().__init__(sb)
        self.rows: dict[str, Selection] = {}

    def job_route(self, req: Request, version: str, job: Job, tail: list[str]) -> Response:
        if not tail:
            return self._job(req, job)
        if tail == ["results"] and req.method == "GET":
            return self.results(req, version, job)
        raise not_found()

    def create(self, req: Request, version: str) -> Response:
        body = req.json()
        if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
            raise sf_error(400, "INVALIDJOB", "Invalid operation: must be query or queryAll")
        delimiter, ending = format_options(body)
        try:
            sel = select(str(body.get("query") or ""), self.sb.store,
                         include_deleted=body["operation"] == "queryAll")
        except SoqlError as exc:
            raise sf_error(exc.status, "INVALIDJOB" if exc.status == 400 else exc.code,
                           f"Failed to process query: {exc.code}: {exc.message.strip()}") from exc
        _bulk_supported(sel)
        with self._lock:
            n = len(self.jobs) + 1
            job = Job(record_id("750", "5g", n), body["operation"], sel.obj.name, version,
                      format_datetime(self.sb.clock.now()), delimiter, ending)
            self.jobs[job.id] = job
            self.rows[job.id] = sel
        self.sb.limits.bulk_query_jobs += 1
        return Response.json(200, job.info())

    def _job(self, req: Request, job: Job) -> Response:
        if req.method == "GET":
            if job.state in ("UploadComplete", "InProgress"):
                job.polls += 1
                job.state = "JobComplete" if job.polls >= self.sb.bulk_job_polls else "InProgress"
            info = job.info()
            if job.state == "JobComplete":
                info.update(numberRecordsProcessed=self.rows[job.id].total, retries=0,
                            totalProcessingTime=0)
            return Response.json(200, info)
        if req.method == "PATCH":
            body = req.json()
            if not isinstance(body, dict) or body.get("state") != "Aborted":
                raise sf_error(400, "INVALIDJOBSTATE", "Query jobs can only be set to Aborted")
            job.state = "Aborted"
            return Response.json(200, job.info())
        if req.method == "DELETE":
            self.jobs.pop(job.id, None)
            self.rows.pop(job.id, None)
            return Response.empty(204)
        raise not_found()

    def results(self, req: Request, version: str, job: Job) -> Response:
        if version != job.version:
            raise sf_error(409, "INVALIDJOB", f"The job was created in API version {job.version}; "
                           f"get its results with the same version, not {version}")
        if job.state != "JobComplete":
            raise sf_error(400, "INVALIDJOBSTATE", "Query job is not in JobComplete state")
        start = _offset(req.query.get("locator") or "")
        size = req.query.get("maxRecords") or str(DEFAULT_MAX_RECORDS)
        if not size.isdigit() or int(size) < 1:
            raise sf_error(400, "INVALIDJOB", "maxRecords must be a positive integer")
        sel = self.rows[job.id]
        page = sel.records[start : start + int(size)]
        end = start + len(page)
        # Parent paths are columns named as in the query: "Account.Name" [Bulk API 2.0].
        names = [c.path for c in sel.columns]
        readers = [c.reader(self.sb.store) for c in sel.columns]
        with self.sb.store.lock:
            cells = [[to_csv(read(r)) for read in readers] for r in page]
        body = write_csv(names, cells, job.delimiter, job.line_ending)
        locator = _locator(end) if end < len(sel.records) else "null"
        headers = [("Content-Type", CSV_TYPE), ("Sforce-NumberOfRecords", str(len(page))),
                   ("Sforce-Locator", locator)]
        return Response(200, body, headers)


def _bulk_supported(sel: Selection) -> None:
    """Bulk API 2.0 refuses aggregates, GROUP BY, OFFSET and parent-to-child subqueries
    [Bulk API 2.0 Developer Guide, Understanding Bulk API 2.0 Query: Limits]."""
    q = sel.query
    what = ("Aggregate queries" if sel.count or sel.aggregate else
            "Parent-to-child relationship queries" if sel.children else
            "OFFSET" if q is not None and q.offset else "")
    if what:
        raise sf_error(400, "INVALIDJOB", "Failed to process query: FeatureNotEnabled : "
                       f"{what} are not supported")


def _locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(locator: str) -> int:
    if not locator:
        return 0
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        raise sf_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    return int(text)
