"""Prometheus metrics and /healthz, served on 127.0.0.1 unless configured otherwise.

prometheus-client is optional (`pip install segsync[metrics]`); with metrics disabled every
call here is a no-op, so the pipeline calls them unconditionally.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connector.config import MetricsConfig
from connector.crm.errors import ConfigurationError


class Metrics:
    """Counters and gauges of one daemon. `Metrics.disabled()` records nothing."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.last_success: float | None = None
        self.healthy = True
        self._server: ThreadingHTTPServer | None = None
        if not enabled:
            return
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "metrics.enabled is true but prometheus-client is not installed (pip install 'segsync[metrics]')"
            ) from None
        self.registry = CollectorRegistry()
        self.runs = Counter("segsync_runs_total", "Cycles by final status", ["status"], registry=self.registry)
        self.duration = Histogram(
            "segsync_run_duration_seconds", "Cycle duration", registry=self.registry,
            buckets=(1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
        )
        self.requests = Counter("segsync_crm_requests_total", "CRM HTTP requests by status code", ["crm", "code"], registry=self.registry)
        self.records = Counter("segsync_records_written_total", "Records written by result", ["destination", "result"], registry=self.registry)
        self.last_success_gauge = Gauge("segsync_last_success_timestamp_seconds", "End of the last successful cycle", registry=self.registry)

    @classmethod
    def disabled(cls) -> Metrics:
        return cls(enabled=False)

    def run_finished(self, status: str, seconds: float) -> None:
        if status == "succeeded":
            self.last_success = time.time()
        if not self.enabled:
            return
        self.runs.labels(status).inc()
        self.duration.observe(seconds)
        if status == "succeeded":
            self.last_success_gauge.set(self.last_success or time.time())

    def crm_request(self, crm: str, code: int | str) -> None:
        if self.enabled:
            self.requests.labels(crm, str(code)).inc()

    def records_written(self, destination: str, result: str, n: int) -> None:
        if self.enabled and n:
            self.records.labels(destination, result).inc(n)

    # ------------------------------------------------------------------ http endpoint
    def serve(self, cfg: MetricsConfig) -> int:
        """Start /metrics and /healthz in a daemon thread; returns the bound port."""
        if not self.enabled:
            return 0
        from prometheus_client import generate_latest

        metrics = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path == "/metrics":
                    body, ctype, code = generate_latest(metrics.registry), "text/plain; version=0.0.4", 200
                elif self.path == "/healthz":
                    status: dict[str, Any] = {"status": "ok" if metrics.healthy else "failing", "last_success": metrics.last_success}
                    body, ctype, code = json.dumps(status).encode(), "application/json", 200 if metrics.healthy else 503
                else:
                    body, ctype, code = b"not found\n", "text/plain", 404
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # quiet: the daemon logs what matters
                return

        self._server = ThreadingHTTPServer((cfg.host, cfg.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="segsync-metrics", daemon=True).start()
        return int(self._server.server_address[1])

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
