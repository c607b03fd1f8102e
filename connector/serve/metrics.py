"""Prometheus metrics of the API: latency per route, requests by status, snapshot version and age."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from connector.crm.errors import ConfigurationError

if TYPE_CHECKING:
    from connector.serve.service import ServeService

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServeMetrics:
    def __init__(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigurationError("segsync serve needs prometheus-client (pip install 'segsync[serve]')") from None
        self.registry = CollectorRegistry()
        self.latency = Histogram("segsync_serve_request_duration_seconds", "Server-side latency per route",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.requests = Counter("segsync_serve_requests_total", "Requests by route and status code",
                                ["method", "route", "code"], registry=self.registry)
        self.version = Gauge("segsync_serve_snapshot_version", "Run id of the snapshot being served", registry=self.registry)
        self.age = Gauge("segsync_serve_snapshot_age_seconds", "Seconds since the served snapshot was published", registry=self.registry)
        self.customers = Gauge("segsync_serve_snapshot_customers", "Customers in the served snapshot", registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.commits = Gauge("segsync_serve_journal_commits", "Transactions the journal committed (group commits)", registry=self.registry)
        self.writes = Gauge("segsync_serve_journal_writes", "Writes (event batches, arms) those commits carried", registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:  # labels() costs more than the observation itself: resolve each series once
            children = self._children[(method, route, status)] = (self.latency.labels(method, route), self.requests.labels(method, route, str(status)))
        children[0].observe(seconds)
        children[1].inc()

    def render(self, service: ServeService) -> bytes:
        from prometheus_client import generate_latest

        current = service.current
        if current is not None:
            snap = current.snapshot
            self.version.set(snap.version)
            self.age.set(max(0.0, time.time() - snap.published_at.timestamp()))
            self.customers.set(len(snap))
        commits, writes = service.journal_counts()
        self.commits.set(commits)
        self.writes.set(writes)
        return generate_latest(self.registry)
