"""The HubSpot side of the one transport: base URL, credentials, classifier and pacing.

Two budgets apply to a private app / service key (crm-apis.md B6): the account's burst
limit per rolling 10 seconds (100, 190 or 250 by tier; 110 for OAuth apps) and the search
endpoint's own 4 requests per second per token. Every call waits on the account pacer;
search calls also wait on the search pacer. The account window is paced 2.5 % wide so that
jitter between our clock and HubSpot's never lands request 191 inside HubSpot's window.
The daily budget is read from `X-HubSpot-RateLimit-Daily(-Remaining)` on every reply.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from fractions import Fraction
from typing import Any

import httpx

from connector.config import HubSpotSource
from connector.crm.base import QuotaInfo
from connector.crm.clock import Clock, ServerClock, SystemClock
from connector.crm.counters import RequestCounter
from connector.crm.errors import CRMError
from connector.crm.http import Transport
from connector.crm.hubspot.auth import make_authenticator
from connector.crm.hubspot.classifier import CRM, classify_reply, parse_body
from connector.crm.hubspot.paths import HubSpotPaths
from connector.crm.pacing import RollingWindowPacer

BURST_WINDOW_SECONDS = 10.0
WINDOW_SAFETY = 1.025


def classify(response: httpx.Response) -> CRMError | None:
    """The transport's classifier for HubSpot (see classifier.py)."""
    return classify_reply(response.status_code, response.headers, response.content)


def search_pacer(per_second: float, clock: Clock) -> RollingWindowPacer:
    """A pacer for `per_second` search calls, allowing whole-number bursts (4.5/s -> 9 per 2 s).

    The window is paced a little wide, like the account window: a request that leaves at the
    edge of our window reaches HubSpot's a few milliseconds later, inside it (seen as
    SECONDLY 429s against the sandbox before the margin).
    """
    rate = Fraction(per_second).limit_denominator(10)
    return RollingWindowPacer(rate.numerator, float(rate.denominator) * WINDOW_SAFETY, clock)


class HubSpotApi:
    """Paths, transport and pacers for one HubSpot account; methods return parsed JSON."""

    def __init__(
        self,
        source: HubSpotSource,
        *,
        clock: Clock | None = None,
        counter: RequestCounter | None = None,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.paths = HubSpotPaths(source.api_version)
        self.clock = clock or SystemClock()
        self.server_clock = ServerClock(now, self.clock)
        self.pacer = RollingWindowPacer(
            source.tier_requests_per_10s, BURST_WINDOW_SECONDS * WINDOW_SAFETY, self.clock
        )
        self.search_pacer = search_pacer(source.search_requests_per_second, self.clock)
        self._daily: tuple[int | None, int | None] = (None, None)
        self._lock = threading.Lock()
        self.transport = Transport(
            CRM,
            source.http,
            base_url=source.base_url,
            authenticator=make_authenticator(source.auth),
            classify=classify,
            pacer=self.pacer,
            clock=self.clock,
            counter=counter,
            transport=transport,
            on_response=self._read_limits,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        search: bool = False,
    ) -> dict[str, Any]:
        """One request through the transport; the reply's JSON object ({} when empty)."""
        reply = self.transport.request(
            method, path, kind=kind, json=json, params=params, pacer=self.search_pacer if search else None
        )
        return parse_body(reply.content)

    def server_now(self) -> datetime:
        """HubSpot's current time (connector.crm.clock.ServerClock); pull cursors are held
        back relative to it."""
        return self.server_clock.now()

    def _read_limits(self, response: httpx.Response) -> None:
        self.server_clock.observe(response)
        window_left = response.headers.get("X-HubSpot-RateLimit-Remaining")
        if window_left and window_left.isdigit():
            self.pacer.observe_remaining(int(window_left))  # the limit is per account, shared
        daily = response.headers.get("X-HubSpot-RateLimit-Daily")
        remaining = response.headers.get("X-HubSpot-RateLimit-Daily-Remaining")
        if daily and remaining and daily.isdigit() and remaining.isdigit():
            with self._lock:
                self._daily = (int(daily) - int(remaining), int(daily))

    def quota(self) -> QuotaInfo:
        with self._lock:
            used, limit = self._daily
        # HubSpot's DAILY 429 is the stop signal; the share is reported for status and metrics.
        return QuotaInfo(used=used, limit=limit, stop_share=1.0)

    def close(self) -> None:
        self.transport.close()
