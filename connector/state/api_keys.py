"""API keys of `segsync serve`: stored hashed, scoped, revocable.

A key is `ssk_<key_id>_<secret>`: the id finds the row, the secret is compared in constant
time against its SHA-256. The secret is 32 random bytes, so a fast hash is enough (a slow
KDF guards low-entropy passwords, not random tokens); the plaintext is shown once, at
creation, and stored nowhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.crm.errors import ConfigurationError
from connector.state.store import utcnow_iso

if TYPE_CHECKING:
    from connector.state.store import StateStore

SCOPES = ("read", "score", "events")
PREFIX = "ssk_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    scopes: frozenset[str]
    name: str
    created_at: str
    revoked_at: str | None


def parse_scopes(text: str) -> frozenset[str]:
    """'read,score' -> {'read', 'score'}; an unknown or empty scope is a configuration error."""
    scopes = frozenset(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(scopes - set(SCOPES))
    if unknown or not scopes:
        raise ConfigurationError(f"--scope: unknown scope(s) {unknown or [text]}; choose from {', '.join(SCOPES)}")
    return scopes


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: StateStore) -> None:
        self.store = store

    def create(self, scopes: frozenset[str], name: str = "") -> tuple[ApiKey, str]:
        """A new key; returns it and the plaintext token (the only time it exists)."""
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        created = utcnow_iso()
        with self.store.transaction() as c:
            c.execute(
                "INSERT INTO api_keys (key_id, key_hash, scopes, name, created_at) VALUES (?, ?, ?, ?, ?)",
                (key_id, _digest(secret), ",".join(sorted(scopes)), name, created),
            )
        return ApiKey(key_id, scopes, name, created, None), f"{PREFIX}{key_id}_{secret}"

    def list(self) -> list[ApiKey]:
        rows = self.store.query("SELECT key_id, scopes, name, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [ApiKey(r["key_id"], frozenset(r["scopes"].split(",")), r["name"], r["created_at"], r["revoked_at"]) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by id; False when no active key has that id."""
        with self.store.transaction() as c:
            cur = c.execute("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (utcnow_iso(), key_id))
            return cur.rowcount > 0

    def active_hashes(self) -> dict[str, tuple[str, frozenset[str]]]:
        """key_id -> (hash, scopes) of every key not revoked (the API caches this and refreshes it)."""
        rows = self.store.query("SELECT key_id, key_hash, scopes FROM api_keys WHERE revoked_at IS NULL")
        return {r["key_id"]: (r["key_hash"], frozenset(r["scopes"].split(","))) for r in rows}


def verify_token(token: str, active: dict[str, tuple[str, frozenset[str]]]) -> tuple[str, frozenset[str]] | None:
    """(key_id, scopes) when `token` is an active key, else None; the secret is compared in constant time."""
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX):].partition("_")
    entry = active.get(key_id) if sep else None
    # hash even when the id is unknown, so a miss costs the same as a wrong secret
    digest = _digest(secret)
    if entry is None or not hmac.compare_digest(digest, entry[0]):
        return None
    return key_id, entry[1]
