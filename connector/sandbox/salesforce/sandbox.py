"""SalesforceSandbox: one emulated org (store, auth, limits, jobs) and its WSGI app.

    sb = SalesforceSandbox(clock=SandboxClock(...), faults=FaultConfig(p_503=0.02))
    client = httpx.Client(transport=WSGIFaultTransport(app=sb.app), base_url="https://sb")
    sb.store.insert("Contact", [{"LastName": "Ng", "Email": "ng@example.com"}])

State lives in memory; `snapshot(path)` / `SalesforceSandbox.restore(path)` keep records,
custom fields and credentials across a demo restart (sessions, cursors and bulk jobs are
not kept: clients log in again, as after a real session timeout).
"""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import FaultConfig, FaultInjector, InjectedFault
from connector.sandbox.salesforce import routes
from connector.sandbox.salesforce.auth import Auth, Credentials, generate_keypair
from connector.sandbox.salesforce.bulk_ingest import IngestJobs
from connector.sandbox.salesforce.bulk_query import QueryJobs
from connector.sandbox.salesforce.dml import Dml
from connector.sandbox.salesforce.limits import ApiLimits
from connector.sandbox.salesforce.org import seed_org
from connector.sandbox.salesforce.rest import Cursors
from connector.sandbox.salesforce.schema import Schema
from connector.sandbox.salesforce.store import USER_ID, RecordStore
from connector.sandbox.salesforce.wire import ApiError, Request, error_response

SNAPSHOT_FORMAT = 1


@functools.lru_cache(maxsize=1)
def _process_keypair() -> tuple[str, str]:
    # One RSA key per process: generating 2048-bit keys per sandbox would dominate tests.
    return generate_keypair()


def render_fault(status: int, environ: dict) -> tuple[list[tuple[str, str]], bytes]:
    """Salesforce-shaped bodies for injected HTTP faults."""
    if status == 500:
        body = [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred. "
                 "Please include this ErrorId if you contact support: 1933483128-81920 (-1)"}]
        return [("Content-Type", "application/json;charset=UTF-8")], json.dumps(body).encode()
    if status == 429:  # not a documented Salesforce reply; kept JSON-array shaped
        body = [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "Too many requests"}]
        return [("Content-Type", "application/json;charset=UTF-8")], json.dumps(body).encode()
    # 502/503/504 come from the edge, as HTML, not from the API.
    html = f"<html><head><title>{status}</title></head><body>Service Unavailable</body></html>"
    return [("Content-Type", "text/html")], html.encode()


