"""Requests and responses of the Salesforce emulator, and its error shape.

Salesforce REST errors are a JSON array of {message, errorCode[, fields]} [REST API
Developer Guide, Status Codes and Error Responses]; `ApiError` carries one and is raised
from anywhere in a handler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs

JSON = "application/json;charset=UTF-8"


class ApiError(Exception):
    def __init__(self, status: int, body: object, headers: list[tuple[str, str]] | None = None):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or []


def sf_error(status: int, code: str, message: str, fields: list[str] | None = None) -> ApiError:
    item: dict = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return ApiError(status, [item])


def not_found() -> ApiError:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    environ: dict = field(repr=False, default_factory=dict)

    @classmethod
    def from_environ(cls, environ: dict) -> Request:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""),
                                               keep_blank_values=True).items()}
        path = environ.get("PATH_INFO", "/")
        if len(path) > 1:
            path = path.rstrip("/")  # simple-salesforce calls query/ and limits/
        return cls(environ["REQUEST_METHOD"].upper(), path, query, headers, body, environ)

    def json(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise sf_error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc

    def base_url(self) -> str:
        scheme = self.environ.get("wsgi.url_scheme", "https")
        host = self.headers.get("host") or self.environ.get("SERVER_NAME", "localhost")
        return f"{scheme}://{host}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, obj: object, headers: list[tuple[str, str]] | None = None) -> Response:
        body = json.dumps(obj, separators=(",", ":")).encode()
        return cls(status, body, [("Content-Type", JSON), *(headers or [])])

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        return cls(status)

    def status_line(self) -> str:
        try:
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"{self.status} Unknown"


def error_response(err: ApiError) -> Response:
    return Response.json(err.status, err.body, err.headers)
