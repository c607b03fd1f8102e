"""The shared fault injector: seeded decisions, rates, and how faults reach an httpx client."""

from __future__ import annotations

import httpx
import pytest

from connector.sandbox.faults import (
    FaultConfig,
    FaultInjector,
    Latency,
    WSGIFaultTransport,
    plain_error,
)


def ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine"]


def test_decisions_are_a_function_of_seed_and_order():
    cfg = FaultConfig(seed=7, p_500=0.2, p_drop=0.1, latency=Latency.uniform(50, 150))
    inj = FaultInjector(cfg)
    a = [inj.decide("/x") for _ in range(200)]
    b = [FaultInjector(cfg).decision_for(n) for n in range(200)]
    assert a == b
    other = [FaultInjector(FaultConfig(seed=8, p_500=0.2, p_drop=0.1)).decision_for(n) for n in range(200)]
    assert [d.kind for d in a] != [d.kind for d in other]
    assert all(0.05 <= d.latency_s <= 0.15 for d in a)


def test_rates_match_the_probabilities():
    cfg = FaultConfig(seed=1, p_429=0.1, p_503=0.05, p_timeout=0.05)
    inj = FaultInjector(cfg)
    for _ in range(20_000):
        inj.decide("/q")
    assert inj.counts["429"] == pytest.approx(2000, rel=0.1)
    assert inj.counts["503"] == pytest.approx(1000, rel=0.15)
    assert inj.counts["timeout"] == pytest.approx(1000, rel=0.15)
    assert inj.counts["ok"] == pytest.approx(16_000, rel=0.05)


def test_lognormal_latency_has_the_median():
    inj = FaultInjector(FaultConfig(latency=Latency.lognormal(100, 0.5)))
    draws = sorted(inj.decision_for(n).latency_s for n in range(4001))
    assert draws[2000] == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize(
    "kw",
    [{"p_500": 1.5}, {"p_429": -0.1}, {"p_500": 0.6, "p_drop": 0.6}],
)
def test_bad_probabilities_are_refused(kw):
    with pytest.raises(ValueError, match="FaultConfig"):
        FaultConfig(**kw)


def test_bad_latency_is_refused():
    with pytest.raises(ValueError, match="high_ms"):
        Latency.uniform(100, 50)


def client_for(cfg, **kw):
    inj = FaultInjector(cfg, **kw)
    app = inj.wrap(ok_app, plain_error)
    return inj, httpx.Client(transport=WSGIFaultTransport(app=app), base_url="http://sb")


def test_status_fault_uses_the_renderer():
    _, client = client_for(FaultConfig(p_502=1.0))
    r = client.get("/anything")
    assert r.status_code == 502
    assert r.text == "502 Bad Gateway"


def test_drop_and_timeout_become_httpx_errors():
    _, client = client_for(FaultConfig(p_drop=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/x")
    _, client = client_for(FaultConfig(p_timeout=1.0))
    with pytest.raises(httpx.ReadTimeout):
        client.get("/x")


def test_exempt_and_only_paths():
    inj, client = client_for(FaultConfig(p_500=1.0, exempt_paths=("/services/oauth2",)))
    assert client.post("/services/oauth2/token").status_code == 200
    assert client.get("/services/data").status_code == 500
    inj, client = client_for(FaultConfig(p_500=1.0, only_paths=("/bulk",)))
    assert client.get("/rest").status_code == 200
    assert client.get("/bulk/1").status_code == 500


def test_latency_is_spent_through_the_injected_sleep():
    slept = []
    _, client = client_for(FaultConfig(latency=Latency.fixed(80)), sleep=slept.append)
    client.get("/a")
    client.get("/b")
    assert slept == [0.08, 0.08]


def test_no_latency_in_process_without_a_sleep():
    inj, client = client_for(FaultConfig(latency=Latency.fixed(10_000)))
    assert client.get("/a").status_code == 200  # would take 10 s if slept
    assert inj.counts["ok"] == 1
