"""The end-to-end world: both sandbox CRMs in-process, a small simulated population, a config.

`E2EWorld` puts a synthetic population into the Salesforce and HubSpot sandboxes (30 % of
the customers in both, by email), mounts both WSGI apps behind a `RequestLog` (every request
as the CRM received it, so write calls are counted by method and path, independently of
segsync's own counters) and builds the connectors `run_cycle(connector_factory=...)` uses.
Connector sleeps (backoff, pacing) move the sandbox clock instead of real time, so HubSpot's
search limit of 4 per second costs nothing real.

The CRM state is read from the sandbox stores (ground truth), never through segsync.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from connector.config import Config
from connector.crm.hubspot import HubSpotConnector
from connector.crm.salesforce import SalesforceConnector
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.server import SandboxServer
from connector.sandbox.simulation import Simulation

START = datetime(2026, 3, 1, tzinfo=UTC)
EXPERIMENT_KEY = "winback"

SF_FIELDS = {
    "segment_id": "Segsync_Segment_Id__c",
    "segment_name": "Segsync_Segment__c",
    "arm": "Segsync_Arm__c",
    "buy_90d": "Segsync_Buy_90d__c",
}
HS_PROPERTIES = {
    "segment_id": "segsync_segment_id",
    "segment_name": "segsync_segment",
    "arm": "segsync_arm",
    "buy_90d": "segsync_buy_90d",
}

# HubSpot route kinds (connector/sandbox/hubspot) that change the portal.
HS_WRITE_KINDS = frozenset({
    "objects.create", "objects.update", "objects.archive",
    "objects.batch.create", "objects.batch.update", "objects.batch.upsert", "objects.batch.archive",
    "lists.create", "lists.delete", "lists.memberships.add", "lists.memberships.remove",
    "lists.memberships.add-and-remove", "lists.memberships.clear",
    "properties.create", "properties.update", "properties.archive", "properties.groups.create",
    "associations.batch.create", "associations.create",
})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RequestLog:
    """WSGI middleware: records every request (method, path, body) before the CRM sees it."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with self._lock:
            self.requests.append(Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), body))
        return self.app(environ, start_response)

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[Request]:
        with self._lock:
            return self.requests[mark:]


def salesforce_write_kind(req: Request) -> str | None:
    """A label for a Salesforce request that changes the org, None for reads and logins."""
    if req.method == "GET" or req.path.startswith("/services/oauth2"):
        return None
    tail = req.path.split("/services/data/", 1)[-1].split("/", 1)[-1]  # drop the version
    if tail.startswith("jobs/query") or tail.startswith("query"):
        return None  # Bulk query jobs and query POSTs read
    if tail.startswith("composite/sobjects/") and req.method == "POST" and "ids" in (req.json() or {}):
        return None  # a Collections retrieve by ids
    head = "/".join(tail.split("/")[:2])
    return f"{req.method} {head}"


@dataclass(frozen=True)
class Writes:
    """Write calls to both CRMs in one window: Counter of labels per CRM (every attempt,
    refused ones included); hubspot_applied counts only the HubSpot writes answered 2xx."""

    salesforce: Counter
    hubspot: Counter
    hubspot_applied: Counter

    @property
    def total(self) -> int:
        return sum(self.salesforce.values()) + sum(self.hubspot.values())