class SalesforceSandbox:
    """An emulated Salesforce org served as a WSGI app (`.app`)."""

    def __init__(
        self,
        *,
        clock: SandboxClock | None = None,
        faults: FaultConfig | None = None,
        seed: int = 0,
        session_seconds: float = 7200,
        daily_api_limit: int = 100_000,
        burst_allowance: int = 0,
        fls_on_create: bool = True,
        bulk_job_polls: int = 2,
        instance_url: str | None = None,
        custom_fields: dict[str, list[dict]] | None = None,
        credentials: Credentials | None = None,
        fault_sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.clock = clock or SandboxClock()
        self.seed = seed
        self.fls_on_create = fls_on_create
        self.bulk_job_polls = max(1, bulk_job_polls)
        self.schema = Schema()
        for sobject, specs in (custom_fields or {}).items():
            for spec in specs:
                self.schema.add_custom_field(sobject, spec)
        self.store = RecordStore(self.schema, self.clock)
        seed_org(self.store)
        self.dml = Dml(self.store)
        self.creds = credentials or default_credentials()
        self.auth = Auth(self.clock, self.creds, session_seconds=session_seconds,
                         instance_url=instance_url)
        self.limits = ApiLimits(self.clock, daily_api_limit, burst_allowance=burst_allowance)
        self.cursors = Cursors()
        self.query_jobs = QueryJobs(self)
        self.ingest_jobs = IngestJobs(self)
        self.tooling_ids = 0
        self.request_count: Counter = Counter()
        self.faults = FaultInjector(faults, sleep=fault_sleep) if faults else None
        core = self._core_app
        self.app = self._counting(self.faults.wrap(core, render_fault) if self.faults else core)

    # ---- configuration seen by clients ---------------------------------------------------
    @property
    def instance_url(self) -> str | None:
        return self.auth.instance_url

    @instance_url.setter
    def instance_url(self, url: str | None) -> None:
        self.auth.instance_url = url

    @property
    def credentials(self) -> dict[str, str]:
        c = self.creds
        return {
            "client_id": c.client_id, "client_secret": c.client_secret, "username": c.username,
            "password": c.password, "security_token": c.security_token,
            "private_key": c.private_key_pem, "public_key": c.public_key_pem,
            "instance_url": self.instance_url or "https://segsync-sandbox.my.salesforce.com",
            "login_url": "https://login.salesforce.com",
        }

    def grant_field_access(self, sobject: str, field: str) -> None:
        """Grant field-level security on a custom field created while fls_on_create=False."""
        obj = self.schema.get(sobject)
        f = obj.fields.get(field.lower()) if obj else None
        if f is None:
            raise KeyError(f"{sobject}.{field}")
        f.visible = True

    def hide_field(self, sobject: str, field: str) -> None:
        """Take field-level security away from a field (standard or custom): it leaves
        describe, and SOQL and DML answer INVALID_FIELD for it, as in a real org."""
        obj = self.schema.get(sobject)
        f = obj.fields.get(field.lower()) if obj else None
        if f is None:
            raise KeyError(f"{sobject}.{field}")
        f.visible = False
        self.store._keymaps.clear()  # cached field maps may name the hidden field

    def set_marketing_user(self, enabled: bool) -> None:
        """Tick or clear the integration user's Marketing User checkbox: without it, Campaigns
        and their member statuses cannot be created or edited."""
        with self.store.lock:
            rec = self.store.live["User"][USER_ID]
            self.store.replace("User", USER_ID, {**rec, "UserPermissionsMarketingUser": enabled})
        for name in ("Campaign", "CampaignMemberStatus"):
            obj = self.schema.get(name)
            assert obj is not None
            obj.createable = obj.updateable = enabled

    def delete_custom_field(self, sobject: str, field: str) -> None:
        """Delete a custom field as an admin would in Setup: its values go with it, and the
        API answers INVALID_FIELD "No such column" for it from now on."""
        obj = self.schema.get(sobject)
        f = obj.fields.get(field.lower()) if obj else None
        if obj is None or f is None or not f.custom:
            raise KeyError(f"{sobject}.{field} is not a custom field")
        with self.store.lock:
            del obj.fields[field.lower()]
            self.store._keymaps.clear()  # cached field maps may name the deleted field
            for rec in self.store.live.get(obj.name, {}).values():
                rec.pop(f.name, None)

    def expire_sessions(self) -> None:
        self.auth.expire_sessions()

    # ---- WSGI ------------------------------------------------------------------------------
    def _core_app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        req = Request.from_environ(environ)
        try:
            resp = routes.dispatch(self, req)
        except ApiError as err:
            resp = error_response(err)
        # Every Salesforce reply carries the org's time, as HTTP does; pull cursors are held
        # back relative to it (connector.crm.clock.ServerClock).
        date = ("Date", format_datetime(self.clock.now(), usegmt=True))
        start_response(resp.status_line(), [*resp.headers, date, ("Content-Length", str(len(resp.body)))])
        return [resp.body]

    def _counting(self, app: Callable) -> Callable:
        def counted(environ: dict, start_response: Callable) -> Iterable[bytes]:
            kind = routes.kind_of((environ.get("PATH_INFO") or "/").rstrip("/") or "/")
            seen: list[str] = []

            def recording_start(status: str, headers: list, exc_info: Any = None) -> Any:
                seen.append(status.split(" ", 1)[0])
                return start_response(status, headers, exc_info) if exc_info else \
                    start_response(status, headers)

            try:
                result = app(environ, recording_start)
            except InjectedFault as fault:
                self._count(kind, type(fault).__name__)
                raise
            self._count(kind, seen[0] if seen else "?")
            return result

        return counted

    def _count(self, kind: str, status: str) -> None:
        self.request_count[kind] += 1
        self.request_count[(kind, int(status) if status.isdigit() else status)] += 1
        self.request_count["total"] += 1

    # ---- persistence ---------------------------------------------------------------------
    def snapshot(self, path: str | Path) -> None:
        """Write records, custom fields and credentials to `path` (.gz compresses)."""
        with self.store.lock:
            state = {
                "format": SNAPSHOT_FORMAT,
                "credentials": vars(self.creds),
                "custom_fields": [
                    {"sobject": o.name, "visible": f.visible, "spec": {
                        "name": f.name, "type": f.type, "length": f.length, "label": f.label,
                        "externalId": f.external_id, "unique": f.unique,
                        "picklist": list(f.picklist), "restricted": f.restricted}}
                    for o in self.schema.objects.values() for f in o.fields.values() if f.custom],
                "live": {k: list(v.values()) for k, v in self.store.live.items() if v},
                "deleted": {k: list(v.values()) for k, v in self.store.deleted.items() if v},
                "counters": self.store.counters,
                "api_used": self.limits.used,
            }
        data = json.dumps(state, separators=(",", ":")).encode()
        path = Path(path)
        path.write_bytes(gzip.compress(data, 1) if path.suffix == ".gz" else data)

    @classmethod
    def restore(cls, path: str | Path, **kwargs: Any) -> SalesforceSandbox:
        """A sandbox with the state of `snapshot(path)`; kwargs as for the constructor."""
        raw = Path(path).read_bytes()
        state = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"{path}: not a Salesforce sandbox snapshot (format {SNAPSHOT_FORMAT})")
        kwargs.setdefault("credentials", Credentials(**state["credentials"]))
        sb = cls(**kwargs)
        for item in state["custom_fields"]:
            sb.schema.add_custom_field(item["sobject"], item["spec"], visible=item["visible"])
        for name, recs in state["live"].items():
            sb.store.live[name] = {r["Id"]: r for r in recs}
        for name, recs in state["deleted"].items():
            sb.store.deleted[name] = {r["Id"]: r for r in recs}
        sb.store.counters.update(state["counters"])
        if state.get("api_used"):
            sb.limits.use(int(state["api_used"]))
        return sb


def default_credentials() -> Credentials:
    private, public = _process_keypair()
    return Credentials(
        client_id="3MVG9segsync.sandbox.consumer.key", client_secret="sandbox-consumer-secret",
        username="integration@segsync.sandbox", password="sandbox-password",
        security_token="SANDBOXTOKEN", private_key_pem=private, public_key_pem=public,
    )

