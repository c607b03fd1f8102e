"""Authenticators: the headers a request carries, and how to get fresh ones.

The transport asks an `Authenticator` for headers before each attempt, and on an expired
token (the CRM's classifier returns `TokenExpiredError`) calls `refresh` once with the headers
that were refused, then replays the request. Each CRM supplies its own: Salesforce's OAuth
flows, HubSpot's static token or OAuth refresh.

Token requests go through the same transport (counted as kind "auth", retried on 5xx) with
`authenticate=False`, which is why the methods take the transport as an argument rather than
the authenticator holding one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from connector.crm.errors import AuthenticationError

if TYPE_CHECKING:
    from connector.crm.http import Transport


class Authenticator(Protocol):
    """Current credentials as headers, and a way to replace them."""

    def headers(self, transport: Transport) -> Mapping[str, str]:
        """Headers for the next request (logging in first if there is no token yet)."""
        ...

    def refresh(self, transport: Transport, stale: Mapping[str, str]) -> None:
        """The server refused `stale`: get new credentials (unless another thread already did)."""
        ...


class NoAuth:
    """No credentials (token endpoints, public resources)."""

    def headers(self, transport: Transport) -> Mapping[str, str]:
        return {}

    def refresh(self, transport: Transport, stale: Mapping[str, str]) -> None:
        raise AuthenticationError("the server asked for credentials and none are configured")


class StaticTokenAuthenticator:
    """A bearer token that never changes (HubSpot service key / private-app token)."""

    def __init__(self, token: SecretStr | str, *, crm: str = "") -> None:
        self._token = token if isinstance(token, SecretStr) else SecretStr(token)
        self._crm = crm

    def headers(self, transport: Transport) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def refresh(self, transport: Transport, stale: Mapping[str, str]) -> None:
        raise AuthenticationError(
            "the token was refused and a static token cannot be refreshed; issue a new one",
            crm=self._crm,
        )


@dataclass
class Token:
    """An access token and when it stops working (transport clock seconds, None = unknown)."""

    access_token: str = field(repr=False)
    expires_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


class TokenAuthenticator:
    """Base for OAuth flows: caches a `Token`, fetches one lazily, before expiry and on refusal.

    Subclasses implement `fetch_token(transport) -> Token`. One lock serialises fetches so
    that threads hitting 401 together cause one refresh, not one each.
    """

    #: Fetch a new token this many seconds before the old one expires.
    refresh_margin: float = 60.0

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._token: Token | None = None
        self.fetches = 0

    def fetch_token(self, transport: Transport) -> Token:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def token(self) -> Token | None:
        return self._token

    def _current(self, transport: Transport) -> Token:
        with self._lock:
            tok = self._token
            due = tok is not None and tok.expires_at is not None and (
                transport.clock.now() >= tok.expires_at - self.refresh_margin
            )
            if tok is None or due:
                tok = self._token = self.fetch_token(transport)
                self.fetches += 1
            return tok

    def headers(self, transport: Transport) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._current(transport).access_token}"}

    def refresh(self, transport: Transport, stale: Mapping[str, str]) -> None:
        with self._lock:
            now = self._token
            if now is not None and stale.get("Authorization") != f"Bearer {now.access_token}":
                return  # another thread already replaced the refused token
            self._token = self.fetch_token(transport)
            self.fetches += 1
