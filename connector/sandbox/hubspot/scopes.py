"""Scopes: what a token may do, the 403 MISSING_SCOPES it meets otherwise, and token info.

A private app, service key or OAuth app is granted a set of scopes when it is created or
installed. A call outside them answers 403 with `category: MISSING_SCOPES` and the scopes the
call needs under `errors[].context.requiredGranularScopes` (reference crm-apis.md §B1 [53]).

Token introspection, as HubSpot documents it:
- private-app tokens: `POST /oauth/v2/private-apps/get/access-token-info` with
  `{"tokenKey": "<token>"}` -> `{"userId", "hubId", "appId", "scopes": [...]}`;
- OAuth access tokens: `GET /oauth/v1/access-tokens/{token}` -> `{"token", "user", "hub_id",
  "app_id", "scopes", "token_type", "expires_in", "user_id", "hub_domain"}`;
- OAuth refresh tokens: `GET /oauth/v1/refresh-tokens/{token}` -> `{"token", "user", "hub_id",
  "client_id", "scopes", "token_type", "user_id", "hub_domain"}`;
- both kinds, without the token in the URL: `POST /oauth/2026-03/token/introspect` with the form
  `client_id, client_secret, token, token_type_hint`. HubSpot's page shows only `{"active": true}`;
  the other members here are RFC 7662's (`scope` space-separated, `client_id`, `token_type`) plus
  `hub_id` *(unverified beyond `active`)*; an unknown or foreign token is `{"active": false}`.

A sandbox is created with every scope (`granted=None`); `HubSpotSandbox(granted_scopes=...)`
or `revoke_scope` plays an app that was set up without one.
"""

from __future__ import annotations

from collections.abc import Iterable

from connector.sandbox.hubspot.auth import TokenAuthority
from connector.sandbox.hubspot.errors import ApiError, ErrorFactory, error_body
from connector.sandbox.hubspot.routing import Handler, Reply, Request

SCOPE_DOCS = "https://developers.hubspot.com/scopes"
_MISSING = ("This app hasn't been granted all required scopes to make this call. Read more about "
            f"required scopes here: {SCOPE_DOCS}.")

#: Object type ids and their plural names (the scope uses the name).
OBJECT_TYPES = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-7": "products",
                "0-8": "line_items", "0-5": "tickets"}

ALL_SCOPES = frozenset(
    [f"crm.objects.{t}.{rw}" for t in OBJECT_TYPES.values() for rw in ("read", "write")]
    + [f"crm.schemas.{t}.{rw}" for t in OBJECT_TYPES.values() for rw in ("read", "write")]
    + ["crm.lists.read", "crm.lists.write", "oauth"]
)
_READ_METHODS = {"GET", "HEAD"}
# Route kinds that read although they POST (search, batch read, list search).
_POST_READS = {"objects.search", "objects.batch.read", "associations.batch.read", "lists.search"}


def _object_name(raw: str | None) -> str:
    name = (raw or "contacts").lower()
    return OBJECT_TYPES.get(name, name)


def required_scope(kind: str, method: str, params: dict[str, str]) -> str | None:
    """The scope a route needs (None for token endpoints)."""
    if not kind.startswith(("objects.", "associations.", "properties.", "lists.")):
        return None  # token endpoints, account details
    mode = "read" if method in _READ_METHODS or kind in _POST_READS else "write"
    if kind.startswith("lists."):
        return f"crm.lists.{mode}"
    obj = _object_name(params.get("objectType") or params.get("fromObjectType"))
    if obj not in OBJECT_TYPES.values():
        return None  # an unknown object type: the handler answers its own 400
    return f"crm.{'schemas' if kind.startswith('properties.') else 'objects'}.{obj}.{mode}"


class ScopeGrant:
    """The scopes the portal's app was granted, checked on every API call."""

    def __init__(self, errors: ErrorFactory, granted: Iterable[str] | None = None) -> None:
        self.errors = errors
        self.granted: set[str] = set(ALL_SCOPES if granted is None else granted)

    def revoke(self, scope: str) -> None:
        self.granted.discard(scope)

    def check(self, kind: str, request: Request) -> None:
        """Raise the 403 HubSpot sends when the route needs a scope the app lacks."""
        scope = required_scope(kind, request.method, request.params)
        if scope is None or scope in self.granted:
            return
        body = error_body(self.errors.ids.next(), _MISSING, "MISSING_SCOPES",
                          errors=[{"message": "One or more of the following scopes are required.",
                                   "context": {"requiredGranularScopes": [scope]}}],
                          links={"scopes": SCOPE_DOCS})
        raise ApiError(403, body)


def token_info_routes(grant: ScopeGrant, auth: TokenAuthority) -> list[tuple[str, str, str, Handler]]:
    """(method, path, kind, handler) of the introspection endpoints and the account details."""

    def scopes() -> list[str]:
        return sorted(grant.granted)

    def private_app(request: Request) -> Reply:
        body = request.json(grant.errors) or {}
        if body.get("tokenKey") != auth.static_token:
            raise grant.errors.make(400, "Invalid token key", "INVALID_AUTHENTICATION")
        return Reply(200, {"userId": 7_000_001, "hubId": auth.portal_id,
                           "appId": 3_000_001, "scopes": scopes()})

    def oauth_identity(token: str, kind: str) -> dict[str, object]:
        return {"token": token, "user": "integration@segsync-sandbox.example", "user_id": 7_000_001,
                "hub_id": auth.portal_id, "hub_domain": "segsync-sandbox.hubspot.example",
                "app_id": 3_000_001, "client_id": auth.client_id,
                "scopes": scopes(), "token_type": kind}

    def access_token(request: Request) -> Reply:
        token = request.params.get("token", "")
        if not auth.is_live(token):
            raise grant.errors.make(404, "Token not found", "OBJECT_NOT_FOUND")
        return Reply(200, {**oauth_identity(token, "access"), "expires_in": auth.token_seconds})

    def refresh_token(request: Request) -> Reply:
        token = request.params.get("token", "")
        if token != auth.refresh_token:
            raise grant.errors.make(404, "Refresh token not found", "OBJECT_NOT_FOUND")
        return Reply(200, oauth_identity(token, "refresh"))

    def account_details(request: Request) -> Reply:
        # GET /account-info/v3/details (HubSpot "Account information" API).
        return Reply(200, {"portalId": auth.portal_id, "accountType": "STANDARD", "timeZone": "US/Eastern",
                           "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                           "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
                           "dataHostingLocation": "na1"})

    def introspect(request: Request) -> Reply:
        form = request.form()
        if form.get("client_id") != auth.client_id or form.get("client_secret") != auth.client_secret:
            raise grant.errors.make(401, "missing or invalid client credentials", "INVALID_AUTHENTICATION")
        token = form.get("token", "")
        kind = "refresh_token" if token == auth.refresh_token else "access_token" if auth.is_live(token) else None
        if kind is None:
            return Reply(200, {"active": False})
        return Reply(200, {"active": True, "scope": " ".join(scopes()), "client_id": auth.client_id,
                           "token_type": kind, "hub_id": auth.portal_id})

    return [
        ("GET", "/account-info/v3/details", "account.details", account_details),
        ("POST", "/oauth/2026-03/token/introspect", "oauth.token-info", introspect),
        ("POST", "/oauth/v2/private-apps/get/access-token-info", "oauth.token-info", private_app),
        ("GET", "/oauth/v1/access-tokens/{token}", "oauth.token-info", access_token),
        ("GET", "/oauth/v1/refresh-tokens/{token}", "oauth.token-info", refresh_token),
    ]

