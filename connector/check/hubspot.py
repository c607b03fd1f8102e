"""Preflight of a HubSpot account: reachability, login, the token's scopes against what the
config needs, the properties it reads and writes, and the daily allowance. Reads only.

Scopes come from HubSpot's token-info endpoints (reference: developers.hubspot.com, "Private
apps" and "OAuth tokens"): `POST /oauth/v2/private-apps/get/access-token-info` for a
private-app token, `GET /oauth/v1/refresh-tokens/{token}` for an OAuth app. A token type
without one (a service key) is probed with one harmless read per read scope; write scopes
cannot be probed without writing and are reported as unverified. A call outside the granted
scopes answers 403 `MISSING_SCOPES` naming `requiredGranularScopes`; a run would stop there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx

from connector.check.result import Check, Findings, answered, check_tls
from connector.config import HubSpotDestination, HubSpotSource
from connector.crm.errors import AuthenticationError, CRMError
from connector.crm.hubspot.api import HubSpotApi

SETUP_DOC = "docs/setup-hubspot.md"
_APP_SCOPES = ("in HubSpot: Development > your app (or Settings > Integrations > Private Apps) > "
               "Scopes, tick {scope}, save, then install the new version / copy the rotated token; "
               "see " + SETUP_DOC)
_PROBES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "crm.objects.contacts.read": ("GET", "/crm/v3/objects/contacts?limit=1", None),
    "crm.objects.deals.read": ("GET", "/crm/v3/objects/deals?limit=1", None),
    "crm.objects.line_items.read": ("GET", "/crm/v3/objects/line_items?limit=1", None),
    "crm.schemas.contacts.read": ("GET", "/crm/v3/properties/contacts/email", None),
    "crm.lists.read": ("POST", "/crm/v3/lists/search", {"count": 1, "offset": 0}),
}


def needed_scopes(source: HubSpotSource, destination: HubSpotDestination | None) -> dict[str, str]:
    """scope -> what segsync does with it, for this config."""
    need = {
        "crm.objects.contacts.read": "pull contacts",
        "crm.objects.deals.read": "pull closed-won deals and campaign outcomes",
    }
    if source.line_items.enabled:
        need["crm.objects.line_items.read"] = "pull the line items (products) of closed-won deals"
    if destination is not None and destination.enabled:
        need.update({
            "crm.objects.contacts.write": "write segment, score and arm properties",
            "crm.schemas.contacts.read": "read segsync's property definitions",
            "crm.schemas.contacts.write": "create segsync's properties and property group",
        })
        if destination.lists.enabled:
            need.update({"crm.lists.read": "find segsync's static lists and their members",
                         "crm.lists.write": "create static lists and change their members"})
    return need


def check_hubspot(
    source: HubSpotSource,
    destination: HubSpotDestination | None,
    *,
    planned_calls: int | None,
    transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    role = "source and destination" if destination is not None and destination.enabled else "source"
    found = Findings(f"hubspot {role} ({source.base_url})")
    api = HubSpotApi(_quick(source), transport=transport)
    try:
        if _login(api, found, source):
            granted = _token_scopes(api, source)
            _scopes(api, found, needed_scopes(source, destination), granted)
            _properties(api, found, source, destination, granted)
            _allowance(api, found, source, destination, planned_calls)
    finally:
        api.close()
    return found.items


def _quick(source: HubSpotSource) -> HubSpotSource:
    http = source.http.model_copy(update={"max_attempts": 1})
    return source.model_copy(update={"http": http})


def _login(api: HubSpotApi, found: Findings, source: HubSpotSource) -> bool:
    method = source.auth.method
    try:
        api.transport.authenticator.headers(api.transport)  # an OAuth refresh; nothing for a token
        details = api.call("GET", "/account-info/v3/details", kind="check")
    except AuthenticationError as exc:
        found.ok("reachable", answered(source.base_url, source.http.verify_tls))
        fix = ("issue a new token (the private app's Auth tab, or a new service key) and set it in the "
               "environment variable the config names") if method == "token" else (
               "check client_id/client_secret and re-install the app to get a new refresh token")
        found.fail(f"login ({method})", f"refused: {exc}", fix + "; see " + SETUP_DOC)
        return False
    except CRMError as exc:
        if exc.status is None:
            found.fail("reachable", f"{source.base_url}: {exc}",
                       "check base_url, DNS and any proxy or firewall between this machine and HubSpot")
            return False
        details = {}  # account-info unavailable to this token type: login itself worked
    found.ok("reachable", answered(source.base_url, source.http.verify_tls))
    check_tls(found, source.base_url, source.http.verify_tls)
    kind = str(details.get("accountType") or "unknown type").lower().replace("_", " ")
    found.ok(f"login ({method})", f"portal {details.get('portalId', '?')} ({kind})")
    return True


def _token_scopes(api: HubSpotApi, source: HubSpotSource) -> set[str] | None:
    """The granted scopes, or None when this token type has no info endpoint."""
    auth = source.auth
    try:
        if auth.method == "token" and auth.token is not None:
            body = api.call("POST", "/oauth/v2/private-apps/get/access-token-info", kind="check",
                            json={"tokenKey": auth.token.get_secret_value()})
        elif auth.refresh_token is not None and auth.client_secret is not None:
            body = _introspect(api, auth.client_id or "", auth.client_secret.get_secret_value(),
                               auth.refresh_token.get_secret_value())
        else:
            return None
    except CRMError:
        return None
    scopes = body.get("scopes")
    if isinstance(scopes, list):
        return set(scopes)
    scope = body.get("scope")  # RFC 7662: space-separated
    return set(scope.split()) if isinstance(scope, str) and body.get("active") else None


def _introspect(api: HubSpotApi, client_id: str, client_secret: str, refresh_token: str) -> dict[str, Any]:
    """The 2026-03 introspection endpoint (the token travels in the form, not the URL); where it
    does not list scopes, the v1 refresh-token metadata does."""
    form = {"client_id": client_id, "client_secret": client_secret, "token": refresh_token,
            "token_type_hint": "refresh_token"}
    reply = api.transport.request("POST", "/oauth/2026-03/token/introspect", kind="check", data=form,
                                  authenticate=False)
    body: dict[str, Any] = reply.json() if reply.content else {}
    if body.get("active") and (body.get("scopes") or body.get("scope")):
        return body
    return api.call("GET", f"/oauth/v1/refresh-tokens/{refresh_token}", kind="check")


def _scopes(api: HubSpotApi, found: Findings, need: dict[str, str], granted: set[str] | None) -> None:
    for scope, why in need.items():
        if granted is not None:
            ok = scope in granted
        elif scope in _PROBES:
            ok = _probe(api, *_PROBES[scope])
        else:
            found.ok(f"scope {scope}", f"unverified: this token type has no info endpoint ({why})")
            continue
        found.expect(ok, f"scope {scope}", why if ok else f"MISSING_SCOPES: needed to {why}",
                     _APP_SCOPES.format(scope=scope))


def _probe(api: HubSpotApi, method: str, path: str, body: dict[str, Any] | None) -> bool:
    try:
        api.call(method, path, kind="check", json=body)
        return True
    except AuthenticationError:  # 403 MISSING_SCOPES
        return False
    except CRMError:
        return True  # refused for another reason: the scope itself was accepted


def _properties(api: HubSpotApi, found: Findings, source: HubSpotSource,
                destination: HubSpotDestination | None, granted: set[str] | None) -> None:
    if granted is not None and "crm.schemas.contacts.read" not in granted:
        return  # already reported as a missing scope
    try:
        names = {p["name"] for p in api.call("GET", "/crm/v3/properties/contacts", kind="check").get("results", [])}
    except CRMError as exc:
        found.fail("contact properties", f"cannot list them: {exc}", _APP_SCOPES.format(scope="crm.schemas.contacts.read"))
        return
    read = sorted({*source.contact_properties, *source.attributes.values()} - names)
    found.expect(not read, "contact properties to read",
                 "all exist" if not read else f"PROPERTY_DOESNT_EXIST: {', '.join(read)}",
                 "correct contact_properties / attributes in the config, or create the properties in "
                 "Settings > Properties > Contact properties")
    if destination is not None and destination.enabled:
        missing = sorted(set(destination.properties.values()) - names)
        found.ok("contact properties to write",
                 "all exist" if not missing else f"{', '.join(missing)}: the first run creates them")


def _allowance(api: HubSpotApi, found: Findings, source: HubSpotSource,
               destination: HubSpotDestination | None, planned: int | None) -> None:
    used, limit = api.quota().used, api.quota().limit
    if used is None or limit is None:
        found.ok("daily API allowance", "not reported for this token type (OAuth apps have no daily cap)")
        return
    if planned is None:
        planned = _first_run_estimate(api.call, source, destination)
    left = limit - used
    found.expect(planned <= left, "daily API allowance",
                 f"{left:,} of {limit:,} left today; the next cycle needs about {planned:,}",
                 "wait for the daily reset (midnight in the account's time zone), or buy the API "
                 "limit increase; other apps in this account share the allowance")


def _first_run_estimate(call: Callable[..., dict[str, Any]], source: HubSpotSource,
                        destination: HubSpotDestination | None) -> int:
    total = 0
    contacts = 0
    for obj in ("contacts", "deals"):
        try:
            n = int(call("POST", f"/crm/v3/objects/{obj}/search", kind="check", json={"limit": 1}).get("total", 0))
        except CRMError:
            n = 0
        contacts = contacts or n
        total += math.ceil(n / 100) + 1
    if destination is not None and destination.enabled:
        total += math.ceil(contacts / destination.batch_size) + 20
    return total
