"""Conformance fixtures: official SDKs against the sandbox.

simple-salesforce builds every URL as https://{instance}/..., so its requests.Session gets
`WSGIAdapter` mounted on "https://": requests go straight into the sandbox's WSGI app, in
process, whatever the host (login.salesforce.com for the token, the instance afterwards).
One test also runs over real TLS on loopback (server.py) to prove the socket path.
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import DroppedConnection, StalledResponse

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class WSGIAdapter(BaseAdapter):
    """A requests transport adapter that calls a WSGI app instead of opening a socket."""

    def __init__(self, app) -> None:
        super().__init__()
        self.app = app

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        url = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        environ = {
            "REQUEST_METHOD": request.method, "PATH_INFO": unquote(url.path),
            "QUERY_STRING": url.query, "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or 443), "SERVER_PROTOCOL": "HTTP/1.1",
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.url_scheme": url.scheme, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
        }
        for key, value in request.headers.items():
            name = key.upper().replace("-", "_")
            if name == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif name != "CONTENT_LENGTH":
                environ[f"HTTP_{name}"] = value
        environ.setdefault("HTTP_HOST", url.netloc)
        captured: dict = {}

        def start_response(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)

        try:
            chunks = self.app(environ, start_response)
        except DroppedConnection as exc:
            raise requests.exceptions.ConnectionError("Connection aborted.", request=request) from exc
        except StalledResponse as exc:
            raise requests.exceptions.ReadTimeout("Read timed out.", request=request) from exc
        resp = requests.Response()
        resp.status_code = int(captured["status"].split(" ", 1)[0])
        resp.reason = captured["status"].split(" ", 1)[1]
        resp.headers = CaseInsensitiveDict(captured["headers"])
        resp._content = b"".join(chunks)
        resp.url = request.url
        resp.request = request
        resp.encoding = requests.utils.get_encoding_from_headers(resp.headers)
        return resp

    def close(self) -> None:
        pass


def mounted_session(app) -> requests.Session:
    session = requests.Session()
    session.mount("https://", WSGIAdapter(app))
    return session


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(START)


@pytest.fixture
def hubspot_sdk():
    """A HubSpot sandbox served on loopback and hubspot-api-client pointed at it: (sandbox, client)."""
    from hubspot import HubSpot

    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.server import SandboxServer

    hs = HubSpotSandbox(SandboxClock(START), seed=11, rate_limits=False)
    with SandboxServer(hs.app) as server:
        yield hs, HubSpot(access_token=hs.credentials["token"], host=server.url)
