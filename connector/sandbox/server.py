"""Serve sandbox WSGI apps on loopback: threaded stdlib server, optional self-signed TLS.

simple-salesforce builds every URL as https://{instance}/..., so a socket-served Salesforce
sandbox needs TLS; `SandboxServer(app, tls=True)` makes a self-signed certificate for
127.0.0.1/localhost (with `cryptography`) and exposes its path as `cert_path` for a
client's `verify=`. Injected faults (faults.py) become socket behaviour here: a dropped
connection closes the socket without a reply, a stalled response withholds it.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
import socketserver
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from connector.sandbox.faults import SLEEP_ENVIRON_KEY, DroppedConnection, StalledResponse

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def make_self_signed_cert(directory: Path, host: str = LOOPBACK) -> tuple[Path, Path]:
    """Write cert.pem and key.pem for `host` (plus localhost) into `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "segsync sandbox")])
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class _FaultAwareHandler(ServerHandler):
    """Turns the app's injected-fault signals into socket behaviour."""

    stop_event: threading.Event
    environ: dict

    def run(self, application: Any) -> None:
        # wsgiref's run() would turn the fault signals into a 500; handle them first.
        try:
            self.setup_environ()
            self.result = application(self.environ, self.start_response)
            self.finish_response()
        except DroppedConnection:
            return  # nothing written; the socket closes when the request handler finishes
        except StalledResponse as fault:
            self.stop_event.wait(fault.seconds)
        except (ConnectionAbortedError, BrokenPipeError, ConnectionResetError):
            return
        except Exception:
            try:
                self.handle_error()
            except Exception:
                self.close()
                raise


class _RequestHandler(WSGIRequestHandler):
    def handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if len(self.raw_requestline) > 65536 or not self.parse_request():
            return
        environ = self.get_environ()
        server: _ThreadingWSGIServer = self.server  # type: ignore[assignment]
        environ[SLEEP_ENVIRON_KEY] = server.stop_event.wait
        if server.tls:
            environ["HTTPS"] = "on"
            environ["wsgi.url_scheme"] = "https"
        handler = _FaultAwareHandler(
            self.rfile, self.wfile, self.get_stderr(), environ, multithread=True  # type: ignore[arg-type]
        )
        handler.stop_event = server.stop_event
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(server.get_app())

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    ssl_context: ssl.SSLContext | None = None
    stop_event: threading.Event

    @property
    def tls(self) -> bool:
        return self.ssl_context is not None

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the worker thread, so one slow client cannot
        # block accept().
        if self.ssl_context is not None:
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake failed from %s: %s", client_address, exc)
                return
        super().finish_request(request, client_address)


class SandboxServer:
    """One WSGI app on a loopback port, served from a background thread.

    `port=0` picks a free port. Use as a context manager or call start()/stop().
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        tls: bool = False,
        cert_dir: Path | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.cert_path: Path | None = None
        self._httpd = _ThreadingWSGIServer((host, port), _RequestHandler)
        self._httpd.set_app(app)
        self._httpd.stop_event = threading.Event()
        if tls:
            if cert_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="segsync-sandbox-tls-")
                cert_dir = Path(self._tmp.name)
            self.cert_path, key_path = make_self_signed_cert(cert_dir, host)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_path, key_path)
            self._httpd.ssl_context = ctx
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve from a background thread; a server already started is returned as it is (a second
        serve_forever loop on the same socket would outlive stop() and spin on the closed socket)."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._thread = threading.Thread(
            target=functools.partial(self._httpd.serve_forever, poll_interval=0.05),
            name=f"sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.stop_event.set()  # wakes stalled responses and latency sleeps
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def serve_forever(self) -> None:
        """Serve in the calling thread until KeyboardInterrupt."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.stop_event.set()
            self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def describe(name: str, server: SandboxServer, credentials: dict[str, Any]) -> str:
    """A banner with the URL and the dummy credentials (never real ones: these are sandbox's)."""
    lines = [f"{name}: {server.url}"]
    if server.cert_path is not None:
        lines.append(f"  TLS certificate (pass as verify=): {server.cert_path}")
    for key, value in credentials.items():
        text = str(value)
        if "\n" in text:  # PEM blocks: say where they are rather than flood the terminal
            text = text.splitlines()[0] + " ..."
        lines.append(f"  {key}: {text}")
    return "\n".join(lines)
