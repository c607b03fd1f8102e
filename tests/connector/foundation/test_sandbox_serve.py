"""`segsync sandbox serve` serves both emulators on loopback with working dummy credentials."""

from __future__ import annotations

import re
import signal
import ssl
import subprocess
import sys
import time

import httpx
import jwt

from tests.reaper import watch


def test_serve_prints_urls_and_credentials_that_work(tmp_path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "serve", "--salesforce-port", "0", "--hubspot-port", "0",
         "--population", "empty", "--jwt-dir", str(tmp_path / "jwt")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watch(proc.pid)
    assert proc.stdout is not None
    banner = []
    for line in proc.stdout:  # blocks until the banner is complete; no sleeping
        banner.append(line)
        if line.startswith("serving until"):
            break
    text = "".join(banner)
    try:
        sf_url = re.search(r"Salesforce sandbox: (https://127\.0\.0\.1:\d+)", text).group(1)
        cert = re.search(r"pass as verify=\): (\S+)", text).group(1)
        hs_url = re.search(r"HubSpot sandbox: (http://127\.0\.0\.1:\d+)", text).group(1)
        token = re.search(r"token: (pat-\S+)", text).group(1)
        client_id = re.search(r"client_id: (3MVG\S+)", text).group(1)
        secret = re.search(r"client_secret: (\S+)", text).group(1)
        assert f"login_url: {sf_url}" in text
        hs = httpx.get(f"{hs_url}/crm/objects/2026-03/contacts", headers={"Authorization": f"Bearer {token}"}, params={"limit": 1})
        assert hs.status_code == 200 and hs.json()["results"] == []
        denied = httpx.get(f"{hs_url}/crm/objects/2026-03/contacts", headers={"Authorization": "Bearer wrong"})
        assert denied.status_code == 401 and denied.json()["category"] == "INVALID_AUTHENTICATION"
        with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client:  # TLS verification stays on
            tok = client.post(f"{sf_url}/services/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert tok.status_code == 200, tok.text
            session = tok.json()["access_token"]
            q = client.get(f"{sf_url}/services/data/v66.0/query", params={"q": "SELECT Id FROM Contact"}, headers={"Authorization": f"Bearer {session}"})
            assert q.status_code == 200 and q.json()["totalSize"] == 0
            assert q.headers["Sforce-Limit-Info"].startswith("api-usage=")
            # JWT bearer from another process: the banner names the key file, not the key
            assert "PRIVATE KEY" not in text
            key_file = re.search(r"jwt_private_key_file: (\S+)", text).group(1)
            assert re.search(r"jwt_certificate_file: (\S+)", text).group(1) == str(tmp_path / "jwt" / "jwt_certificate.pem")
            username = re.search(r"username: (\S+)", text).group(1)
            assertion = jwt.encode({"iss": client_id, "sub": username, "aud": "https://login.salesforce.com",
                                    "exp": int(time.time()) + 180}, open(key_file).read(), algorithm="RS256")
            tok = client.post(f"{sf_url}/services/oauth2/token", data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
            assert tok.status_code == 200, tok.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "sandbox stopped" in out
