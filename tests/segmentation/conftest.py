"""Shared fixtures for the segmentation tests.

OpenMP threads in scikit-learn busy-wait; on a loaded 2-core CI box KMeans on 20k rows took
3.6 s with the default thread pool and 0.08 s with one thread, so these tests run on one.
"""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    with threadpool_limits(limits=1):
        yield
