"""Bearer tokens: a static service key, and OAuth access tokens minted by refresh.

OAuth access tokens live `token_seconds` (1,800 s on HubSpot) on the sandbox clock; after
that the API answers 401 EXPIRED_AUTHENTICATION "... expired N second(s) ago." (reference
§B1, fs `"category":"EXPIRED_AUTHENTICATION"`). The refresh token does not rotate: HubSpot
returns the same one with every new access token.
"""

from __future__ import annotations

import base64
import random
import threading

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot.errors import ApiError, ErrorFactory, error_body
from connector.sandbox.hubspot.routing import Reply, Request

TOKEN_PATHS = ("/oauth/v1/token", "/oauth/2026-03/token")
_NO_CREDENTIALS = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class TokenAuthority:
    """Issues and checks tokens. Credentials are derived from the seed (dummy, never real)."""

    def __init__(self, clock: SandboxClock, errors: ErrorFactory, *, seed: int, token_seconds: int,
                 portal_id: int) -> None:
        rng = random.Random(f"hubspot-credentials:{seed}")
        self.clock = clock
        self.errors = errors
        self.token_seconds = token_seconds
        self.portal_id = portal_id
        self.static_token = f"pat-na1-{_uuidish(rng)}"
        self.client_id = _uuidish(rng)
        self.client_secret = _uuidish(rng)
        self.refresh_token = f"na1-{_hex(rng, 4)}-{_uuidish(rng)}"
        self._rng = rng
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    @property
    def credentials(self) -> dict[str, str]:
        return {"token": self.static_token, "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self.refresh_token}

    def issue(self) -> str:
        """Mint an OAuth access token that expires token_seconds from now."""
        with self._lock:
            raw = self._rng.getrandbits(8 * 48).to_bytes(48, "big")
            token = "CO" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
            self._expiry[token] = self.clock.monotonic() + self.token_seconds
        return token

    def expire_all(self) -> None:
        """Every OAuth access token issued so far expires now (as if its 30 minutes had passed)."""
        with self._lock:
            now = self.clock.monotonic()
            self._expiry = {token: min(at, now) for token, at in self._expiry.items()}

    def is_live(self, token: str) -> bool:
        """An OAuth access token this portal issued that has not expired."""
        with self._lock:
            expires = self._expiry.get(token)
        return expires is not None and self.clock.monotonic() < expires

    def check(self, request: Request) -> str:
        """The kind of principal ("static" or "oauth"), or raise the 401 HubSpot sends."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self.errors.make(401, _NO_CREDENTIALS, "INVALID_AUTHENTICATION")
        if token == self.static_token:
            return "static"
        with self._lock:
            expires = self._expiry.get(token)
        if expires is None:
            raise self.errors.make(401, _NO_CREDENTIALS, "INVALID_AUTHENTICATION")
        now = self.clock.monotonic()
        if now >= expires:
            ago = int(now - expires)
            raise self.errors.make(
                401, f"The OAuth token used to make this call expired {ago} second(s) ago.",
                "EXPIRED_AUTHENTICATION")
        return "oauth"

    def token_endpoint(self, request: Request) -> Reply:
        """POST /oauth/v1/token and /oauth/2026-03/token with a form body."""
        form = request.form()
        grant = form.get("grant_type", "")
        if grant != "refresh_token":
            raise self._oauth_error("UNSUPPORTED_GRANT_TYPE", "unsupported_grant_type",
                                    f"grant_type {grant!r} is not supported by the sandbox")
        if form.get("client_id") != self.client_id:
            raise self._oauth_error("BAD_CLIENT_ID", "invalid_client", "missing or invalid client_id")
        if form.get("client_secret") != self.client_secret:
            raise self._oauth_error("BAD_CLIENT_SECRET", "invalid_client", "missing or invalid client_secret")
        if form.get("refresh_token") != self.refresh_token:
            raise self._oauth_error("BAD_REFRESH_TOKEN", "invalid_grant", "missing or unknown refresh token")
        return Reply(200, {"token_type": "bearer", "refresh_token": self.refresh_token,
                           "access_token": self.issue(), "expires_in": self.token_seconds})

    def _oauth_error(self, status_name: str, error: str, description: str) -> ApiError:
        # OAuth errors put a name in `status` (fs BAD_REFRESH_TOKEN, reference §B1 [50]).
        body = error_body(self.errors.ids.next(), description, None)
        body.update({"status": status_name, "error": error, "error_description": description})
        return ApiError(400, body)


def _uuidish(rng: random.Random) -> str:
    h = _hex(rng, 16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _hex(rng: random.Random, nbytes: int) -> str:
    return rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()
