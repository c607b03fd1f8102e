"""The three OAuth flows: request bodies and headers, errors, and no secret in logs or errors."""

from __future__ import annotations

import base64
import logging
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.crm.errors import AuthenticationError, ConfigurationError
from connector.crm.salesforce.auth import jwt_audience
from tests.connector.salesforce.salesforce_testkit import (
    API,
    LIMIT_HEADER,
    TOKEN_URL,
    connector,
    source,
    token_reply,
)


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, key.public_key()


def form(call) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.content.decode()).items()}


def limits_route():
    return respx.get(f"{API}/limits").mock(return_value=httpx.Response(200, json={}, headers=LIMIT_HEADER))


@respx.mock
def test_jwt_bearer_posts_signed_assertion_to_login_host(rsa_key, tmp_path):
    pem, public = rsa_key
    key_file = tmp_path / "server.key"
    key_file.write_text(pem)
    token = respx.post("https://login.salesforce.com/services/oauth2/token").mock(return_value=token_reply())
    api = limits_route()
    src = source(auth={"method": "jwt", "client_id": "3MVG9key", "username": "int@acme.com",
                       "private_key_file": str(key_file)})
    conn = connector(src)
    conn.client.json("GET", "limits", kind="limits")
    fields = form(token.calls.last)
    assert fields["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(fields["assertion"], public, algorithms=["RS256"], audience="https://login.salesforce.com")
    assert claims["iss"] == "3MVG9key" and claims["sub"] == "int@acme.com"
    assert 0 < claims["exp"] - __import__("time").time() <= 180
    assert api.calls.last.request.headers["Authorization"] == "Bearer 00Dtok1"
    assert conn.counter.total(kind="auth") == 1


def test_jwt_audience_for_sandboxes_and_loopback():
    assert jwt_audience("https://test.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert jwt_audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert jwt_audience("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"


def test_unreadable_key_is_a_configuration_error(tmp_path):
    src = source(auth={"method": "jwt", "client_id": "k", "username": "u", "private_key_file": str(tmp_path / "no.key")})
    with pytest.raises(ConfigurationError, match="private_key_file"):
        connector(src)


@respx.mock
def test_client_credentials_uses_basic_auth_on_my_domain():
    token = respx.post(TOKEN_URL).mock(return_value=token_reply())
    limits_route()
    connector().client.json("GET", "limits", kind="limits")
    request = token.calls.last.request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"3MVG9key:shh-secret").decode()
    assert form(token.calls.last) == {"grant_type": "client_credentials"}


@respx.mock
def test_password_grant_is_marked_deprecated_and_secrets_stay_out_of_logs(caplog):
    caplog.set_level(logging.DEBUG)
    token = respx.post("https://login.salesforce.com/services/oauth2/token").mock(return_value=token_reply())
    limits_route()
    src = source(auth={"method": "password", "client_id": "k", "client_secret": "cs-123-secret", "username": "u@x.com",
                       "password": "pw-456-secret", "security_token": "st-789-secret"})
    connector(src).client.json("GET", "limits", kind="limits")
    assert form(token.calls.last) == {"grant_type": "password", "client_id": "k", "client_secret": "cs-123-secret",
                                      "username": "u@x.com", "password": "pw-456-secretst-789-secret"}
    assert "deprecated" in caplog.text
    for secret in ("cs-123-secret", "pw-456-secret", "st-789-secret", "00Dtok1"):
        assert secret not in caplog.text


@respx.mock
def test_invalid_grant_is_an_authentication_error_without_secrets():
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}))
    api = limits_route()
    with pytest.raises(AuthenticationError) as err:
        connector().client.json("GET", "limits", kind="limits")
    assert "invalid_grant" in str(err.value) and "approved" in str(err.value)
    assert "shh-secret" not in str(err.value)
    assert api.call_count == 0


@respx.mock
def test_token_endpoint_5xx_is_retried():
    token = respx.post(TOKEN_URL).mock(side_effect=[httpx.Response(503), token_reply()])
    limits_route()
    connector().client.json("GET", "limits", kind="limits")
    assert token.call_count == 2
