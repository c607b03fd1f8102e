"""`segsync check`: a preflight of every configured source and destination, writing nothing.

One line per check with ✓ or ✗, and for every ✗ the exact fix. Each target has its own
module (salesforce, hubspot, local); `run_checks` runs those the config names.
"""

from connector.check.result import Check, render_json, render_text
from connector.check.runner import run_checks

__all__ = ["Check", "render_json", "render_text", "run_checks"]
