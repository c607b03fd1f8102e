"""Seeded, deterministic fault injection shared by both sandbox CRMs.

A `FaultConfig` says how often each fault happens and how long a call takes; a
`FaultInjector` decides, per request and reproducibly from the seed, what happens to that
request, and wraps a WSGI app so the emulators only supply their own error bodies (a
Salesforce 500 is a JSON array, a HubSpot 429 carries `policyName`).

How each fault reaches a client:

| fault            | in-process (`WSGIFaultTransport`)      | on a socket (`server.py`)            |
|------------------|-----------------------------------------|--------------------------------------|
| 429/500/502/...  | the CRM's error response                | the same response                    |
| dropped          | `httpx.RemoteProtocolError`             | connection closed, no response       |
| read timeout     | `httpx.ReadTimeout`                     | response withheld for `stall_seconds`|
| latency          | no sleep unless a `sleep` is injected   | real `time.sleep`                    |

The decision for the n-th request depends only on (seed, n), so a test that sends its
requests in a fixed order sees the same faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
# render_error(status, environ) -> (headers, body): the CRM-specific reply for an HTTP fault.
ErrorRenderer = Callable[[int, dict], tuple[list[tuple[str, str]], bytes]]

# The server puts a real sleep here; in-process requests have none, so latency costs nothing.
SLEEP_ENVIRON_KEY = "segsync.sandbox.sleep"

STATUS_FAULTS = (429, 500, 502, 503, 504)


class InjectedFault(Exception):  # noqa: N818 - a signal, not an error the app made
    """Raised by the wrapped app to tell the transport or server to misbehave."""


class DroppedConnection(InjectedFault):
    """Close the connection without sending a response."""


class StalledResponse(InjectedFault):
    """Send nothing until the client gives up (a read timeout on the client side)."""

    def __init__(self, path: str, seconds: float = 30.0) -> None:
        super().__init__(path)
        self.seconds = seconds


@dataclass(frozen=True)
class Latency:
    """A per-call latency distribution, in milliseconds.

    kind: "none"; "fixed" (`ms`); "uniform" between `ms` and `high_ms`; "lognormal" with
    median `ms` and shape `sigma` (long right tail, like real API latency).
    """

    kind: Literal["none", "fixed", "uniform", "lognormal"] = "none"
    ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "fixed", "uniform", "lognormal"):
            raise ValueError(f"latency kind must be none/fixed/uniform/lognormal, not {self.kind!r}")
        if self.ms < 0 or self.high_ms < 0 or self.sigma < 0:
            raise ValueError("latency parameters must be >= 0")
        if self.kind == "uniform" and self.high_ms < self.ms:
            raise ValueError("uniform latency needs high_ms >= ms")

    @classmethod
    def fixed(cls, ms: float) -> Latency:
        return cls("fixed", ms)

    @classmethod
    def uniform(cls, low_ms: float, high_ms: float) -> Latency:
        return cls("uniform", low_ms, high_ms)

    @classmethod
    def lognormal(cls, median_ms: float, sigma: float = 0.5) -> Latency:
        return cls("lognormal", median_ms, sigma=sigma)

    def draw(self, rng: random.Random) -> float:
        """One latency in seconds."""
        if self.kind == "fixed":
            return self.ms / 1000
        if self.kind == "uniform":
            return rng.uniform(self.ms, self.high_ms) / 1000
        if self.kind == "lognormal" and self.ms > 0:
            return math.exp(rng.gauss(math.log(self.ms), self.sigma)) / 1000
        return 0.0


@dataclass(frozen=True)
class FaultConfig:
    """Knobs for one sandbox server. Probabilities are per request and must sum to <= 1.

    exempt_paths: path prefixes never faulted (e.g. the token endpoint, to test data paths
    in isolation). only_paths: if non-empty, only these prefixes are faulted.
    stall_seconds: how long a socket server withholds a "timed out" response.
    """

    seed: int = 0
    latency: Latency = field(default_factory=Latency)
    p_429: float = 0.0
    p_500: float = 0.0
    p_502: float = 0.0
    p_503: float = 0.0
    p_504: float = 0.0
    p_drop: float = 0.0
    p_timeout: float = 0.0
    exempt_paths: tuple[str, ...] = ()
    only_paths: tuple[str, ...] = ()
    stall_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name, p in self._outcomes():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"FaultConfig.{name} must be within [0, 1], got {p}")
        total = sum(p for _, p in self._outcomes())
        if total > 1.0 + 1e-9:
            raise ValueError(f"FaultConfig probabilities sum to {total:.3f} > 1")

    def _outcomes(self) -> list[tuple[str, float]]:
        return [(f"p_{s}", getattr(self, f"p_{s}")) for s in STATUS_FAULTS] + [
            ("p_drop", self.p_drop),
            ("p_timeout", self.p_timeout),
        ]

    def applies_to(self, path: str) -> bool:
        if any(path.startswith(p) for p in self.exempt_paths):
            return False
        return not self.only_paths or any(path.startswith(p) for p in self.only_paths)


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request: kind is "ok", "status", "drop" or "timeout"."""

    kind: str
    status: int | None = None
    latency_s: float = 0.0


