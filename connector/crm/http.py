"""The one HTTP transport every CRM call goes through.

What a `Transport` does for each request, in order:
1. `before_request(kind)` (Salesforce stops here once its daily quota share is spent);
2. waits for a slot from its pacer (and an extra one, e.g. HubSpot search's 4/s);
3. adds the authenticator's headers and sends with explicit connect/read timeouts;
4. counts the attempt by (crm, kind, method, status) and hands the reply to `on_response`;
5. asks the CRM's classifier what the reply means: None for success, else an error from
   connector.crm.errors. `TokenExpiredError` -> refresh once and replay; `RetriableError`
   (429, 5xx, timeouts, dropped connections) -> wait `retry_after` when the server gave
   one, else capped exponential backoff with jitter, and retry, capped in attempts and in
   total wait; a `RateLimitedError` also blocks the pacer so other threads wait too;
   everything else is raised to the caller at once (a quota stop is never retried).

Time comes from an injected `Clock`, so tests never sleep. An httpx transport or client can
be injected, so the in-process sandbox (a WSGI app behind `httpx.WSGITransport`) and respx
serve the same code as a real CRM. Concurrency: `Transport.map` runs calls on a thread pool
sized by `HttpConfig.concurrency`; the httpx client, pacers, counter and authenticators are
thread-safe. The retry policy lives in backoff.py, the generic reading of replies in
replies.py (re-exported here).
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from connector.config import HttpConfig
from connector.crm.auth import Authenticator, NoAuth
from connector.crm.backoff import RetryPolicy
from connector.crm.clock import Clock, SystemClock
from connector.crm.counters import RequestCounter, RequestObservation
from connector.crm.errors import (
    AuthenticationError,
    RateLimitedError,
    RetriableError,
    TokenExpiredError,
)
from connector.crm.pacing import Pacer, Unpaced
from connector.crm.redaction import redact
from connector.crm.replies import Classifier, classify_status, parse_retry_after

__all__ = ["Classifier", "Transport", "classify_status", "parse_retry_after"]

log = logging.getLogger("segsync.http")
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Call:
    """One logical request across its attempts (retries and the auth replay)."""

    method: str
    url: str
    kind: str
    options: dict[str, Any]
    authenticate: bool
    pacers: tuple[Pacer, ...]
    classify: Classifier
    refreshed: bool = False
    used_auth: Mapping[str, str] = field(default_factory=dict)


class Transport:
    """Timeouts, retries, pacing, re-authentication and counting for one CRM."""

    def __init__(
        self,
        crm: str,
        config: HttpConfig,
        *,
        base_url: str = "",
        authenticator: Authenticator | None = None,
        classify: Classifier | None = None,
        pacer: Pacer | None = None,
        clock: Clock | None = None,
        counter: RequestCounter | None = None,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
        rng: random.Random | None = None,
        before_request: Callable[[str], None] | None = None,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> None:
        self.crm = crm
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.authenticator: Authenticator = authenticator or NoAuth()
        self.classify: Classifier = classify or (lambda r: classify_status(r, crm))
        self.pacer: Pacer = pacer or Unpaced(self.clock)
        self.counter = counter or RequestCounter()
        self.before_request = before_request
        self.on_response = on_response
        self.retry = RetryPolicy(config, crm, rng)
        self._timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.read_timeout,
            write=config.read_timeout,
            pool=config.read_timeout,
        )
        self._own_client = client is None
        self.client = client or httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=self._timeout,
            verify=config.verify_tls,
            limits=httpx.Limits(max_connections=max(10, 2 * config.concurrency)),
        )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        url: str,
        *,
        kind: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        pacer: Pacer | None = None,
        authenticate: bool = True,
        classify: Classifier | None = None,
    ) -> httpx.Response:
        """Send one request with retries; return the successful reply or raise a CRMError.

        `kind` labels the call in counts and logs. `pacer` is waited for in addition to the
        transport's own (an endpoint with its own limit). `classify` overrides the CRM's
        classifier for this call (token endpoints).
        """
        options = {"params": params, "json": json, "content": content, "data": data, "headers": dict(headers or {})}
        call = _Call(
            method=method.upper(),
            url=url,
            kind=kind,
            options=options,
            authenticate=authenticate,
            pacers=(self.pacer,) if pacer is None else (self.pacer, pacer),
            classify=classify or self.classify,
        )
        return self.retry.retrying(self.clock.sleep)(self._attempt, call)

    def _attempt(self, call: _Call) -> httpx.Response:
        try:
            return self._send(call)
        except TokenExpiredError as exc:
            if not call.authenticate or call.refreshed:
                raise AuthenticationError(
                    f"credentials refused after a refresh: {exc}", crm=self.crm, status=exc.status, code=exc.code
                ) from None
            call.refreshed = True
            log.info("%s: access token expired or invalid; re-authenticating once and replaying", self.crm)
            self.authenticator.refresh(self, call.used_auth)
        try:
            return self._send(call)
        except TokenExpiredError as exc:
            raise AuthenticationError(
                f"credentials refused right after a refresh: {exc}", crm=self.crm, status=exc.status, code=exc.code
            ) from None

    def _send(self, call: _Call) -> httpx.Response:
        if self.before_request is not None:
            self.before_request(call.kind)
        for p in call.pacers:
            p.acquire()
        headers = dict(call.options["headers"])
        if call.authenticate:
            call.used_auth = dict(self.authenticator.headers(self))
            headers.update(call.used_auth)
        opts = {k: v for k, v in call.options.items() if k != "headers" and v is not None}
        start = self.clock.now()
        try:
            response = self.client.request(call.method, call.url, headers=headers, timeout=self._timeout, **opts)
        except httpx.TimeoutException as exc:
            self._count(call, "timeout", start)
            raise RetriableError(f"{call.method} {self._path(call)} timed out ({type(exc).__name__})", crm=self.crm) from None
        except httpx.TransportError as exc:
            self._count(call, "connection_error", start)
            raise RetriableError(
                f"{call.method} {self._path(call)} failed: {type(exc).__name__}: {redact(str(exc))}", crm=self.crm
            ) from None
        self._count(call, str(response.status_code), start)
        if self.on_response is not None:
            self.on_response(response)
        error = call.classify(response)
        if error is None:
            return response
        if isinstance(error, RateLimitedError):
            pause = error.retry_after if error.retry_after is not None else self.retry.backoff(1)
            for p in call.pacers:
                p.penalize(pause)
        raise error

    def _count(self, call: _Call, status: str, start: float) -> None:
        seconds = self.clock.now() - start
        self.counter.record(RequestObservation(self.crm, call.kind, call.method, status, seconds))
        log.debug("%s %s %s %s -> %s", self.crm, call.kind, call.method, self._path(call), status)

    def _path(self, call: _Call) -> str:
        # Paths only: query strings carry SOQL with customer data, and never belong in logs.
        return redact(httpx.URL(call.url).path)

    # ------------------------------------------------------------------ concurrency

    def map(self, fn: Callable[[T], R], items: Iterable[T], concurrency: int | None = None) -> Iterator[R]:
        """`fn` over `items` on up to `concurrency` threads; results in input order.

        At most twice `concurrency` calls are queued ahead, so a lazy iterable is never
        drained into memory. The first exception stops submission, lets running calls
        finish, cancels queued ones and is raised (after the results before it were yielded).
        """
        workers = concurrency or self.config.concurrency
        if workers <= 1:
            yield from map(fn, items)
            return
        pending: deque[Future[R]] = deque()
        source = iter(items)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{self.crm}-http") as pool:
            try:
                for item in source:
                    pending.append(pool.submit(fn, item))
                    if len(pending) >= 2 * workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for f in pending:
                    f.cancel()
