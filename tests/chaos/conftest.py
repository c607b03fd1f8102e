"""Chaos suite settings: SEGSYNC_LONG=1 runs the long hand-run mode (more seeds, 50 crash points)."""

from __future__ import annotations

import os

LONG = os.environ.get("SEGSYNC_LONG", "") not in ("", "0")


def seeds(ci: int, long: int) -> list[int]:
    """Seeds for a parametrised chaos test: a few in CI, many with SEGSYNC_LONG=1."""
    return list(range(long if LONG else ci))
