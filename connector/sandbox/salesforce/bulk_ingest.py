"""Bulk API 2.0 ingest jobs: create (Open), PUT CSV, PATCH UploadComplete, poll, results.

Without the UploadComplete PATCH a job stays Open and nothing is processed [Bulk API 2.0,
Close or Abort a Job]. CSV quirks kept: an empty cell leaves a field unchanged and `#N/A`
sets it to null; an unknown column fails the whole job ("InvalidBatch : Field name not
found : X"). Results: successfulResults ("sf__Id","sf__Created",<cols>), failedResults
("sf__Id","sf__Error",<cols>), unprocessedrecords (<cols>) for aborted jobs.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from connector.sandbox.salesforce.bulk_query import (
    CSV_TYPE,
    DELIMITERS,
    Job,
    JobCollection,
    format_options,
    write_csv,
)
from connector.sandbox.salesforce.store import DmlError
from connector.sandbox.salesforce.values import format_datetime, record_id
from connector.sandbox.salesforce.wire import Request, Response, not_found, sf_error

if TYPE_CHECKING:
    pass

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
MAX_UPLOAD_BYTES = 150 * 1024 * 1024


class IngestJobs(JobCollection):
    def job_route(self, req: Request, version: str, job: Job, tail: list[str]) -> Response:
        if not tail:
            return self._job(req, job)
        if tail == ["batches"] and req.method == "PUT":
            return self.upload(req, job)
        if len(tail) == 1 and req.method == "GET" and tail[0] in (
                "successfulResults", "failedResults", "unprocessedrecords"):
            return self.results(job, tail[0])
        raise not_found()

    def create(self, req: Request, version: str) -> Response:
        body = req.json()
        if not isinstance(body, dict) or body.get("operation") not in OPERATIONS:
            raise sf_error(400, "INVALIDJOB", f"Invalid operation: {OPERATIONS}")
        obj = self.sb.schema.get(str(body.get("object") or ""))
        if obj is None:
            raise sf_error(400, "INVALIDJOB", f"Entity '{body.get('object')}' is not supported")
        ext = body.get("externalIdFieldName")
        if body["operation"] == "upsert" and not ext:
            raise sf_error(400, "INVALIDJOB", "External ID was blank for upsert")
        delimiter, ending = format_options(body)
        with self._lock:
            n = len(self.jobs) + 1
            job = Job(record_id("750", "5h", n), body["operation"], obj.name, version,
                      format_datetime(self.sb.clock.now()), delimiter, ending, state="Open")
            job.extra = {"contentUrl": f"services/data/v{version}/jobs/ingest/{job.id}/batches"}
            if ext:
                job.extra["externalIdFieldName"] = ext
            self.jobs[job.id] = job
        return Response.json(200, job.info())

    def upload(self, req: Request, job: Job) -> Response:
        if job.state != "Open" or job.data:
            raise sf_error(400, "INVALIDJOBSTATE", "Job is not open for upload or data was "
                           "already uploaded")
        if len(req.body) > MAX_UPLOAD_BYTES:
            raise sf_error(400, "INVALIDJOB", "Upload exceeds 150 MB")
        job.data = req.body
        return Response.empty(201)

    def _job(self, req: Request, job: Job) -> Response:
        if req.method == "GET":
            if job.state in ("UploadComplete", "InProgress"):
                job.polls += 1
                if job.polls >= self.sb.bulk_job_polls:
                    self._process(job)
                else:
                    job.state = "InProgress"
            return Response.json(200, self._info(job))
        if req.method == "PATCH":
            body = req.json()
            state = body.get("state") if isinstance(body, dict) else None
            if state == "UploadComplete" and job.state == "Open":
                job.state = "UploadComplete"
            elif state == "Aborted" and job.state in ("Open", "UploadComplete", "InProgress"):
                job.state = "Aborted"
            else:
                raise sf_error(400, "INVALIDJOBSTATE", f"Cannot change job state to {state} from "
                               f"{job.state}")
            return Response.json(200, self._info(job))
        if req.method == "DELETE":
            self.jobs.pop(job.id, None)
            return Response.empty(204)
        raise not_found()

    def _info(self, job: Job) -> dict:
        info = job.info()
        results = job.results
        info.update(numberRecordsProcessed=len(results),
                    numberRecordsFailed=sum(1 for r in results if r[1] is None), retries=0)
        return info

    def _process(self, job: Job) -> None:
        text = job.data.decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text), delimiter=DELIMITERS[job.delimiter])
        header = next(reader, [])
        obj = self.sb.schema.get(job.object)
        assert obj is not None
        unknown = [h for h in header if obj.field(h) is None]
        if unknown or not header:
            job.state = "Failed"
            job.extra["errorMessage"] = f"InvalidBatch : Field name not found : {(unknown or [''])[0]}"
            return
        for row in reader:
            if not row:
                continue
            job.results.append(self._row(job, header, row))
        job.state = "JobComplete"

    def _row(self, job: Job, header: list[str], row: list[str]) -> tuple:
        """(row, id or None, created or error text)."""
        fields = {h: (None if v == "#N/A" else v) for h, v in zip(header, row, strict=False)
                  if v != ""}
        rid = next((v for k, v in fields.items() if k.lower() == "id"), None)
        dml = self.sb.dml
        try:
            if job.operation == "insert":
                return row, dml.create(job.object, fields), True
            if job.operation == "upsert":
                ext = job.extra["externalIdFieldName"]
                value = next((v for k, v in fields.items() if k.lower() == ext.lower()), None)
                if not value:
                    raise DmlError("MISSING_ARGUMENT", f"{ext} not specified", [ext])
                new_id, created = dml.upsert(job.object, ext, str(value), fields)
                return row, new_id, created
            if not rid:
                raise DmlError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            if job.operation == "update":
                dml.update(job.object, str(rid), {k: v for k, v in fields.items()
                                                  if k.lower() != "id"})
            else:
                dml.delete(job.object, str(rid))
            rec, _ = self.sb.store.find(job.object, str(rid))
            return row, rec["Id"] if rec else str(rid), False
        except DmlError as exc:
            fields_txt = ",".join(exc.fields)
            return row, None, f"{exc.code}:{exc.message}:{fields_txt} --"

    def results(self, job: Job, kind: str) -> Response:
        text = job.data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=DELIMITERS[job.delimiter]))
        header, data = (rows[0], rows[1:]) if rows else ([], [])
        data = [r for r in data if r]
        done = job.results
        if kind == "successfulResults":
            out = [[rid, "true" if created else "false", *row]
                   for row, rid, created in done if rid is not None]
            csv_header = ["sf__Id", "sf__Created", *header]
        elif kind == "failedResults":
            out = [["", err, *row] for row, rid, err in done if rid is None]
            csv_header = ["sf__Id", "sf__Error", *header]
        else:
            out = data[len(done):] if job.state in ("Aborted", "Failed") else []
            csv_header = header
        body = write_csv(csv_header, out, job.delimiter, job.line_ending)
        return Response(200, body, [("Content-Type", CSV_TYPE)])
