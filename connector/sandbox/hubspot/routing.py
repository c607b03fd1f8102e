"""Requests, replies and the route table of the HubSpot emulator.

Every CRM route exists twice: under the legacy `/crm/v3` (and `/crm/v4` for associations)
and under the date-versioned paths that replaced them on 30 Mar 2026
(`/crm/objects/2026-03/contacts`); the bodies are the same (reference §B). The router
rewrites a versioned path to its v3/v4 twin so each handler is written once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from connector.sandbox.hubspot.errors import ApiError, ErrorFactory

DATE_VERSIONS = ("2026-03",)
_VERSIONED = re.compile(r"^/crm/(objects|properties|lists|associations)/(\d{4}-\d{2})(/.*)?$")
_V4_OBJECT_ASSOCIATIONS = re.compile(r"^/[^/]+/[^/]+/associations(/|$)")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def arg_list(self, name: str) -> list[str]:
        """A multi-valued query argument: `?properties=a&properties=b` (what hubspot-api-client
        sends) and `?properties=a,b` (what the docs show) both work."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def json(self, errors: ErrorFactory) -> Any:
        if not self.raw_body:
            raise errors.validation("Invalid input JSON on line 1, column 1: No content to map due to end-of-input")
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.validation(f"Invalid input JSON: {exc}") from exc

    def form(self) -> dict[str, str]:
        parsed = parse_qs(self.raw_body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Reply]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    kind: str
    handler: Handler


class Router:
    """Method + regex routes; `{name}` segments become named groups."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, kind: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.routes.append(Route(method, re.compile(f"^{regex}/?$"), kind, handler))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, path_exists): path_exists tells 405 from 404."""
        path = canonical_path(path)
        exists = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            exists = True
            if route.method == method:
                return route, m.groupdict(), True
        return None, {}, exists


def canonical_path(path: str) -> str:
    """`/crm/objects/2026-03/contacts` -> `/crm/v3/objects/contacts`, and so on."""
    m = _VERSIONED.match(path)
    if m is None or m.group(2) not in DATE_VERSIONS:
        return path
    family, rest = m.group(1), m.group(3) or ""
    if family == "associations" or (family == "objects" and _V4_OBJECT_ASSOCIATIONS.match(rest)):
        return f"/crm/v4/{family}{rest}"
    return f"/crm/v3/{family}{rest}"


def read_request(environ: dict) -> Request:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
    return Request(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        path=environ.get("PATH_INFO", "/") or "/",
        query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
        headers=headers,
        raw_body=body,
        base_url=f"{environ.get('wsgi.url_scheme', 'http')}://{host}",
    )


def uri_length(environ: dict) -> int:
    query = environ.get("QUERY_STRING", "")
    return len(environ.get("PATH_INFO", "")) + (len(query) + 1 if query else 0)


def encode_reply(reply: Reply) -> tuple[str, list[tuple[str, str]], bytes]:
    headers = list(reply.headers)
    if reply.body is None:
        payload = b""
    elif isinstance(reply.body, bytes):
        payload = reply.body
    else:
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        headers.append(("Content-Type", "application/json;charset=utf-8"))
    headers.append(("Content-Length", str(len(payload))))
    return f"{reply.status} {REASONS.get(reply.status, 'Unknown')}", headers, payload


def error_reply(exc: ApiError) -> Reply:
    return Reply(exc.status, exc.body, exc.headers)


REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 207: "Multi-Status", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 414: "URI Too Long", 415: "Unsupported Media Type", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}
