"""HubSpotSandbox: the emulated portal as one WSGI app, with its store, tokens, limits and
faults.

Mount `hs.app` in-process with `httpx.WSGITransport` (or the fault-aware
`connector.sandbox.faults.WSGIFaultTransport`), or serve it on 127.0.0.1 for clients that
bring their own HTTP stack (hubspot-api-client uses urllib3).
"""

from __future__ import annotations

import json
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import FaultConfig, FaultInjector
from connector.sandbox.hubspot import snapshot
from connector.sandbox.hubspot.association_types import LabelsApi
from connector.sandbox.hubspot.associations import AssociationsApi
from connector.sandbox.hubspot.auth import TOKEN_PATHS, TokenAuthority
from connector.sandbox.hubspot.batch import BatchApi
from connector.sandbox.hubspot.errors import ApiError, CorrelationIds, ErrorFactory, error_body
from connector.sandbox.hubspot.limits import RateLimiter
from connector.sandbox.hubspot.lists import ListsApi
from connector.sandbox.hubspot.objects import ObjectsApi
from connector.sandbox.hubspot.properties import PropertiesApi
from connector.sandbox.hubspot.routing import (
    Reply,
    Router,
    encode_reply,
    error_reply,
    read_request,
    uri_length,
)
from connector.sandbox.hubspot.scopes import ScopeGrant, token_info_routes
from connector.sandbox.hubspot.search import SearchApi
from connector.sandbox.hubspot.store import Store
from connector.sandbox.hubspot.unemulated import unemulated_route

# Real HubSpot refuses URIs somewhere above the ~15k characters Airbyte chunks its property
# lists to (reference §B2, §B7 [79][80]); the exact threshold is unverified.
MAX_URI_CHARS = 16_000


