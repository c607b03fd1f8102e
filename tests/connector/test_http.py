"""The shared transport: retries, Retry-After, re-authentication, pacing, counting, redaction."""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import UTC, datetime

import httpx
import pytest
import respx

from connector.config import HttpConfig
from connector.crm.auth import StaticTokenAuthenticator, Token, TokenAuthenticator
from connector.crm.clock import ManualClock, ServerClock
from connector.crm.errors import (
    AuthenticationError,
    FatalError,
    QuotaExceededError,
    RateLimitedError,
    RetriableError,
)
from connector.crm.http import Transport, classify_status, parse_retry_after
from connector.crm.pacing import RollingWindowPacer
from connector.crm.redaction import redact, redact_headers
from connector.cursor import Cursor

BASE = "https://crm.test"


class CountingAuth(TokenAuthenticator):
    """Hands out tok-1, tok-2, ... and counts fetches."""

    def __init__(self, ttl: float | None = None) -> None:
        super().__init__()
        self.ttl = ttl

    def fetch_token(self, transport: Transport) -> Token:
        n = self.fetches + 1
        exp = None if self.ttl is None else transport.clock.now() + self.ttl
        return Token(access_token=f"tok-{n}", expires_at=exp)


def make(clock: ManualClock | None = None, **kw) -> Transport:
    cfg = kw.pop("config", HttpConfig(max_attempts=4, max_wait_seconds=100, backoff_base_seconds=1, backoff_max_seconds=8))
    return Transport("testcrm", cfg, base_url=BASE, clock=clock or ManualClock(), rng=random.Random(1), **kw)


@respx.mock
def test_success_carries_auth_header_and_is_counted():
    route = respx.post(f"{BASE}/things").mock(return_value=httpx.Response(200, json={"ok": True}))
    t = make(authenticator=StaticTokenAuthenticator("s3cret"))
    resp = t.request("POST", "/things", kind="create", json={"a": 1}, headers={"X-Extra": "1"})
    assert resp.json() == {"ok": True}
    req = route.calls.last.request
    assert req.headers["Authorization"] == "Bearer s3cret"
    assert req.headers["X-Extra"] == "1"
    assert json.loads(req.content) == {"a": 1}
    assert t.counter.total(crm="testcrm", kind="create", method="POST", status="200") == 1


@respx.mock
def test_503_retried_honouring_retry_after_then_succeeds():
    clock = ManualClock()
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json=[]),
        ]
    )
    t = make(clock)
    assert t.request("GET", "/x", kind="read").status_code == 200
    assert route.call_count == 3
    # 7 s from the 503, then 3 s from the 429 (the pacer's block and the retry wait coincide)
    assert sum(clock.sleeps) == pytest.approx(10)
    assert t.counter.total(kind="read", status="503") == 1
    assert t.counter.total(kind="read", status="429") == 1


@respx.mock
def test_backoff_without_retry_after_is_capped_exponential_with_jitter():
    clock = ManualClock()
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(500))
    t = make(clock)
    with pytest.raises(RetriableError) as err:
        t.request("GET", "/x", kind="read")
    assert err.value.status == 500
    assert len(clock.sleeps) == 3  # 4 attempts, 3 waits
    for n, s in enumerate(clock.sleeps, start=1):
        cap = min(8, 2 ** (n - 1))
        assert cap / 2 <= s <= cap


@respx.mock
def test_total_wait_cap_stops_before_a_long_retry_after():
    clock = ManualClock()
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503, headers={"Retry-After": "500"}))
    t = make(clock)
    with pytest.raises(RetriableError):
        t.request("GET", "/x", kind="read")
    assert route.call_count == 1
    assert clock.sleeps == []


@respx.mock
def test_timeouts_and_dropped_connections_are_retried():
    clock = ManualClock()
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), httpx.Response(200)]
    )
    t = make(clock)
    assert t.request("GET", "/x", kind="read").status_code == 200
    assert route.call_count == 3
    assert t.counter.total(status="timeout") == 1
    assert t.counter.total(status="connection_error") == 1


@respx.mock
def test_expired_token_refreshes_once_and_replays():
    auth = CountingAuth()
    route = respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(401), httpx.Response(200)])
    t = make(authenticator=auth)
    assert t.request("GET", "/x", kind="read").status_code == 200
    assert [c.request.headers["Authorization"] for c in route.calls] == ["Bearer tok-1", "Bearer tok-2"]
    assert auth.fetches == 2


@respx.mock
def test_second_401_after_refresh_is_an_authentication_error():
    auth = CountingAuth()
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(401))
    t = make(authenticator=auth)
    with pytest.raises(AuthenticationError) as err:
        t.request("GET", "/x", kind="read")
    assert route.call_count == 2
    assert "tok-" not in str(err.value)


@respx.mock
def test_token_fetched_before_expiry():
    clock = ManualClock()
    auth = CountingAuth(ttl=1800)
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200))
    t = make(clock, authenticator=auth)
    t.request("GET", "/x", kind="read")
    clock.advance(1800 - 30)  # inside the 60 s refresh margin
    t.request("GET", "/x", kind="read")
    assert [c.request.headers["Authorization"] for c in route.calls] == ["Bearer tok-1", "Bearer tok-2"]


def test_concurrent_401s_cause_one_refresh():
    auth = CountingAuth()
    seen: list[str] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            seen.append(request.headers["Authorization"])
        return httpx.Response(401 if request.headers["Authorization"] == "Bearer tok-1" else 200)

    t = make(authenticator=auth, transport=httpx.MockTransport(handler))
    t.authenticator.headers(t)  # log in once before the burst
    results = list(t.map(lambda i: t.request("GET", f"/x/{i}", kind="read").status_code, range(8), concurrency=4))
    assert results == [200] * 8
    assert auth.fetches == 2


