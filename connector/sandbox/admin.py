"""The sandbox admin routes: advance simulated days and read the ground truth over HTTP.

    POST /__sandbox/advance?days=N   simulate N days (1 by default, at most 3650)
    GET  /__sandbox/clock            {"now", "day"}
    GET  /__sandbox/truth            truth_summary(): configured and realised effects per segment
    GET  /__sandbox/truth/customers  truth_frame() as a JSON array (?offset=&limit= to page)
    GET  /__sandbox/truth/products   product_truth(): the planted affinities, latent segment x
                                     product (404 when the simulation has no products)

`admin_app(sim)` is a WSGI app on its own; `mount_admin(sim, app)` puts these routes in front
of an emulator's WSGI app (server.py can wrap either CRM with it). They are sandbox-only paths:
segsync's connectors never call them, so the truth cannot leak into what segsync reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from connector.sandbox.truth import product_truth

if TYPE_CHECKING:
    from connector.sandbox.simulation import Simulation

PREFIX = "/__sandbox"
MAX_DAYS = 3650
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def admin_app(sim: Simulation) -> WsgiApp:
    """A WSGI app serving the admin routes of `sim`; 404 elsewhere."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        status, body = _dispatch(sim, environ)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return app


def mount_admin(sim: Simulation, inner: WsgiApp) -> WsgiApp:
    """`inner` with the admin routes of `sim` in front of it (paths under /__sandbox)."""
    admin = admin_app(sim)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return admin(environ, start_response)
        return inner(environ, start_response)

    return app


def _dispatch(sim: Simulation, environ: dict) -> tuple[str, Any]:
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    routes: dict[str, tuple[str, Callable[[], tuple[str, Any]]]] = {
        f"{PREFIX}/advance": ("POST", lambda: _advance(sim, query)),
        f"{PREFIX}/clock": ("GET", lambda: ("200 OK", {"now": sim.clock.now().isoformat(), "day": sim.day})),
        f"{PREFIX}/truth": ("GET", lambda: ("200 OK", sim.truth_summary())),
        f"{PREFIX}/truth/customers": ("GET", lambda: _customers(sim, query)),
        f"{PREFIX}/truth/products": ("GET", lambda: _products(sim)),
    }
    route = routes.get(path.rstrip("/"))
    if route is None:
        return "404 Not Found", {"error": f"no admin route {path}", "routes": sorted(routes)}
    if method != route[0]:
        return "405 Method Not Allowed", {"error": f"{path} takes {route[0]}, not {method}"}
    try:
        return route[1]()
    except ValueError as exc:
        return "400 Bad Request", {"error": str(exc)}


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name, [str(default)])[0]
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer (got {raw!r})") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high} (got {value})")
    return value


def _advance(sim: Simulation, query: dict[str, list[str]]) -> tuple[str, Any]:
    days = _int_param(query, "days", 1, 0, MAX_DAYS)
    return "200 OK", sim.advance_days(days)


def _customers(sim: Simulation, query: dict[str, list[str]]) -> tuple[str, bytes]:
    frame = sim.truth()
    offset = _int_param(query, "offset", 0, 0, max(len(frame), 0))
    limit = _int_param(query, "limit", len(frame) or 1, 1, max(len(frame), 1))
    page = frame.iloc[offset:offset + limit]
    return "200 OK", page.to_json(orient="records", date_format="iso").encode()


def _products(sim: Simulation) -> tuple[str, Any]:
    table = product_truth(sim)
    if table is None:
        return "404 Not Found", {"error": "this simulation has no products (start it with products=N)"}
    return "200 OK", table.to_json(orient="records").encode()
