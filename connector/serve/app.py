"""The ASGI app of `segsync serve` (FastAPI): routes, auth and scope, rate limits, error bodies.

Every /v1 route needs `Authorization: Bearer KEY` (401 without a valid key, 403 outside its
scope, 429 with Retry-After past its rate). Answers are JSON; each names the snapshot
version it came from (body `snapshot_version`, header `X-Snapshot-Version`).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from connector.serve.access import KeyRing, RateLimiter
from connector.serve.guard import Guard
from connector.serve.hotpath import HotPath
from connector.serve.metrics import ServeMetrics
from connector.serve.schemas import (
    BatchGetRequest,
    BatchGetResponse,
    By,
    Customer,
    Error,
    EventsAck,
    EventsRequest,
    ScoreRequest,
)
from connector.serve.service import BadKey, NotReady, ServeService

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Error} for code in (401, 403, 404, 413, 422, 429, 503)
}


def _json(body: Any, status: int = 200, version: int | None = None, headers: dict[str, str] | None = None) -> Response:
    h = dict(headers or {})
    if version is not None:
        h["X-Snapshot-Version"] = str(version)
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=h)


def create_app(service: ServeService, keys: KeyRing, limiter: RateLimiter, metrics: ServeMetrics,
               max_body_bytes: int = 1_048_576) -> Guard:
    app = FastAPI(title="segsync serve", version="1", description=__doc__, openapi_url="/openapi.json", docs_url=None, redoc_url=None)
    scope = _scopes(keys, limiter)
    read, score, events = Depends(scope("read")), Depends(scope("score")), Depends(scope("events"))
    _install_errors(app)
    _install_ops(app, service, metrics, read)
    _install_customers(app, service, read)
    _install_live(app, service, score, events)
    return Guard(HotPath(app, service, keys, limiter), max_body_bytes, metrics.observe)


def _scopes(keys: KeyRing, limiter: RateLimiter) -> Callable[[str], Callable[[Request], Awaitable[str]]]:
    """scope(name): the dependency that lets a request through with a key of that scope, within its rate."""

    def scope(name: str) -> Callable[[Request], Awaitable[str]]:
        async def check(request: Request) -> str:  # async: no thread hop per request
            found = keys.check(request.headers.get("authorization"))
            if found is None:
                raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
            key_id, scopes = found
            if name not in scopes:
                raise HTTPException(403, f"this key lacks the {name!r} scope")
            wait = limiter.take(key_id)
            if wait > 0:
                raise HTTPException(429, "rate limit exceeded", headers={"Retry-After": str(max(1, math.ceil(wait)))})
            return key_id
        return check

    return scope


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _json({"error": str(exc.detail)}, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # name the field and the rule; never echo the value (it may be personal data)
        fields = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()]
        return _json({"error": "invalid request: " + "; ".join(f"{f['field']}: {f['message']}" for f in fields), "fields": fields}, 422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer; the guard logs the type and the route, nothing else
        request_id = uuid.uuid4().hex[:12]
        request.scope["segsync.request_id"] = request_id
        return _json({"error": "internal error", "request_id": request_id}, 500)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> Response:
        return _json({"error": str(exc)}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(BadKey)
    async def bad_key(request: Request, exc: BadKey) -> Response:
        return _json({"error": f"invalid request: {exc}", "fields": [{"field": str(exc).split(':')[0], "message": str(exc)}]}, 422)


def _install_ops(app: FastAPI, service: ServeService, metrics: ServeMetrics, read: Any) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"model": Error}})
    async def readyz() -> Response:
        current = service.current
        if current is None:
            return _json({"ready": False, "error": "no snapshot loaded yet"}, 503)
        return _json({"ready": True, "snapshot_version": current.snapshot.version, "customers": len(current.snapshot)}, version=current.snapshot.version)

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(service), media_type="text/plain; version=0.0.4")

    @app.get("/v1/ping", tags=["ops"], responses=ERRORS, dependencies=[read])
    async def ping() -> Response:
        """A constant body behind the same auth and limits: the server's floor, for benchmarks."""
        return _json({"ok": True})


def _install_customers(app: FastAPI, service: ServeService, read: Any) -> None:
    @app.get("/v1/customers/{key}", response_model=Customer, responses=ERRORS, dependencies=[read])
    async def get_customer(key: Annotated[str, Path(max_length=256)], by: By = "customer_id") -> Response:
        record = service.lookup(key, by)
        if record is None:
            raise HTTPException(404, f"no customer with that {by} in snapshot {service.loaded().snapshot.version}")
        return _json(record, version=record["snapshot_version"])

    @app.post("/v1/customers:batchGet", response_model=BatchGetResponse, responses=ERRORS, dependencies=[read])
    async def batch_get(body: BatchGetRequest) -> Response:
        current = service.loaded()  # one version for the whole batch, even across a swap
        found, missing = [], []
        for key in body.keys:
            record = service.lookup(key, body.by, current)
            (found.append(record) if record is not None else missing.append(key))
        version = current.snapshot.version
        return _json({"customers": found, "missing": missing, "snapshot_version": version}, version=version)


def _install_live(app: FastAPI, service: ServeService, score: Any, events: Any) -> None:
    # async: the work is a few hundred microseconds of CPU, and the wait for the durable write
    # (the journal's group commit) must not hold one of a small pool of threads
    @app.post("/v1/score", response_model=Customer, responses=ERRORS, dependencies=[score])
    async def score_customer(body: ScoreRequest) -> Response:
        pending = service.score(body.customer_id, body.email, body.attributes,
                                [{"occurred_at": t.occurred_at, "amount": t.amount} for t in body.transactions], body.created_at)
        record = await asyncio.wrap_future(pending)
        return _json(record, version=record["snapshot_version"])

    @app.post("/v1/events", response_model=EventsAck, status_code=202, responses=ERRORS, dependencies=[events])
    async def post_events(body: EventsRequest) -> Response:
        rows = [{"event_id": e.event_id, "customer_id": service.resolve_key(e.customer_id, e.email), "type": e.type,
                 "occurred_at": e.occurred_at.isoformat(), "value": e.value, "properties": e.properties} for e in body.events]
        return _json(await asyncio.wrap_future(service.add_events(rows)), 202)
