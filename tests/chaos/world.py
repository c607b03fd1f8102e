"""A small world for the chaos suite: both sandbox CRMs, a simulated population, a config.

`SandboxWorld` owns one SandboxClock shared by the Salesforce and HubSpot sandboxes and the
population simulator. Connectors reach the sandboxes in-process (`factory`, for
`run_cycle(connector_factory=...)`) through the fault-aware WSGI transport, with a transport
clock whose sleeps move sandbox time: backoff, pacing and latency spikes cost nothing real,
and tokens expire as sandbox minutes pass. `serve()` puts both on loopback sockets instead,
for a `segsync run` in another process.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.config import Config
from connector.crm.hubspot import HubSpotConnector
from connector.crm.salesforce import SalesforceConnector
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.faults import DroppedConnection, FaultConfig, Latency, WSGIFaultTransport
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.sandbox.server import SandboxServer
from connector.sandbox.simulation import Simulation

START = datetime(2026, 3, 1, tzinfo=UTC)

SF_FIELDS = {
    "segment_id": "Segsync_Segment_Id__c",
    "segment_name": "Segsync_Segment__c",
    "arm": "Segsync_Arm__c",
    "clv": "Segsync_Clv__c",
}
HS_PROPERTIES = {
    "segment_id": "segsync_segment_id",
    "segment_name": "segsync_segment",
    "arm": "segsync_arm",
    "clv": "segsync_clv",
}
EXPERIMENT = {
    "key": "winback",
    "arms": [{"name": "control", "weight": 0.5, "control": True}, {"name": "offer", "weight": 0.5}],
}


def issue_faults(seed: int) -> FaultConfig:
    """The issue's fault mix: 10 % 429, 3 % 5xx, 1 % dropped, latency with a long tail, and
    0.5 % read timeouts on top."""
    return FaultConfig(
        seed=seed, p_429=0.10, p_500=0.01, p_502=0.005, p_503=0.01, p_504=0.005, p_drop=0.01,
        p_timeout=0.005, latency=Latency.lognormal(120, sigma=1.0),
    )


class LostReplies:
    """WSGI middleware: the CRM applies the request, then the connection drops before the reply.

    The sandbox's own drop fault refuses a request before it reaches the CRM; this one is the
    harder case for idempotency (a create or a list add that happened, unacknowledged).
    """

    def __init__(self, app: Callable, p: float, seed: int) -> None:
        self.app, self.p = app, p
        self.rng = random.Random(f"lost-replies:{seed}")
        self.lock = threading.Lock()
        self.lost = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        body = b"".join(self.app(environ, start_response))
        with self.lock:
            lose = self.rng.random() < self.p
            self.lost += lose
        if lose:
            raise DroppedConnection(environ.get("PATH_INFO", ""))
        return [body]


class PassingTime:
    """WSGI middleware: each request takes `seconds` of sandbox time, and every `expire_every`
    sandbox seconds the CRM's sessions are revoked (`expire`), as a real org's timeout does."""

    def __init__(self, app: Callable, clock: SandboxClock, seconds: float, expire_every: float | None,
                 expire: Callable[[], None] | None) -> None:
        self.app, self.clock, self.seconds = app, clock, seconds
        self.expire_every, self.expire = expire_every, expire
        self.next_expiry = clock.monotonic() + (expire_every or 0)
        self.expiries = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        with self.lock:
            if self.seconds:
                self.clock.advance(seconds=self.seconds)
            if self.expire_every and self.expire and self.clock.monotonic() >= self.next_expiry:
                self.expire()
                self.expiries += 1
                self.next_expiry = self.clock.monotonic() + self.expire_every
        return self.app(environ, start_response)


class SandboxWorld:
    """Both sandbox CRMs with `n_customers` simulated customers (30 % in both, by email).

    faults: None, or a FaultConfig applied to both CRMs (each with its own seed offset).
    lost_replies: share of requests whose reply is lost after the CRM applied them.
    session_seconds: Salesforce session and HubSpot OAuth token lifetime, in sandbox seconds;
    Salesforce sessions are also revoked every `session_seconds` (its timeout counts from the
    last call, so a busy client would otherwise never see one expire).
    request_seconds: sandbox time each request takes (so minutes pass during a cycle).
    """

    def __init__(
        self,
        n_customers: int = 200,
        seed: int = 0,
        *,
        faults: FaultConfig | None = None,
        lost_replies: float = 0.0,
        session_seconds: int = 7200,
        hubspot_oauth: bool = False,
        request_seconds: float = 0.0,
        sf_daily_limit: int = 100_000,
        hs_daily_limit: int = 250_000,
        frozen: bool = True,
    ) -> None:
        self.seed = seed
        self.clock = SandboxClock(START, frozen=frozen)
        sleep = TransportClock(self.clock).sleep
        hs_faults = None if faults is None else FaultConfig(**{**vars(faults), "seed": faults.seed + 1})
        self.sf = SalesforceSandbox(clock=self.clock, faults=faults, session_seconds=session_seconds,
                                    daily_api_limit=sf_daily_limit, fault_sleep=sleep, seed=seed)
        self.hs = HubSpotSandbox(self.clock, hs_faults, seed=seed, tier_requests_per_10s=190,
                                 token_seconds=session_seconds, daily_limit=hs_daily_limit)
        if self.hs.faults is not None:
            self.hs.faults.sleep = sleep
        self.sim = Simulation.synthetic(n_customers, salesforce=self.sf, hubspot=self.hs, random_state=seed)
        self.hubspot_oauth = hubspot_oauth
        self.sf_app = LostReplies(self.sf.app, lost_replies, seed) if lost_replies else self.sf.app
        self.hs_app = LostReplies(self.hs.app, lost_replies, seed + 1) if lost_replies else self.hs.app
        if request_seconds or session_seconds < 7200:
            self.sf_app = PassingTime(self.sf_app, self.clock, request_seconds, session_seconds, self.sf.expire_sessions)
            self.hs_app = PassingTime(self.hs_app, self.clock, request_seconds, None, None)
        self.settle()

    def settle(self) -> None:
        """Let sandbox time pass beyond HubSpot's search overlap window (eventual consistency)."""
        self.clock.advance(seconds=2 * 3600)

    # ------------------------------------------------------------------ config

    def config_data(self, sf_url: str | None = None, hs_url: str | None = None, **sections: Any) -> dict[str, Any]:
        """The YAML config as data; `sections` replace top-level sections (shallow)."""
        c = self.sf.credentials
        hs_creds = self.hs.credentials
        hs_auth: dict[str, Any] = (
            {"method": "oauth", "client_id": hs_creds["client_id"], "client_secret": hs_creds["client_secret"],
             "refresh_token": hs_creds["refresh_token"]}
            if self.hubspot_oauth else {"method": "token", "token": hs_creds["token"]}
        )
        http = {"max_attempts": 10, "max_wait_seconds": 900, "concurrency": 2}
        data: dict[str, Any] = {
            "version": 1,
            "sources": {
                "salesforce": {
                    "instance_url": sf_url or c["instance_url"], "login_url": sf_url or c["login_url"],
                    "auth": {"method": "client_credentials", "client_id": c["client_id"],
                             "client_secret": c["client_secret"]},
                    "http": http,
                },
                "hubspot": {"base_url": hs_url or "https://hubspot.test", "auth": hs_auth,
                            "tier_requests_per_10s": 190, "http": http},
            },
            "segmentation": {"k": 4, "sample_size": 1000},
            "scoring": {"targets": []},
            "destinations": {
                "salesforce": {"fields": dict(SF_FIELDS), "create_missing_fields": True},
                "hubspot": {"properties": dict(HS_PROPERTIES)},
            },
            "experiments": {"holdout": {"share": 0.1}, "items": [EXPERIMENT]},
        }
        data.update(sections)
        return data

    def config(self, **sections: Any) -> Config:
        return Config.model_validate(self.config_data(**sections))

    def write_config(self, folder: Path, sf_url: str, hs_url: str, **sections: Any) -> Path:
        """A config file for a CLI run against `serve()`d sandboxes; state in `folder`."""
        data = self.config_data(sf_url, hs_url, **sections)
        data.setdefault("state", {"path": "state.sqlite"})
        path = folder / "segsync.yaml"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")  # JSON is YAML
        return path

    # ------------------------------------------------------------------ connectors

    def factory(self, config: Config) -> dict[str, Any]:
        """In-process connectors for `run_cycle(connector_factory=...)`."""
        clock = TransportClock(self.clock)
        return {
            "salesforce": SalesforceConnector(
                config.sources.salesforce, config.destinations.salesforce, clock=clock,
                transport=WSGIFaultTransport(app=self.sf_app), rng=random.Random(self.seed), now=self.clock.now),
            "hubspot": HubSpotConnector(
                config.sources.hubspot, config.destinations.hubspot, clock=clock,
                transport=WSGIFaultTransport(app=self.hs_app), now=self.clock.now),
        }

    def serve(self, wrap: Callable[[Callable], Callable] | None = None) -> tuple[SandboxServer, SandboxServer]:
        """Both sandboxes on 127.0.0.1 (plain HTTP); `wrap` puts middleware in front of each."""
        wrap = wrap or (lambda app: app)
        sf_server = SandboxServer(wrap(self.sf_app)).start()
        hs_server = SandboxServer(wrap(self.hs_app)).start()
        self.sf.instance_url = sf_server.url
        return sf_server, hs_server

    # ------------------------------------------------------------------ secrets

    def secrets(self) -> list[str]:
        """Every credential a leak check must never find (configured and issued)."""
        c, h = self.sf.credentials, self.hs.credentials
        found = [c["client_secret"], c["password"], c["security_token"], h["client_secret"], h["refresh_token"],
                 h["token"], _pem_body(c["private_key"])]
        found += _issued_tokens(self.sf.auth) + _issued_tokens(self.hs.auth)
        return [s for s in found if s]


def _pem_body(pem: str) -> str:
    """A distinctive line from inside a PEM block (the armour lines are not secret)."""
    lines = [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    return lines[len(lines) // 2] if lines else ""


def _issued_tokens(auth: Any) -> list[str]:
    """Access tokens a sandbox handed out (sessions/tokens dicts keyed by the token)."""
    out: list[str] = []
    # private tables: the sandboxes keep issued tokens only for their own checks
    for name in ("_sessions", "_expiry"):
        table = getattr(auth, name, None)
        if isinstance(table, dict):
            out += [str(k) for k in table if len(str(k)) >= 16]
    return out
