"""The daily API budget, read from the `Sforce-Limit-Info` header on every reply.

The header looks like `api-usage=10018/100000; api-bursts=1/750` (Salesforce REST API
Developer Guide, "Limit Info Header"). tap-salesforce anchors its pattern on the whole value
(`^api-usage=(\\d+)/(\\d+)$`), so once Salesforce appended `api-bursts` its quota guard
silently turned off; here each `key=used/max` pair is read on its own, and `per-app-api-usage`
is not mistaken for the org's total.
"""

from __future__ import annotations

import re
import threading

import httpx

from connector.crm.base import QuotaInfo
from connector.crm.errors import QuotaExceededError

_PAIR = re.compile(r"(?:^|[;,\s])([a-z-]+)=(\d+)/(\d+)")


def parse_limit_info(header: str) -> dict[str, tuple[int, int]]:
    """{"api-usage": (used, max), "api-bursts": (used, max), ...} from a header value."""
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _PAIR.finditer(header)}


class QuotaGuard:
    """Tracks api-usage and stops the run before `stop_share` of the daily limit is spent.

    `observe` is the transport's on_response hook; `check` its before_request hook. Token
    requests are let through (they do not count against the API limit).
    """

    def __init__(self, stop_share: float, *, crm: str = "salesforce") -> None:
        self.stop_share = stop_share
        self.crm = crm
        self._lock = threading.Lock()
        self.used: int | None = None
        self.limit: int | None = None
        self.bursts: tuple[int, int] | None = None

    def observe(self, response: httpx.Response) -> None:
        header = response.headers.get("Sforce-Limit-Info")
        if not header:
            return
        pairs = parse_limit_info(header)
        with self._lock:
            if "api-usage" in pairs:
                self.used, self.limit = pairs["api-usage"]
            if "api-bursts" in pairs:
                self.bursts = pairs["api-bursts"]

    def info(self) -> QuotaInfo:
        with self._lock:
            return QuotaInfo(used=self.used, limit=self.limit, stop_share=self.stop_share)

    def check(self, kind: str = "") -> None:
        if kind == "auth":
            return
        info = self.info()
        if info.exhausted:
            raise QuotaExceededError(
                f"stopping cleanly: {info.used} of {info.limit} daily API requests used, "
                f"at or above the configured quota_stop_share {self.stop_share:.0%}; "
                "checkpoints are kept and the next run resumes",
                crm=self.crm,
                code="QUOTA_STOP_SHARE",
            )