class FaultInjector:
    """Decides faults per request (thread-safe) and wraps WSGI apps with them.

    `sleep` overrides how latency is spent (a fake for tests); by default latency is
    slept only when the server put a real sleep into the WSGI environ.
    """

    def __init__(self, config: FaultConfig, *, sleep: Callable[[float], Any] | None = None):
        self.config = config
        self.sleep = sleep
        self._lock = threading.Lock()
        self._n = 0
        self.counts: Counter[str] = Counter()

    def decision_for(self, n: int) -> FaultDecision:
        """The decision for the n-th faultable request: a pure function of (seed, n)."""
        rng = random.Random(f"{self.config.seed}:{n}")
        latency = self.config.latency.draw(rng)
        u = rng.random()
        for name, p in self.config._outcomes():
            if u < p:
                if name == "p_drop":
                    return FaultDecision("drop", latency_s=latency)
                if name == "p_timeout":
                    return FaultDecision("timeout", latency_s=latency)
                return FaultDecision("status", int(name[2:]), latency)
            u -= p
        return FaultDecision("ok", latency_s=latency)

    def decide(self, path: str) -> FaultDecision:
        if not self.config.applies_to(path):
            return FaultDecision("ok")
        with self._lock:
            n = self._n
            self._n += 1
        decision = self.decision_for(n)
        with self._lock:
            self.counts[decision.kind if decision.kind != "status" else str(decision.status)] += 1
        return decision

    def wrap(self, app: WSGIApp, render_error: ErrorRenderer) -> WSGIApp:
        """A WSGI app that applies this injector's faults in front of `app`."""

        def faulty_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
            decision = self.decide(environ.get("PATH_INFO", "/"))
            sleep = self.sleep or environ.get(SLEEP_ENVIRON_KEY)
            if sleep is not None and decision.latency_s > 0:
                sleep(decision.latency_s)
            if decision.kind == "drop":
                raise DroppedConnection(environ.get("PATH_INFO", ""))
            if decision.kind == "timeout":
                raise StalledResponse(environ.get("PATH_INFO", ""), self.config.stall_seconds)
            if decision.kind == "status":
                assert decision.status is not None
                headers, body = render_error(decision.status, environ)
                start_response(f"{decision.status} {_REASONS[decision.status]}", headers)
                return [body]
            return app(environ, start_response)

        return faulty_app


_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def plain_error(status: int, environ: dict) -> tuple[list[tuple[str, str]], bytes]:
    """A neutral error body, for apps without their own renderer."""
    return [("Content-Type", "text/plain")], f"{status} {_REASONS.get(status, '')}".encode()


class WSGIFaultTransport(httpx.WSGITransport):
    """httpx.WSGITransport that turns injected faults into the errors a socket would give."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except DroppedConnection as exc:
            # What httpcore raises when the peer closes before sending a status line.
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            ) from exc
        except StalledResponse as exc:
            raise httpx.ReadTimeout("The read operation timed out", request=request) from exc
