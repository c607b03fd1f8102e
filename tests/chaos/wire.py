"""WSGI middleware that watches or cuts the wire between segsync and the sandbox CRMs.

`WriteLog` records which records each write request touched (field updates and list
member adds, both CRMs), read from the request bodies: the independent witness for
"nothing pushed twice". `KillSwitch` SIGKILLs a client process at its n-th request,
before the CRM sees that request or after the CRM applied it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from connector.sandbox.faults import DroppedConnection


def _read_body(environ: dict) -> bytes:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(size) if size else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def writes_in(method: str, path: str, body: bytes) -> list[tuple[str, Any]]:
    """(kind, key) per record a write request touches: sf-update / sf-member / hs-update / hs-member."""
    if method not in ("POST", "PATCH", "PUT") or not body:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        return []
    out: list[tuple[str, Any]] = []
    if path.endswith("/composite/sobjects") and isinstance(data, dict):
        for r in data.get("records", []):
            if r.get("id"):
                out.append(("sf-update", r["id"]))
            elif r.get("CampaignId"):
                out.append(("sf-member", (r["CampaignId"], r.get("ContactId") or r.get("LeadId"))))
    elif "/batch/update" in path and isinstance(data, dict):
        out += [("hs-update", str(i["id"])) for i in data.get("inputs", [])]
    elif "/memberships/" in path:
        list_id = path.split("/memberships/")[0].rsplit("/", 1)[-1]
        ids = data if isinstance(data, list) else data.get("recordIdsToAdd", [])
        out += [("hs-member", (list_id, str(i))) for i in ids] if not path.endswith("/remove") else []
    return out


class WriteLog:
    """Counts the records touched by write requests that reached the CRM."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.touched: Counter[tuple[str, Any]] = Counter()
        self.requests = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = _read_body(environ)
        result = self.app(environ, start_response)
        with self.lock:
            self.requests += 1
            self.touched.update(writes_in(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), body))
        return result

    def keys(self, kind: str) -> set[Any]:
        with self.lock:
            return {k for (t, k) in self.touched if t == kind}

    def clear(self) -> None:
        with self.lock:
            self.touched.clear()
            self.requests = 0


class RequestCount:
    """One request counter shared by several KillSwitches (both CRMs' servers)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.n = 0

    def next(self) -> int:
        with self.lock:
            self.n += 1
            return self.n


class KillSwitch:
    """Kill `pid()` with SIGKILL at request number `at` (counted across both CRMs).

    when="before": the CRM never sees that request; "after": the CRM applied it and the
    reply is lost with the process.
    """

    def __init__(self, app: Callable, count: RequestCount, at: int, when: str, pid: Callable[[], int | None]) -> None:
        self.app, self.count, self.at, self.when, self.pid = app, count, at, when, pid
        self.fired = False

    def _kill(self) -> None:
        pid = self.pid()
        if pid is not None:
            self.fired = True
            os.kill(pid, signal.SIGKILL)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        n = self.count.next()
        if n == self.at and self.when == "before":
            self._kill()
            raise DroppedConnection(environ.get("PATH_INFO", ""))
        result = b"".join(self.app(environ, start_response))
        if n == self.at:
            self._kill()
        return [result]
