"""One error tree, named for what the caller should do (after singer-sdk's families).

- ConfigurationError: fix the YAML or the environment; nothing was attempted.
- RetriableError: try the same request again later (429, 5xx, timeouts, dropped connections).
- QuotaExceededError: stop the run cleanly, keep every checkpoint, resume next run.
- AuthenticationError: credentials are wrong or were revoked; re-authentication did not help.
- FatalError: the request itself is wrong; retrying cannot help.
- DataError: one record was refused; skip it, record why, retry it next run.

Messages carry the ids a person needs to act (record ids, correlation ids, error codes) and
never a credential.
"""

from __future__ import annotations


class SegsyncError(Exception):
    """Root of every error segsync raises on purpose."""


class ConfigurationError(SegsyncError):
    """The configuration or environment is wrong; the message names file, line and key."""


class LockedError(SegsyncError):
    """Another segsync process holds the state file's lock."""


class CRMError(SegsyncError):
    """An error reported by (or while talking to) a CRM."""

    def __init__(
        self,
        message: str,
        *,
        crm: str = "",
        status: int | None = None,
        code: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.crm = crm
        self.status = status
        self.code = code
        self.correlation_id = correlation_id
        parts = [p for p in (crm, f"HTTP {status}" if status else None, code) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (correlationId {correlation_id})" if correlation_id else ""
        super().__init__(f"{prefix}{message}{suffix}")


class RetriableError(CRMError):
    """Transient: the same request may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class RateLimitedError(RetriableError):
    """429 or an equivalent: wait (Retry-After, else the window) and retry."""


class QuotaExceededError(CRMError):
    """A daily quota is spent (Salesforce REQUEST_LIMIT_EXCEEDED, HubSpot DAILY). Never retried in a loop."""


class AuthenticationError(CRMError):
    """Credentials refused, or a token could not be refreshed."""


class TokenExpiredError(AuthenticationError):
    """The access token expired: refresh once and replay the request."""


class FatalError(CRMError):
    """The request is wrong (4xx other than the above); retrying cannot help."""


class DataError(CRMError):
    """One record was refused; the rest of the batch stands."""

    def __init__(self, message: str, *, record_id: str | None = None, **kw: object) -> None:
        self.record_id = record_id
        super().__init__(message, **kw)  # type: ignore[arg-type]