@respx.mock
def test_fatal_and_quota_errors_are_not_retried():
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(400, text="bad"))
    t = make()
    with pytest.raises(FatalError):
        t.request("GET", "/x", kind="read")
    assert route.call_count == 1

    def quota(resp: httpx.Response):
        return QuotaExceededError("spent", crm="testcrm", status=403) if resp.status_code == 403 else None

    route2 = respx.get(f"{BASE}/q").mock(return_value=httpx.Response(403))
    with pytest.raises(QuotaExceededError):
        t.request("GET", "/q", kind="read", classify=quota)
    assert route2.call_count == 1


@respx.mock
def test_custom_classifier_429_without_retry_after_waits_the_window_and_blocks_the_pacer():
    clock = ManualClock()
    pacer = RollingWindowPacer(100, 10.0, clock)

    def classify(resp: httpx.Response):
        if resp.status_code == 429:
            return RateLimitedError("ten_secondly_rolling", crm="hs", status=429, retry_after=10.0)
        return classify_status(resp, "hs")

    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    t = make(clock, classify=classify, pacer=pacer)
    t.request("GET", "/x", kind="read")
    assert clock.sleeps == [10.0]


def test_rolling_window_never_exceeds_limit():
    clock = ManualClock()
    pacer = RollingWindowPacer(5, 10.0, clock)
    times = []
    for _ in range(23):
        pacer.acquire()
        times.append(clock.now())
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 10.0 - 1e-9
    assert times[:5] == [0.0] * 5
    assert times[5] == pytest.approx(10.0)


def test_extra_pacer_applies_in_addition():
    clock = ManualClock()
    search = RollingWindowPacer(4, 1.0, clock)
    t = make(clock, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    for _ in range(9):
        t.request("POST", "/search", kind="search", pacer=search)
    assert clock.now() == pytest.approx(2.0)  # 4 at t=0, 4 at t=1, 1 at t=2


def test_map_preserves_order_and_stops_on_error():
    t = make()

    def fn(i: int) -> int:
        if i == 5:
            raise QuotaExceededError("stop")
        return i * 2

    out = []
    with pytest.raises(QuotaExceededError):
        for v in t.map(fn, range(100), concurrency=3):
            out.append(v)
    assert out == [0, 2, 4, 6, 8]


def test_retry_after_parsing():
    assert parse_retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12
    dated = httpx.Response(
        503,
        headers={"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT", "Date": "Wed, 21 Oct 2026 07:28:00 GMT"},
    )
    assert parse_retry_after(dated) == 30
    assert parse_retry_after(httpx.Response(503)) is None
    assert parse_retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None


def test_redaction_masks_credentials():
    text = 'Authorization: Bearer abc.def-ghi {"access_token":"00Dxx!AQ","ok":1} client_secret=xyz&a=b'
    out = redact(text, secrets=("hunter2",))
    for secret in ("abc.def-ghi", "00Dxx!AQ", "xyz"):
        assert secret not in out
    assert '"ok":1' in out and "a=b" in out
    assert redact("password hunter2", secrets=("hunter2",)) == "password ***"
    assert redact_headers({"Authorization": "Bearer x", "Accept": "a"}) == {"Authorization": "***", "Accept": "a"}


@respx.mock
def test_secrets_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503), httpx.Response(200)])
    t = make(authenticator=StaticTokenAuthenticator("sup3rsecret"))
    t.request("GET", "/x", kind="read", params={"q": "x"})
    assert "sup3rsecret" not in caplog.text
    assert "retrying" in caplog.text


def test_listener_sees_every_attempt():
    seen = []
    t = make(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    t.counter.subscribe(lambda obs: seen.append((obs.crm, obs.kind, obs.method, obs.status)))
    t.request("DELETE", "/x", kind="delete")
    assert seen == [("testcrm", "delete", "DELETE", "200")]


def test_server_clock_follows_the_date_header_and_the_time_passed_since():
    clock = ManualClock(100.0)
    server = ServerClock(clock=clock)
    before = server.now()  # no reply yet: this machine's clock, but not a known CRM time
    assert abs((before - datetime.now(UTC)).total_seconds()) < 60 and server.known() is None
    scanning = Cursor(datetime(2026, 5, 1, tzinfo=UTC)).scanning("q", "", server.known())
    server.observe(httpx.Response(200, headers={"Date": "Mon, 01 Jun 2026 12:00:00 GMT"}))
    assert server.now() == server.known() == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    # a scan whose start was unknown takes its first reply's time, less the Date's resolution
    assert server.stamp(scanning).scan.started_at == datetime(2026, 6, 1, 11, 59, 59, tzinfo=UTC)
    assert server.stamp(server.stamp(scanning)) == server.stamp(scanning)
    clock.sleep(90)  # a connector living across runs does not fall behind the CRM
    assert server.now() == datetime(2026, 6, 1, 12, 1, 30, tzinfo=UTC)
    server.observe(httpx.Response(200, headers={"Date": "not a date"}))  # ignored
    assert server.now() == datetime(2026, 6, 1, 12, 1, 30, tzinfo=UTC)
    injected = ServerClock(lambda: datetime(2030, 1, 1, tzinfo=UTC), clock)
    injected.observe(httpx.Response(200, headers={"Date": "Mon, 01 Jun 2026 12:00:00 GMT"}))
    assert injected.now() == datetime(2030, 1, 1, tzinfo=UTC)
