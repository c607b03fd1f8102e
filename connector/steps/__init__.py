"""The cycle's step implementations, one module per step concept.

Filled in as the components land (pull: connectors; features/segment/score: the pure core;
plan/push: the ledger; assign/measure: experiments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

STEP_FUNCTIONS: dict[str, Callable[[Any], None]] = {}
