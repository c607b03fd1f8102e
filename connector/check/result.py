"""What a check found, and how the findings are printed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import httpx

PASS, FAIL = "✓", "✗"


@dataclass(frozen=True)
class Check:
    """One finding. `fix` says exactly what to do, and is set whenever `ok` is False."""

    target: str  # "salesforce source", "hubspot destination", "files source", ...
    name: str  # "login", "scope crm.objects.contacts.read", "Contact.Email readable", ...
    ok: bool
    detail: str
    fix: str | None = None


class Findings:
    """The checks of one target, in the order they ran."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.items: list[Check] = []

    def ok(self, name: str, detail: str) -> None:
        self.items.append(Check(self.target, name, True, detail))

    def fail(self, name: str, detail: str, fix: str) -> None:
        self.items.append(Check(self.target, name, False, detail, fix))

    def expect(self, passed: bool, name: str, detail: str, fix: str) -> bool:
        """ok() or fail(); returns `passed`."""
        if passed:
            self.ok(name, detail)
        else:
            self.fail(name, detail, fix)
        return passed


def answered(url: str, verify_tls: bool) -> str:
    """How a host answered: over verified TLS, unverified TLS, or plain HTTP."""
    if url.lower().startswith("https://"):
        return f"{url} answered over {'verified' if verify_tls else 'UNVERIFIED'} TLS"
    return f"{url} answered over plain HTTP (loopback sandbox only)"


def check_tls(found: Findings, url: str, verify_tls: bool) -> None:
    """A ✗ when TLS verification is off for anything but a loopback host."""
    host = (httpx.URL(url).host or "").lower()
    if not verify_tls and host not in ("127.0.0.1", "localhost", "::1"):
        found.fail("TLS verification", f"verify_tls is off for {host}",
                   "set http.verify_tls: true (only the loopback sandbox may turn it off); for a "
                   "corporate proxy, trust its CA through SSL_CERT_FILE instead")


def all_passed(checks: Iterable[Check]) -> bool:
    return all(c.ok for c in checks)


def render_text(checks: Sequence[Check]) -> str:
    """Grouped by target: `✓ name: detail`, and under each ✗ its `fix:` line."""
    lines: list[str] = []
    target = None
    for c in checks:
        if c.target != target:
            target = c.target
            lines.append(("\n" if lines else "") + target)
        lines.append(f"  {PASS if c.ok else FAIL} {c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"      fix: {c.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append("")
    lines.append(f"{len(checks) - failed} passed, {failed} failed" if checks else "nothing to check")
    return "\n".join(lines)


def render_json(checks: Sequence[Check]) -> str:
    return json.dumps({"ok": all_passed(checks), "checks": [asdict(c) for c in checks]}, indent=2)
