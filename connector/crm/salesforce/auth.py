"""Salesforce OAuth flows: JWT bearer, client credentials, and the deprecated password grant.

All three post a form to `/services/oauth2/token` and get `{access_token, instance_url, ...}`
back, with no refresh token and no `expires_in`: the session lives until it has been idle
for the org's timeout (2 h by default), so a new token is fetched when a call comes back
401 INVALID_SESSION_ID, in every path (REST, Bulk, Tooling), by the transport.

- JWT bearer (recommended): an RS256 assertion signed with the External Client App's key,
  iss = consumer key, sub = username, aud = login or test host, exp = now + 3 min, posted
  to the login host.
- Client credentials: Basic consumer key:secret, posted to the My Domain host (the login
  and test hosts refuse it); runs as the app's "Run As" user.
- Password grant: being retired by Salesforce and blockable per org; logged as deprecated.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import jwt

from connector.config import SalesforceSource
from connector.crm.auth import Token, TokenAuthenticator
from connector.crm.errors import AuthenticationError, ConfigurationError
from connector.crm.salesforce.classifier import classify_token

if TYPE_CHECKING:
    from connector.crm.http import Transport

log = logging.getLogger("segsync.salesforce")

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
JWT_LIFETIME_SECONDS = 180


def jwt_audience(login_url: str) -> str:
    """The `aud` claim: test.salesforce.com for sandboxes, login.salesforce.com for
    production (also behind My Domain), else the login URL itself (the loopback sandbox)."""
    host = (urlsplit(login_url).hostname or "").lower()
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com"):
        return "https://test.salesforce.com"
    if host.endswith("salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


class SalesforceAuthenticator(TokenAuthenticator):
    """Posts one OAuth form and keeps the session token; subclasses build the form."""

    def __init__(self, source: SalesforceSource, token_url: str) -> None:
        super().__init__()
        self.source = source
        self.token_url = token_url
        self.instance_url: str | None = None
        self._warned = False

    def form(self) -> tuple[dict[str, str], dict[str, str]]:  # pragma: no cover - abstract
        """(form fields, extra headers) for the token request."""
        raise NotImplementedError

    def fetch_token(self, transport: Transport) -> Token:
        data, headers = self.form()
        response = transport.request(
            "POST",
            self.token_url,
            kind="auth",
            data=data,
            headers=headers,
            authenticate=False,
            classify=classify_token,
        )
        body = response.json()
        token = body.get("access_token")
        if not token:
            raise AuthenticationError("the token reply has no access_token", crm="salesforce")
        self.instance_url = body.get("instance_url")
        configured = self.source.instance_url.rstrip("/")
        if self.instance_url and self.instance_url.rstrip("/") != configured and not self._warned:
            self._warned = True
            log.warning("the token reply names instance %s; requests go to the configured %s",
                        self.instance_url, configured)
        # `id` is the identity URL .../id/<org id>/<user id> (`segsync check` shows both).
        return Token(access_token=token, expires_at=None,
                     extra={"instance_url": self.instance_url, "id": body.get("id")})


class JwtBearerAuthenticator(SalesforceAuthenticator):
    def __init__(self, source: SalesforceSource, wall_clock: Callable[[], float] = time.time) -> None:
        super().__init__(source, source.login_url.rstrip("/") + TOKEN_PATH)
        self._wall = wall_clock
        self._key = self._load_key()

    def _load_key(self) -> str:
        auth = self.source.auth
        if auth.private_key is not None:
            return auth.private_key.get_secret_value()
        path = Path(os.path.expanduser(str(auth.private_key_file)))
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"sources.salesforce.auth.private_key_file: cannot read {path} ({exc.strerror})"
            ) from None

    def assertion(self) -> str:
        auth = self.source.auth
        claims = {
            "iss": auth.client_id,
            "sub": auth.username,
            "aud": jwt_audience(self.source.login_url),
            "exp": int(self._wall()) + JWT_LIFETIME_SECONDS,
        }
        try:
            return jwt.encode(claims, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigurationError(
                f"sources.salesforce.auth: the private key cannot sign an RS256 JWT ({type(exc).__name__})"
            ) from None

    def form(self) -> tuple[dict[str, str], dict[str, str]]:
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": self.assertion()}, {}


class ClientCredentialsAuthenticator(SalesforceAuthenticator):
    def __init__(self, source: SalesforceSource) -> None:
        # Client credentials are refused on login./test. hosts: the My Domain host serves them.
        super().__init__(source, source.instance_url.rstrip("/") + TOKEN_PATH)

    def form(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.source.auth
        secret = auth.client_secret.get_secret_value() if auth.client_secret else ""
        basic = base64.b64encode(f"{auth.client_id}:{secret}".encode()).decode()
        return {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"}


class PasswordAuthenticator(SalesforceAuthenticator):
    def __init__(self, source: SalesforceSource) -> None:
        super().__init__(source, source.login_url.rstrip("/") + TOKEN_PATH)
        log.warning(
            "sources.salesforce.auth.method password: the OAuth username-password flow is deprecated "
            "by Salesforce and can be blocked per org; move to jwt or client_credentials"
        )

    def form(self) -> tuple[dict[str, str], dict[str, str]]:
        auth = self.source.auth
        password = auth.password.get_secret_value() if auth.password else ""
        token = auth.security_token.get_secret_value() if auth.security_token else ""
        return {
            "grant_type": "password",
            "client_id": auth.client_id,
            "client_secret": auth.client_secret.get_secret_value() if auth.client_secret else "",
            "username": auth.username or "",
            "password": password + token,
        }, {}


def build_authenticator(source: SalesforceSource) -> SalesforceAuthenticator:
    """The authenticator for `source.auth.method`."""
    kinds: dict[str, Callable[[SalesforceSource], SalesforceAuthenticator]] = {
        "jwt": JwtBearerAuthenticator,
        "client_credentials": ClientCredentialsAuthenticator,
        "password": PasswordAuthenticator,
    }
    return kinds[source.auth.method](source)
