"""`segsync sandbox serve`: both emulators on loopback, with a population and the admin routes.

Salesforce is served over TLS with a self-signed certificate (simple-salesforce always builds
https:// URLs); HubSpot over plain HTTP. The admin routes (advance simulated days, read the
ground truth) are mounted on the HubSpot port under /__sandbox/. Credentials printed here are
the sandbox's dummy ones. The JWT bearer flow's private key and certificate are files in
--jwt-dir (created once, then reused), so any process can sign assertions the sandbox accepts;
the banner prints their paths, not the key.
"""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from connector.sandbox.clock import SandboxClock
from connector.sandbox.server import SandboxServer, describe


def serve_forever(args: argparse.Namespace) -> int:
    from connector.sandbox.admin import mount_admin
    from connector.sandbox.hubspot import HubSpotSandbox
    from connector.sandbox.salesforce import SalesforceSandbox
    from connector.sandbox.salesforce.jwt_files import ensure_jwt_files
    from connector.sandbox.salesforce.sandbox import default_credentials
    from connector.sandbox.simulation import Simulation

    clock = SandboxClock(datetime(1998, 7, 1, tzinfo=UTC), frozen=False)
    jwt = ensure_jwt_files(Path(args.jwt_dir))
    sf = SalesforceSandbox(clock=clock, seed=args.seed, credentials=jwt.credentials(default_credentials()))
    hs = HubSpotSandbox(clock, seed=args.seed)
    sf_server = SandboxServer(sf.app, host=args.host, port=args.salesforce_port, tls=True)
    sf.instance_url = sf_server.url
    hs_app = hs.app
    if args.population == "cdnow":
        print("loading CDNOW (23,570 customers, 69,659 purchases) ...", flush=True)
        sim = Simulation.cdnow("default", salesforce=sf, hubspot=hs, clock=clock, random_state=args.seed,
                               products=getattr(args, "products", 0))
        hs_app = mount_admin(sim, hs.app)
    hs_server = SandboxServer(hs_app, host=args.host, port=args.hubspot_port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with sf_server, hs_server:
        # the token endpoint is this server too, not login.salesforce.com
        shown = {k: v for k, v in sf.credentials.items() if k not in ("private_key", "public_key")}
        print(describe("Salesforce sandbox", sf_server, {
            **shown, "login_url": sf_server.url, "jwt_private_key_file": str(jwt.private_key.resolve()),
            "jwt_certificate_file": str(jwt.certificate.resolve())}), flush=True)
        print(describe("HubSpot sandbox", hs_server, hs.credentials), flush=True)
        if args.population == "cdnow":
            print(f"admin: POST {hs_server.url}/__sandbox/advance?days=N, GET {hs_server.url}/__sandbox/truth", flush=True)
        print("serving until Ctrl-C", flush=True)
        stop.wait()
    print("sandbox stopped", flush=True)
    return 0
