"""Masking of credentials in any text that may reach a log line or an exception message.

Reply bodies and URLs are quoted in errors so a person can act on them; token endpoint
bodies, form posts and headers can carry secrets, so everything quoted passes through
`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MASK = "***"

_PATTERNS = [
    # Authorization header values: "Bearer abc", "Basic abc"
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    # JSON members: "access_token": "...", "refresh_token":"...", "client_secret": "..."
    re.compile(
        r'(?i)("(?:access_token|refresh_token|id_token|client_secret|password|assertion|token|private_key|signature)"\s*:\s*")[^"]*(")'
    ),
    # form fields / query parameters: access_token=...&client_secret=...
    re.compile(
        r"(?i)\b((?:access_token|refresh_token|client_secret|password|assertion|token|code)=)[^&\s\"']+"
    ),
]

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with bearer/basic credentials, token fields and the given literal secrets masked."""
    for s in secrets:
        if s:
            text = text.replace(s, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` safe to log: credential-bearing headers masked."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
