"""What a Salesforce reply means: the one place its status codes and error bodies are read.

REST and Bulk API 2.0 errors are a JSON array of `{"message", "errorCode", "fields"?}`
(REST API Developer Guide, "Status Codes and Error Responses"); the OAuth token endpoint
answers `{"error", "error_description"}`.

- 401 INVALID_SESSION_ID: the session expired -> TokenExpiredError (refresh once, replay).
- 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded." -> QuotaExceededError, never
  retried. The same code also reports too many concurrent long requests
  ("ConcurrentPerOrgLongTxn Limit exceeded"): that one passes, so it is retriable.
- 5xx, 408, 429 -> retriable; other 4xx -> fatal (the request is wrong).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from connector.crm.errors import (
    AuthenticationError,
    CRMError,
    FatalError,
    QuotaExceededError,
    RetriableError,
    TokenExpiredError,
)
from connector.crm.redaction import redact
from connector.crm.replies import classify_status, parse_retry_after

CRM = "salesforce"


def error_details(response: httpx.Response) -> tuple[str | None, str]:
    """(errorCode, message) from a Salesforce error body, whatever its shape."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None, redact(response.text[:300])
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        return first.get("errorCode"), redact(str(first.get("message", "")))
    if isinstance(body, dict):
        if "error" in body:
            return str(body["error"]), redact(str(body.get("error_description", "")))
        return body.get("errorCode"), redact(str(body.get("message", "")))
    return None, redact(response.text[:300])


def classify(response: httpx.Response) -> CRMError | None:
    """The classifier for every Salesforce REST, Bulk and Tooling call."""
    status = response.status_code
    if status < 300:
        return None
    code, message = error_details(response)
    kw: dict[str, Any] = {"crm": CRM, "status": status, "code": code}
    if status == 401:
        return TokenExpiredError(message or "session expired or invalid", **kw)
    if code == "REQUEST_LIMIT_EXCEEDED":
        # Only the 403 is the daily allocation; a 429 carrying the same code (an edge or
        # concurrency throttle, as the sandbox's injected 429s) is rate limiting: retry it.
        if "concurrent" in message.lower() or status == 429:
            return RetriableError(message, retry_after=parse_retry_after(response), **kw)
        return QuotaExceededError(
            f"{message or 'daily API request limit exceeded'}; stopping cleanly, the next run resumes", **kw
        )
    if status == 300:
        return FatalError(f"the external id matches several records: {message}", **kw)
    if status in (400, 404, 405, 409, 415) and code:
        return FatalError(message, **kw)
    if status == 403:
        return AuthenticationError(message or "forbidden: check the integration user's permissions", **kw)
    return classify_status(response, CRM, message=message, code=code)


def classify_token(response: httpx.Response) -> CRMError | None:
    """The OAuth token endpoint: 400/401 invalid_grant etc. are credential problems."""
    status = response.status_code
    if status < 300:
        return None
    code, message = error_details(response)
    if status in (400, 401, 403):
        return AuthenticationError(
            f"login refused: {code or 'error'}: {message}", crm=CRM, status=status, code=code
        )
    return classify_status(response, CRM, message=message)
