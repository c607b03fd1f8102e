"""Logging: readable lines by default, JSON with run_id and step on every line on request.

Every record passes a redaction filter that replaces each known secret value (from the
config's SecretStr fields) and anything shaped like a bearer token, so a secret never reaches a
log line, whatever code logged it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from connector.crm.redaction import redact

run_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("segsync_run_id", default=None)
step_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("segsync_step", default=None)

MASK = "**********"


@contextmanager
def log_context(*, run_id: int | None = None, step: str | None = None) -> Iterator[None]:
    tokens: list[tuple[contextvars.ContextVar[Any], contextvars.Token[Any]]] = []
    if run_id is not None:
        tokens.append((run_id_var, run_id_var.set(run_id)))
    if step is not None:
        tokens.append((step_var, step_var.set(step)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def scrub(self, text: str) -> str:
        return redact(text, self.secrets, mask=MASK)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg = self.scrub(message)
        record.args = None
        record.run_id = run_id_var.get()
        record.step = step_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname,
                "logger": record.name,
                "run_id": getattr(record, "run_id", None),
                "step": getattr(record, "step", None),
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        ctx = ""
        run_id, step = getattr(record, "run_id", None), getattr(record, "step", None)
        if run_id is not None:
            ctx = f" [run {run_id}{' ' + step if step else ''}]"
        return f"{ts} {record.levelname:<7}{ctx} {record.getMessage()}"


def configure_logging(level: str = "INFO", fmt: str = "text", secrets: list[str] | None = None, stream=None) -> logging.Handler:
    """Install one handler on the root logger; returns it (tests capture through it)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets or []))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_segsync", False):
            root.removeHandler(old)
    handler._segsync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # py4j (pyspark's bridge to the JVM) logs every socket it closes at INFO, also from finalisers
    # at interpreter exit, when the stream may be gone (pytest's capture): only its warnings count
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler", "py4j"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler
