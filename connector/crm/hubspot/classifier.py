"""HubSpot replies mapped onto segsync's error tree, in one place.

HubSpot's error body is `{"status":"error","message","correlationId","category",
"subCategory"?,"errors"?,"context"?}` (developers.hubspot.com/docs/api-reference/error-handling).
What the caller should do depends on the status *and* on fields of the body:

- 429 with `policyName` DAILY: the account's daily quota is spent -> QuotaExceededError
  (stop the run cleanly, resume next run). Any other 429 (TEN_SECONDLY_ROLLING, the search
  endpoint's per-second limit) -> RateLimitedError; HubSpot does not always send
  Retry-After, so the wait is at least the policy's window (Airbyte BEHAVIOR.md; singer-io
  tap-hubspot PR #93 waits 10 s).
- 401 EXPIRED_AUTHENTICATION -> TokenExpiredError (refresh once, replay). Other 401s and
  403 MISSING_SCOPES -> AuthenticationError. 530 is HubSpot's reply to a malformed token.
- 409 -> FatalError with the category as its code (OBJECT_ALREADY_EXISTS is success for
  provisioning; callers test `.code`).
- 408 and 5xx -> RetriableError; other 4xx (VALIDATION_ERROR, 414 URI too long) -> FatalError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.crm.errors import (
    AuthenticationError,
    CRMError,
    FatalError,
    QuotaExceededError,
    RateLimitedError,
    RetriableError,
    TokenExpiredError,
)

CRM = "hubspot"

#: Seconds to wait on a 429 that names its policy but carries no Retry-After.
POLICY_WINDOWS: dict[str, float] = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
DEFAULT_429_WAIT = 10.0


def parse_body(content: bytes) -> dict[str, Any]:
    """The JSON object of a reply, or {} when the body is empty or not a JSON object."""
    if not content:
        return {}
    try:
        data = json.loads(content)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after") or headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP-date: fall back to the policy window


def _message(body: Mapping[str, Any], status: int) -> str:
    msg = body.get("message")
    return str(msg) if msg else f"HubSpot replied HTTP {status}"


def classify_reply(status: int, headers: Mapping[str, str], content: bytes) -> CRMError | None:
    """The error a reply means, or None for a success (2xx, including 207 multi-status)."""
    if 200 <= status < 300:
        return None
    body = parse_body(content)
    kw: dict[str, Any] = {
        "crm": CRM,
        "status": status,
        "code": body.get("category") or body.get("policyName") or body.get("status"),
        "correlation_id": body.get("correlationId"),
    }
    message = _message(body, status)
    if status == 429:
        return _rate_limit_error(body, headers, message, kw)
    if status == 401:
        if body.get("category") == "EXPIRED_AUTHENTICATION":
            return TokenExpiredError(message, **kw)
        return AuthenticationError(message, **kw)
    if status == 403 and body.get("category") in {"MISSING_SCOPES", "INVALID_AUTHENTICATION"}:
        return AuthenticationError(message, **kw)
    if status == 530:
        return AuthenticationError("the access token is malformed", **kw)
    if status == 408 or status >= 500:
        return RetriableError(message, retry_after=_retry_after(headers), **kw)
    return FatalError(message, **kw)


def _rate_limit_error(
    body: Mapping[str, Any], headers: Mapping[str, str], message: str, kw: dict[str, Any]
) -> CRMError:
    policy = str(body.get("policyName") or "")
    kw["code"] = policy or kw["code"]
    if policy == "DAILY":
        return QuotaExceededError(f"{message} Daily API limit reached; resume next run.", **kw)
    window = POLICY_WINDOWS.get(policy, DEFAULT_429_WAIT)
    header_wait = _retry_after(headers)
    # Retry-After wins when present; without it, never retry inside the rolling window.
    wait = header_wait if header_wait is not None else window
    return RateLimitedError(message, retry_after=wait, **kw)
