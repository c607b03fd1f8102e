"""What a CRM reply means in terms of the error tree: the generic part every CRM shares.

Each CRM supplies a `Classifier` (the one place its status codes and error bodies are read)
and falls back on `classify_status` for what its bodies do not say. `parse_retry_after`
reads the Retry-After header in both of its forms.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connector.crm.errors import (
    AuthenticationError,
    CRMError,
    FatalError,
    RateLimitedError,
    RetriableError,
    TokenExpiredError,
)
from connector.crm.redaction import redact

__all__ = ["Classifier", "classify_status", "parse_retry_after"]

#: Maps a reply to None (success) or the error it means. One per CRM, the only place
#: where that CRM's status codes and error bodies are interpreted.
Classifier = Callable[[httpx.Response], CRMError | None]

def parse_retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), else None.

    An HTTP-date is measured against the reply's own Date header when present, so a skewed
    local clock does not stretch or shrink the wait (RFC 9110 section 10.2.3).
    """
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        date = response.headers.get("Date")
        if date:
            ref = parsedate_to_datetime(date)
        else:
            ref = datetime.now(UTC)
        return max(0.0, (when - ref).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def classify_status(
    response: httpx.Response, crm: str, message: str = "", code: str | None = None
) -> CRMError | None:
    """The generic meaning of a status code; CRM classifiers refine bodies and call this last."""
    status = response.status_code
    if status < 300:
        return None
    text = message or redact(response.text[:500])
    kw: dict[str, Any] = {"crm": crm, "status": status, "code": code}
    if status == 401:
        return TokenExpiredError(text or "unauthorised", **kw)
    if status == 429:
        return RateLimitedError(text or "rate limited", retry_after=parse_retry_after(response), **kw)
    if status == 408 or status >= 500:
        return RetriableError(text or "server error", retry_after=parse_retry_after(response), **kw)
    if status == 403:
        return AuthenticationError(text or "forbidden", **kw)
    return FatalError(text or f"unexpected HTTP {status}", **kw)
