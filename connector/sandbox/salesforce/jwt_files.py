"""The JWT bearer flow's key pair on disk, so another process can log in to the sandbox.

A JWT client signs its assertion with the private key; the org checks it with the
certificate uploaded to the connected app [Salesforce Help, OAuth 2.0 JWT Bearer Flow for
Server-to-Server Integration]. `segsync sandbox serve` writes both into one directory and
prints their paths: the key as PKCS#8 PEM (mode 0600), the certificate as a self-signed
X.509 PEM. Files already there are reused, so a restarted sandbox keeps its key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.sandbox.salesforce.auth import Credentials, generate_keypair

KEY_FILE, CERT_FILE = "jwt_private_key.pem", "jwt_certificate.pem"


@dataclass(frozen=True)
class JwtFiles:
    private_key: Path
    certificate: Path
    private_pem: str
    public_pem: str

    def credentials(self, base: Credentials) -> Credentials:
        """`base` with this key pair as the one the sandbox org trusts."""
        return dataclasses.replace(base, private_key_pem=self.private_pem,
                                   public_key_pem=self.public_pem)


def ensure_jwt_files(directory: Path) -> JwtFiles:
    """Load the key pair from `directory`, or create it there."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
    if key_path.exists() and cert_path.exists():
        private = key_path.read_text()
    else:
        private, _ = generate_keypair()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(private)
        cert_path.write_text(_certificate(private))
    return JwtFiles(key_path, cert_path, private, _public_of(private))


def _public_of(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _certificate(private_pem: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "segsync sandbox connected app")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()
