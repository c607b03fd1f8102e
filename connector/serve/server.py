"""Run the API on uvicorn: in the foreground (`segsync serve`) or beside the daemon's schedule.

The API opens its own connection to the state store (SQLite in WAL mode lets it read and
append while a cycle runs) with synchronous=FULL, so an acknowledged event survives a crash
of the machine as well as of the process. It never takes the daemon's state lock: it writes
only arms and events, and never to a CRM.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

from connector.config import Config, ServeConfig, secret_values
from connector.crm.errors import ConfigurationError
from connector.state import StateStore

log = logging.getLogger("segsync.serve")


class ApiServer:
    """The uvicorn server, its service and the thread that swaps in new snapshots."""

    def __init__(self, config: Config, *, host: str | None = None, port: int | None = None) -> None:
        try:
            import uvicorn

            from connector.serve.access import KeyRing, RateLimiter
            from connector.serve.app import create_app
            from connector.serve.metrics import ServeMetrics
            from connector.serve.service import ServeService
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError("segsync serve needs its extra: pip install 'segsync[serve]'") from None
        cfg = config.serve or ServeConfig()
        self.config = config
        self.store = StateStore(config.resolve(config.state.path), redact=secret_values(config), synchronous="FULL")
        self.service = ServeService(config, self.store)
        self.service.reload()
        app = create_app(self.service, KeyRing(self.store, cfg.reload_seconds), RateLimiter(cfg.rate_limit_per_second, cfg.rate_limit_burst),
                         ServeMetrics(), cfg.max_body_bytes)
        tls = {}
        if cfg.tls_cert_file is not None and cfg.tls_key_file is not None:
            tls = {"ssl_certfile": str(_readable(config.resolve(cfg.tls_cert_file))), "ssl_keyfile": str(_readable(config.resolve(cfg.tls_key_file)))}
        self.server = uvicorn.Server(uvicorn.Config(
            app, host=host or cfg.host, port=cfg.port if port is None else port, access_log=False, log_config=None,
            lifespan="off", server_header=False, **tls,  # type: ignore[arg-type]
        ))
        self.reload_seconds = cfg.reload_seconds
        self.port = self.server.config.port
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="segsync-serve-snapshots", daemon=True)
        self._thread: threading.Thread | None = None

    def _watch(self) -> None:
        while not self._stop.wait(self.reload_seconds):
            try:
                self.service.reload()
            except Exception as exc:  # noqa: BLE001 - keep serving the old snapshot; say why not the new one
                log.error("could not load the new snapshot (still serving the old one): %s", type(exc).__name__)

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (uvicorn handles them in the main thread)."""
        self._watcher.start()
        if self.service.current is None:
            log.warning("no snapshot published yet in %s: /readyz says 503 until a cycle publishes one", self.service.directory)
        try:
            self.server.run()
        finally:
            self.close()
        return 0

    def start_background(self, sock: socket.socket | None = None) -> threading.Thread:
        """Serve from a thread (the daemon's case); `stop` ends it. `sock`: an already bound listening socket."""
        if sock is None:  # bound here, so a port in use fails in the caller and port 0 is known at once
            cfg = self.server.config
            sock = socket.create_server((cfg.host, cfg.port), reuse_port=False)
        self.port = int(sock.getsockname()[1])
        self._watcher.start()
        thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="segsync-serve", daemon=True)
        thread.start()
        self._thread = thread
        return thread

    def stop(self) -> None:
        """End the background server, then commit the journal's pending writes and close it."""
        self.server.should_exit = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.service.close()

    def close(self) -> None:
        self._stop.set()
        self.service.close()
        self.store.close()


def _readable(path: Path) -> Path:
    if not path.is_file():
        raise ConfigurationError(f"serve: TLS file {path} does not exist")
    return path