class E2EWorld:
    """Both sandbox CRMs holding `n_customers` simulated customers, and a matching config.
    With `products`, every purchase also holds products of a catalog that large (line items)."""

    def __init__(self, tmp: Path, n_customers: int = 2000, seed: int = 0, *, hubspot_rate_limits: bool = True,
                 scenario: str | Path = "default", products: int = 0) -> None:
        self.tmp = tmp
        self.seed = seed
        self.clock = SandboxClock(START, frozen=True)
        self.sf = SalesforceSandbox(clock=self.clock, seed=seed)
        self.hs = HubSpotSandbox(self.clock, seed=seed, tier_requests_per_10s=190, rate_limits=hubspot_rate_limits)
        self.hs_url: str | None = None
        self.sim = Simulation.synthetic(n_customers, str(scenario), salesforce=self.sf, hubspot=self.hs, clock=self.clock,
                                        random_state=seed, products=products)
        self.sf_log = RequestLog(self.sf.app)
        self.hs_log = RequestLog(self.hs.app)
        #: (name, connector) -> connector: lets a test wrap a connector (faults, kills).
        self.wrap: Callable[[str, Any], Any] = lambda name, conn: conn
        self.settle()

    def settle(self) -> None:
        """Let sandbox time pass beyond HubSpot's search overlap window (eventual consistency)."""
        self.clock.advance(seconds=2 * 3600)

    # ------------------------------------------------------------------ config

    def config_data(self, state_path: str | None = None, *, env_secrets: bool = False) -> dict[str, Any]:
        c, h = self.sf.credentials, self.hs.credentials  # instance_url follows serve()
        secret, token = ("${E2E_SF_SECRET}", "${E2E_HS_TOKEN}") if env_secrets else (c["client_secret"], h["token"])
        return {
            "version": 1,
            "state": {"path": state_path or str(self.tmp / "state.sqlite")},
            "sources": {
                "salesforce": {
                    "instance_url": c["instance_url"],
                    # served: the sandbox logs in on its own port too
                    "login_url": c["instance_url"] if self.hs_url else c["login_url"],
                    "auth": {"method": "client_credentials", "client_id": c["client_id"], "client_secret": secret},
                },
                "hubspot": {"auth": {"method": "token", "token": token}, "tier_requests_per_10s": 190,
                            **({"base_url": self.hs_url} if self.hs_url else {})},
            },
            "segmentation": {"method": "kmeans", "k": 4, "sample_size": 1000},
            "scoring": {
                "targets": [{"name": "buy_90d", "kind": "propensity", "horizon_days": 90}],
                "models": ["logistic"], "clv": {"enabled": False},
            },
            "destinations": {
                "salesforce": {"fields": dict(SF_FIELDS), "create_missing_fields": True},
                "hubspot": {"properties": dict(HS_PROPERTIES)},
            },
            "experiments": {
                "holdout": {"share": 0.1},
                "items": [{
                    "key": EXPERIMENT_KEY,
                    "arms": [{"name": "control", "weight": 0.5, "control": True}, {"name": "offer", "weight": 0.5}],
                }],
            },
        }

    def config(self) -> Config:
        return Config.model_validate(self.config_data())

    def write_config(self, monkeypatch: pytest.MonkeyPatch) -> Path:
        """The config as a file for the CLI (secrets from the environment, as in production)."""
        monkeypatch.setenv("E2E_SF_SECRET", self.sf.credentials["client_secret"])
        monkeypatch.setenv("E2E_HS_TOKEN", self.hs.credentials["token"])
        path = self.tmp / "segsync.yaml"
        path.write_text(json.dumps(self.config_data(env_secrets=True), indent=2), encoding="utf-8")  # JSON is YAML
        return path

    # ------------------------------------------------------------------ connectors

    def factory(self, config: Config) -> dict[str, Any]:
        clock = TransportClock(self.clock)
        sf = SalesforceConnector(config.sources.salesforce, config.destinations.salesforce, clock=clock,
                                 transport=httpx.WSGITransport(app=self.sf_log), now=self.clock.now)
        hs = HubSpotConnector(config.sources.hubspot, config.destinations.hubspot, clock=clock,
                              transport=httpx.WSGITransport(app=self.hs_log), now=self.clock.now)
        return {"salesforce": self.wrap("salesforce", sf), "hubspot": self.wrap("hubspot", hs)}

    def serve(self) -> tuple[SandboxServer, SandboxServer]:
        """Both sandboxes on 127.0.0.1 (behind the request logs), for a CLI run in this process.

        The CLI's transport sleeps in real time, and a frozen sandbox clock never refills a
        rate-limit window: build the world with hubspot_rate_limits=False to serve it.
        """
        sf_server, hs_server = SandboxServer(self.sf_log).start(), SandboxServer(self.hs_log).start()
        self.sf.instance_url = sf_server.url
        self.hs_url = hs_server.url
        return sf_server, hs_server

    # ------------------------------------------------------------------ counting

    def mark(self) -> tuple[int, int, Counter]:
        return self.sf_log.mark(), self.hs_log.mark(), Counter(self.hs.request_count)

    def writes_since(self, mark: tuple[int, int, Counter]) -> Writes:
        sf_mark, hs_mark, hs_counts = mark
        sf = Counter(k for k in map(salesforce_write_kind, self.sf_log.since(sf_mark)) if k)
        by_kind = Counter(self.hs.request_count)
        by_kind.subtract(hs_counts)
        hs: Counter = Counter()
        applied: Counter = Counter()
        for (kind, status), n in by_kind.items():
            if kind in HS_WRITE_KINDS and n:
                hs[kind] += n
                if 200 <= status < 300:
                    applied[kind] += n
        # cross-check the portal's own counters against the requests seen on the wire
        wire = [r for r in self.hs_log.since(hs_mark) if r.method != "GET" and "/search" not in r.path
                and not r.path.endswith("/batch/read") and not r.path.startswith("/oauth")]
        assert len(wire) == sum(hs.values()), f"HubSpot writes on the wire {len(wire)} != portal counters {hs}"
        return Writes(sf, hs, applied)

    def salesforce_requests(self, mark: tuple[int, int, Counter], method: str, path_part: str) -> list[Request]:
        return [r for r in self.sf_log.since(mark[0]) if r.method == method and path_part in r.path]


