"""connector.logs: what reaches segsync's log from the libraries under it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from connector.logs import configure_logging


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging changes the root logger and named loggers: put them back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    py4j = logging.getLogger("py4j").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("py4j").setLevel(py4j)


def test_py4j_socket_chatter_stays_out_and_its_warnings_come_through(root_logging: None) -> None:
    """py4j logs each connection it closes at INFO, also from a finaliser at interpreter exit
    (after pytest closed the stream it captured: "Logging error ... I/O operation on closed file")."""
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    bridge = logging.getLogger("py4j.clientserver")
    bridge.info("Closing down clientserver connection")
    bridge.warning("Answer from Java side is empty")
    logging.getLogger("segsync.test").info("cycle done")
    out = stream.getvalue()
    assert "Closing down clientserver connection" not in out
    assert "Answer from Java side is empty" in out and "cycle done" in out
