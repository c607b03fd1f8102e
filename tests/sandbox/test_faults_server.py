"""Faults and TLS on a real loopback socket (server.py)."""

from __future__ import annotations

import ssl

import httpx
import pytest

from connector.sandbox.faults import FaultConfig, FaultInjector, Latency, plain_error
from connector.sandbox.server import SandboxServer, describe


def echo_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["wsgi.url_scheme"].encode()]


def test_tls_server_with_self_signed_cert():
    with SandboxServer(echo_app, tls=True) as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        r = httpx.get(srv.url + "/x", verify=ssl.create_default_context(cafile=str(srv.cert_path)))
        assert r.status_code == 200 and r.text == "https"
        with pytest.raises(httpx.ConnectError):  # verification stays on
            httpx.get(srv.url + "/x")


def test_socket_faults():
    inj = FaultInjector(FaultConfig(seed=3, p_drop=0.5, p_503=0.5, stall_seconds=5))
    app = inj.wrap(echo_app, plain_error)
    with SandboxServer(app) as srv, httpx.Client(base_url=srv.url) as client:
        outcomes = []
        for _ in range(12):
            try:
                outcomes.append(client.get("/a").status_code)
            except httpx.RemoteProtocolError:
                outcomes.append("drop")
    expected = [
        "drop" if d.kind == "drop" else d.status for d in map(inj.decision_for, range(12))
    ]
    assert outcomes == expected
    assert {"drop", 503} <= set(outcomes)


def test_socket_stall_is_a_client_read_timeout():
    inj = FaultInjector(FaultConfig(p_timeout=1.0, stall_seconds=5))
    with SandboxServer(inj.wrap(echo_app, plain_error)) as srv:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(srv.url + "/slow", timeout=httpx.Timeout(5, read=0.2))


def test_latency_is_slept_on_a_socket():
    slept = []
    inj = FaultInjector(FaultConfig(latency=Latency.fixed(1)))
    inj_fake = FaultInjector(FaultConfig(latency=Latency.fixed(1)), sleep=slept.append)
    with SandboxServer(inj.wrap(echo_app, plain_error)) as srv:
        assert httpx.get(srv.url + "/").status_code == 200
    with SandboxServer(inj_fake.wrap(echo_app, plain_error)) as srv:
        httpx.get(srv.url + "/")
    assert slept == [0.001]


def test_describe_lists_url_and_credentials():
    with SandboxServer(echo_app) as srv:
        text = describe("salesforce", srv, {"client_id": "abc", "private_key": "-----BEGIN X\nAAA\n"})
    assert srv.url in text and "client_id: abc" in text and "AAA" not in text


def test_a_server_started_twice_serves_once_and_stops():
    """`world.serve()` starts the servers and a fixture enters them again (`with server:`): one
    serve_forever loop, which stop() ends. A second loop outlived stop() and spun on the closed
    socket for the rest of the test session, starving every test after it of CPU."""
    import threading

    srv = SandboxServer(echo_app).start()
    with srv:
        assert httpx.get(srv.url + "/ping").status_code == 200
        loops = [t for t in threading.enumerate() if t.name == f"sandbox-{srv.port}"]
        assert len(loops) == 1
    assert not any(t.name == f"sandbox-{srv.port}" and t.is_alive() for t in threading.enumerate())
