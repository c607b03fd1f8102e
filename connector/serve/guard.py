"""The outermost layer of the API (plain ASGI): body size limit, latency metrics, no stack traces.

Bodies are read up to `max_body_bytes` before the app sees them, so an oversized one is a
413 whether or not it declared its length. An exception that escapes the app becomes a 500
with a request id and no detail; the log line names the exception type and the route
template, never the path (it may hold an email) or the message (it may hold a body value).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

log = logging.getLogger("segsync.serve")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _respond(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]})
    await send({"type": "http.response.body", "body": payload})


class Guard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, observe: Callable[[str, str, int, float], None]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, started_response = 500, False
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read(scope, receive)
            if body is None:
                await _respond(send, 413, {"error": f"request body larger than {self.max_body_bytes} bytes"})
                self.observe(scope["method"], "oversized", 413, time.perf_counter() - started)
                return
            receive = _replay(body)

        async def tracked(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - the client gets a 500 without detail, the log the type
            request_id = scope.get("segsync.request_id") or uuid.uuid4().hex[:12]
            log.error("request %s on %s failed: %s", request_id, _route(scope), type(exc).__name__)
            status = 500
            if not started_response:
                await _respond(send, 500, {"error": "internal error", "request_id": request_id})
        self.observe(scope["method"], _route(scope), status, time.perf_counter() - started)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
