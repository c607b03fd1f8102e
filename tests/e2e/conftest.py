"""End-to-end tests: the whole cycle against both sandbox CRMs in-process (see world.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.world import E2EWorld


@pytest.fixture
def world(tmp_path: Path) -> E2EWorld:
    """A fresh pair of sandbox CRMs holding 1,500 simulated customers."""
    return E2EWorld(tmp_path, n_customers=1500, seed=11)