class HubSpotSandbox:
    """An emulated HubSpot portal. Every timestamp, token lifetime and rate-limit window
    reads `clock`; `rate_limits=False` switches the limits off (benchmarks)."""

    def __init__(self, clock: SandboxClock | None = None, faults: FaultConfig | None = None, *,
                 seed: int = 0, tier_requests_per_10s: int = 100, oauth_requests_per_10s: int = 110,
                 daily_limit: int = 250_000, token_seconds: int = 1800,
                 search_requests_per_second: int = 4, search_lag_seconds: float = 0.0,
                 rate_limits: bool = True, max_uri_chars: int = MAX_URI_CHARS,
                 portal_id: int = 46_000_001, granted_scopes: Iterable[str] | None = None) -> None:
        if tier_requests_per_10s <= 0 or daily_limit <= 0 or token_seconds <= 0:
            raise ValueError("rate limits, daily limit and token lifetime must be positive")
        self.config = {
            "seed": seed, "tier_requests_per_10s": tier_requests_per_10s,
            "oauth_requests_per_10s": oauth_requests_per_10s, "daily_limit": daily_limit,
            "token_seconds": token_seconds, "search_requests_per_second": search_requests_per_second,
            "search_lag_seconds": search_lag_seconds, "rate_limits": rate_limits,
            "max_uri_chars": max_uri_chars, "portal_id": portal_id,
        }
        self.clock = clock or SandboxClock()
        self.portal_id = portal_id
        self.max_uri_chars = max_uri_chars
        ids = CorrelationIds(seed)
        self.errors = ErrorFactory(ids)
        self.store = Store(self.clock)
        self.auth = TokenAuthority(self.clock, self.errors, seed=seed, token_seconds=token_seconds,
                                   portal_id=portal_id)
        self.scopes = ScopeGrant(self.errors, granted_scopes)
        self.limits = RateLimiter(
            self.clock, ids, tier_requests_per_10s=tier_requests_per_10s,
            oauth_requests_per_10s=oauth_requests_per_10s, daily_limit=daily_limit,
            search_requests_per_second=search_requests_per_second, portal_id=portal_id,
            enabled=rate_limits)
        self.router = self._routes(search_lag_seconds)
        self.request_count: Counter[tuple[str, int]] = Counter()
        self._count_lock = threading.Lock()
        self.faults = FaultInjector(faults) if faults is not None else None
        self.app: Callable[[dict, Callable], Iterable[bytes]] = (
            self.faults.wrap(self._serve, self._render_fault) if self.faults else self._serve)

    @property
    def credentials(self) -> dict[str, str]:
        """Dummy credentials: token (static service key), client_id, client_secret, refresh_token."""
        return self.auth.credentials

    def expire_tokens(self) -> None:
        """The OAuth access tokens issued so far expire now: the next call with one gets the 401."""
        self.auth.expire_all()

    def calls(self, kind: str | None = None, status: int | None = None) -> int:
        """How many requests reached the portal, by route kind (e.g. "objects.batch.update")
        and/or status. Faults injected in front of the portal are in `faults.counts`."""
        return sum(n for (k, s), n in self.request_count.items()
                   if (kind is None or k == kind) and (status is None or s == status))

    def _routes(self, search_lag_seconds: float) -> Router:
        router = Router()
        for path in TOKEN_PATHS:
            router.add("POST", path, "oauth.token", self.auth.token_endpoint)
        for method, path, kind, handler in token_info_routes(self.scopes, self.auth):
            router.add(method, path, kind, handler)
        objects = ObjectsApi(self.store, self.errors)
        # Search and batch routes first: "/search" and "/batch/x" must not match "/{objectId}".
        SearchApi(self.store, self.errors, objects, search_lag_seconds=search_lag_seconds).register(router)
        BatchApi(self.store, self.errors, objects).register(router)
        objects.register(router)
        PropertiesApi(self.store, self.errors, objects).register(router)
        AssociationsApi(self.store, self.errors).register(router)
        LabelsApi(self.store, self.errors).register(router)
        ListsApi(self.store, self.errors).register(router)
        return router

    # ---- WSGI ---------------------------------------------------------------------
    def _serve(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        kind, reply = self._handle(environ)
        with self._count_lock:
            self.request_count[(kind, reply.status)] += 1
        reply.headers.append(("X-HubSpot-Correlation-Id", self.errors.ids.next()))
        # The sandbox's time, not this machine's: clients that hold cursors back relative to
        # the server's Date (as segsync does) must see simulated days.
        reply.headers.append(("Date", format_datetime(self.clock.now(), usegmt=True)))
        status, headers, payload = encode_reply(reply)
        start_response(status, headers)
        return [payload]

    def _handle(self, environ: dict) -> tuple[str, Reply]:
        if uri_length(environ) > self.max_uri_chars:
            return "uri-too-long", Reply(414, b"<html><body><h1>414 Request-URI Too Large</h1></body></html>",
                                         [("Content-Type", "text/html")])
        request = read_request(environ)
        route, params, exists = self.router.match(request.method, request.path)
        if route is None and not exists and unemulated_route(request.path):
            message = f"{request.method} {request.path} is a HubSpot API the segsync sandbox does not emulate"
            return "unknown", Reply(501, error_body(self.errors.ids.next(), message, "NOT_IMPLEMENTED"))
        if route is None:
            status = 405 if exists else 404
            message = "Method not allowed" if exists else f"Unable to find a route for {request.method} {request.path}"
            return "unknown", Reply(status, error_body(self.errors.ids.next(), message, None))
        request.params = params
        rate_headers: list[tuple[str, str]] = []
        try:
            if not route.kind.startswith("oauth."):
                principal = self.auth.check(request)
                rate_headers = self.limits.admit(principal, search=route.kind == "objects.search")
                self.scopes.check(route.kind, request)
            reply = route.handler(request)
        except ApiError as exc:
            reply = error_reply(exc)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must still answer like HubSpot
            traceback.print_exc()
            reply = Reply(500, error_body(self.errors.ids.next(), f"internal error: {type(exc).__name__}",
                                          "INTERNAL_ERROR"))
        reply.headers = rate_headers + reply.headers
        return route.kind, reply

    def _render_fault(self, status: int, environ: dict) -> tuple[list[tuple[str, str]], bytes]:
        """The body of an injected fault: HubSpot JSON for 429/500, a gateway page otherwise."""
        if status == 429:
            body: Any = self.limits.refusal_body()
        elif status == 500:
            body = error_body(self.errors.ids.next(), "internal error", "INTERNAL_ERROR")
        else:
            page = f"<html><head><title>{status}</title></head><body>{status} error</body></html>"
            return [("Content-Type", "text/html")], page.encode()
        return [("Content-Type", "application/json;charset=utf-8")], json.dumps(body).encode()

    # ---- snapshots ---------------------------------------------------------------------
    def snapshot(self, path: str | Path) -> None:
        """Write the portal's state (records, properties, associations, lists) to `path`."""
        snapshot.write(path, snapshot.dump_state(self.store, self.config))

    @classmethod
    def restore(cls, path: str | Path, clock: SandboxClock | None = None,
                faults: FaultConfig | None = None, **overrides: Any) -> HubSpotSandbox:
        """A sandbox with the state saved by snapshot(); the clock resumes at the saved time
        unless one is given; keyword overrides replace saved settings."""
        state = snapshot.read(path)
        config = {**state.get("config", {}), **overrides}
        clock = clock or SandboxClock(datetime.fromisoformat(state["now"]))
        sandbox = cls(clock, faults, **config)
        snapshot.load_state(sandbox.store, state)
        return sandbox
