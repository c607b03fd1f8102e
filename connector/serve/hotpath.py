"""The look-up's hot path: `GET /v1/customers/{key}` and `GET /v1/ping` answered in plain ASGI.

FastAPI's per-request machinery (routing, dependency solving, parameter validation) costs
more than the look-up itself: about two thirds of the CPU of a look-up that a million-customer
snapshot answers from a dict probe and a few array reads. So this layer, in front of the
FastAPI app, answers the common case of these two routes itself: a valid key with the `read`
scope, within its rate, a well-formed key and `by`, and a customer who is there. Everything
else (no or bad key, 429, 404, 422, no snapshot yet) is handed to the FastAPI app untouched,
which checks again and answers exactly as it always does; the routes stay declared there,
so the OpenAPI document and every error body are FastAPI's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from connector.serve.access import KeyRing, RateLimiter
from connector.serve.service import NotReady, ServeService

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
PREFIX = "/v1/customers/"
MAX_KEY = 256  # the route's Path(max_length=256); a longer key goes to FastAPI for its 422
BY = {b"": "customer_id", **{f"by={b}".encode(): b for b in ("customer_id", "salesforce_id", "hubspot_id", "email")}}
PING = orjson.dumps({"ok": True})


class HotPath:
    def __init__(self, app: Any, service: ServeService, keys: KeyRing, limiter: RateLimiter) -> None:
        self.app = app
        self.service = service
        self.keys = keys
        self.limiter = limiter
        # the route objects, so the guard's metrics label these answers as FastAPI's would be
        self.routes = {getattr(r, "path", None): r for r in app.routes}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and await self._answer(scope, send):
            return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Any) -> bool:
        """True when this layer answered; False hands the request to FastAPI."""
        path: str = scope["path"]
        if path == "/v1/ping":
            key_id = self._reader(scope)
            if key_id is None or self.limiter.take(key_id) > 0:
                return False
            scope["route"] = self.routes.get("/v1/ping")
            await _send(send, PING, None)
            return True
        key = path[len(PREFIX):] if path.startswith(PREFIX) else ""
        by = BY.get(scope.get("query_string", b""))
        if not key or "/" in key or len(key) > MAX_KEY or by is None:
            return False
        key_id = self._reader(scope)
        if key_id is None:
            return False
        scope["route"] = self.routes.get("/v1/customers/{key}")  # named in the guard's log should the look-up fail
        try:
            record = self.service.lookup(key, by)
        except NotReady:
            return False
        # a token only for an answer given here: a request handed on is charged once, by the app
        if record is None or self.limiter.take(key_id) > 0:
            return False
        await _send(send, orjson.dumps(record), record["snapshot_version"])
        return True

    def _reader(self, scope: Scope) -> str | None:
        """The key id of a valid key with the read scope (the app's check), else None."""
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        found = self.keys.check(authorization)
        return found[0] if found is not None and "read" in found[1] else None


async def _send(send: Any, body: bytes, version: int | None) -> None:
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    if version is not None:
        headers.append((b"x-snapshot-version", str(version).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
