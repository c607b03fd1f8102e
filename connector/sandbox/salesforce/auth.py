"""The OAuth token endpoint and session checking of the sandbox org.

Grants: JWT bearer (RS256 assertion verified against the configured public key, claims
iss=client_id, sub=username, aud=https://login|test.salesforce.com or the instance),
client credentials (HTTP Basic, refused on login/test hosts), password (password +
security token). Sessions expire after `session_seconds` of inactivity on the sandbox clock
(Salesforce's default is 2 h) and are then answered with 401
[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}].
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

import jwt

from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce.store import USER_ID
from connector.sandbox.salesforce.wire import ApiError, Request, Response, sf_error

ORG_ID = "00D5g000004SbxEEAS"
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


def oauth_error(error: str, description: str, status: int = 400) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})


def expired_session() -> ApiError:
    return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


@dataclass
class Credentials:
    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    private_key_pem: str
    public_key_pem: str


def generate_keypair() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class Auth:
    """Issues and checks sessions. `instance_url` None: derive it from the request host."""

    def __init__(self, clock: SandboxClock, creds: Credentials, *, session_seconds: float,
                 instance_url: str | None = None) -> None:
        self.clock = clock
        self.creds = creds
        self.session_seconds = session_seconds
        self.instance_url = instance_url
        self._sessions: dict[str, float] = {}  # token -> last activity (clock seconds)
        self._lock = threading.Lock()

    # ---- sessions ------------------------------------------------------------------
    def check(self, req: Request) -> str:
        """The session token of an authorised request; ApiError 401 otherwise."""
        value = req.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token:
            raise expired_session()
        now = self.clock.monotonic()
        with self._lock:
            last = self._sessions.get(token)
            if last is None or now - last > self.session_seconds:
                self._sessions.pop(token, None)
                raise expired_session()
            self._sessions[token] = now
        return token

    def new_session(self) -> str:
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            self._sessions[token] = self.clock.monotonic()
        return token

    def expire_sessions(self) -> None:
        """End every session now (what an admin's 'revoke' or a timeout does)."""
        with self._lock:
            self._sessions.clear()

    # ---- token endpoint -------------------------------------------------------------
    def token(self, req: Request) -> Response:
        if req.method != "POST":
            raise oauth_error("invalid_request", "must use HTTP POST")
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._jwt(req, form.get("assertion", ""))
            return self._reply(req, signed=False)
        if grant == "client_credentials":
            self._client_credentials(req, form)
            return self._reply(req, signed=True)
        if grant == "password":
            self._password(form)
            return self._reply(req, signed=True)
        raise oauth_error("unsupported_grant_type", "grant type not supported")

    def _audiences(self, req: Request) -> list[str]:
        auds = [f"https://{h}" for h in LOGIN_HOSTS] + [req.base_url()]
        if self.instance_url:
            auds.append(self.instance_url.rstrip("/"))
        return auds

    def _jwt(self, req: Request, assertion: str) -> None:
        c = self.creds
        try:
            # exp is checked against the wall clock: the client signs with real time even
            # when the sandbox clock is simulated.
            claims = jwt.decode(assertion, c.public_key_pem, algorithms=["RS256"],
                                audience=self._audiences(req),
                                options={"require": ["exp", "iss", "sub", "aud"]})
        except jwt.InvalidAudienceError as exc:
            raise oauth_error("invalid_grant", "audience is invalid") from exc
        except jwt.ExpiredSignatureError as exc:
            raise oauth_error("invalid_grant", "expired authorization code") from exc
        except jwt.PyJWTError as exc:
            raise oauth_error("invalid_grant", "invalid assertion") from exc
        if claims.get("iss") != c.client_id:
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != c.username:
            raise oauth_error("invalid_grant", "user hasn't approved this consumer")

    def _client_credentials(self, req: Request, form: dict[str, str]) -> None:
        host = req.headers.get("host", "").split(":")[0]
        if host in LOGIN_HOSTS:
            raise oauth_error("invalid_grant", "request not supported on this domain")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        scheme, _, blob = req.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, secret = base64.b64decode(blob).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise oauth_error("invalid_client", "invalid client credentials") from exc
        self._client(client_id, secret)

    def _client(self, client_id: str, secret: str) -> None:
        if not hmac.compare_digest(client_id, self.creds.client_id):
            raise oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret, self.creds.client_secret):
            raise oauth_error("invalid_client", "invalid client credentials")

    def _password(self, form: dict[str, str]) -> None:
        self._client(form.get("client_id", ""), form.get("client_secret", ""))
        expected = self.creds.password + self.creds.security_token
        ok_user = hmac.compare_digest(form.get("username", ""), self.creds.username)
        password = form.get("password", "")
        if not ok_user or not (hmac.compare_digest(password, expected)
                               or hmac.compare_digest(password, self.creds.password)):
            raise oauth_error("invalid_grant", "authentication failure")

    def _reply(self, req: Request, *, signed: bool) -> Response:
        instance = (self.instance_url or req.base_url()).rstrip("/")
        identity = f"https://login.salesforce.com/id/{ORG_ID}/{USER_ID}"
        body = {"access_token": self.new_session(), "instance_url": instance, "id": identity,
                "token_type": "Bearer", "scope": "api"}
        if signed:
            issued = str(int(self.clock.now().timestamp() * 1000))
            mac = hmac.new(self.creds.client_secret.encode(), (identity + issued).encode(),
                           hashlib.sha256).digest()
            body.update(issued_at=issued, signature=base64.b64encode(mac).decode())
        return Response.json(200, body)
