"""Masking of credentials in any text that may reach a log line or an exception message.

Reply bodies and URLs are quoted in errors so a person can act on them; token endpoint
bodies, form posts and headers can carry secrets, so everything quoted passes through
`redact` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

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
    # free text, as a log line may put it: "refresh_token: abc...", "client_secret 'abc...'"
    re.compile(r"(?i)\b((?:access_token|refresh_token|client_secret)[\"':\s]+)[A-Za-z0-9._~+/=-]{8,}"),
    # tokens in URL paths: HubSpot's introspection endpoints /oauth/v1/{access,refresh}-tokens/{token}
    re.compile(r"(/(?:access|refresh)-tokens/)[^/?\s\"']+"),
]

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def redact(text: str, secrets: Iterable[str] = (), *, mask: str = MASK) -> str:
    """`text` with bearer/basic credentials, token fields and the given literal secrets masked.

    The one redaction of the project: the transport's error texts, log lines (logs.py) and
    texts stored in the state file (state/store.py) all pass through it.
    """
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):  # longest first: no partial leaks
        text = text.replace(s, mask)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {mask}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{mask}{m.group(2)}", text)
    text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{mask}", text)
    text = _PATTERNS[3].sub(lambda m: f"{m.group(1)}{mask}", text)
    return _PATTERNS[4].sub(lambda m: f"{m.group(1)}{mask}", text)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` safe to log: credential-bearing headers masked."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
