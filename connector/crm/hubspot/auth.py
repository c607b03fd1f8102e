"""HubSpot credentials: a service key / private-app token, or OAuth with a refresh token.

OAuth access tokens live 30 minutes (`expires_in` 1800) and HubSpot advises tracking the
lifetime yourself (developers.hubspot.com/docs/api/usage-details); `TokenAuthenticator`
refreshes a minute before expiry and again on 401 EXPIRED_AUTHENTICATION, then the
transport replays the request. The token endpoint is `/oauth/2026-03/token` by default;
`/oauth/v1/token` (deprecated 16 Feb 2027) can be configured. Both take a form body
`grant_type=refresh_token&client_id&client_secret&refresh_token`; the 2026-03 endpoint
refuses credentials in the query string, so they only ever travel in the body.
"""

from __future__ import annotations

import httpx

from connector.config import HubSpotAuth
from connector.crm.auth import Authenticator, StaticTokenAuthenticator, Token, TokenAuthenticator
from connector.crm.errors import AuthenticationError, CRMError, FatalError
from connector.crm.http import Transport, classify_status
from connector.crm.hubspot.classifier import CRM, parse_body
from connector.crm.hubspot.paths import token_path


def classify_token_reply(response: httpx.Response) -> CRMError | None:
    """Token endpoint replies: 400 invalid_grant / BAD_REFRESH_TOKEN etc. are authentication
    failures that no retry can fix; 5xx and 429 stay retriable."""
    if response.status_code < 300:
        return None
    body = parse_body(response.content)
    code = body.get("status") if isinstance(body.get("status"), str) else None
    if response.status_code in (400, 401, 403):
        # error_description names the problem (never the secret itself).
        reason = body.get("error_description") or body.get("message") or "token request refused"
        return AuthenticationError(
            f"OAuth refresh refused: {reason}",
            crm=CRM,
            status=response.status_code,
            code=code or body.get("error"),
            correlation_id=body.get("correlationId"),
        )
    return classify_status(response, CRM, message="token endpoint error")


class OAuthRefreshAuthenticator(TokenAuthenticator):
    """Access tokens minted from a refresh token, cached until a minute before expiry."""

    def __init__(self, auth: HubSpotAuth) -> None:
        super().__init__()
        if auth.client_id is None or auth.client_secret is None or auth.refresh_token is None:
            raise FatalError("OAuth needs client_id, client_secret and refresh_token", crm=CRM)
        self._client_id = auth.client_id
        self._client_secret = auth.client_secret
        self._refresh_token = auth.refresh_token.get_secret_value()
        self.path = token_path(auth.token_path)

    def fetch_token(self, transport: Transport) -> Token:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "refresh_token": self._refresh_token,
        }
        reply = transport.request(
            "POST", self.path, kind="auth", data=form, authenticate=False, classify=classify_token_reply
        )
        body = parse_body(reply.content)
        # The documented reply is snake_case; some generated docs show camelCase: read both.
        access = body.get("access_token") or body.get("accessToken")
        expires_in = body.get("expires_in", body.get("expiresIn"))
        if not access:
            raise AuthenticationError("the token endpoint returned no access_token", crm=CRM, status=reply.status_code)
        if body.get("refresh_token"):
            self._refresh_token = str(body["refresh_token"])
        expires_at = transport.clock.now() + float(expires_in) if expires_in is not None else None
        return Token(access_token=str(access), expires_at=expires_at)


def make_authenticator(auth: HubSpotAuth) -> Authenticator:
    """The authenticator for the configured method."""
    if auth.method == "token":
        if auth.token is None:
            raise FatalError("auth.method token needs auth.token", crm=CRM)
        return StaticTokenAuthenticator(auth.token, crm=CRM)
    return OAuthRefreshAuthenticator(auth)
