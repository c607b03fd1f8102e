"""The retry policy of the transport, on tenacity: what is retried, how long to wait, when to stop.

- Retried: `RetriableError` (the classifiers' verdict for 429, 5xx and 408, and the
  transport's for timeouts and dropped connections). Nothing else: a quota stop, a refused
  credential or a wrong request is raised at once.
- Wait: the server's Retry-After when it gave one (or a classifier's window, e.g. HubSpot's
  10 s for a 429 without the header); else capped exponential backoff with "equal jitter",
  uniform in [cap/2, cap] where cap = min(max, base * 2^(attempt-1)), so concurrent
  clients spread out but never retry at once.
- Stop: after `max_attempts` attempts, or before a wait that would take the total waited
  for this request past `max_wait_seconds`. Waits are summed from the waits themselves
  (tenacity's idle_for), not a clock, so an injected clock keeps tests exact.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from connector.config import HttpConfig
from connector.crm.errors import RetriableError
from connector.crm.redaction import redact

log = logging.getLogger("segsync.http")


class RetryPolicy:
    """Backoff, stop and logging for one transport's requests."""

    def __init__(self, config: HttpConfig, crm: str, rng: random.Random | None = None) -> None:
        self.config = config
        self.crm = crm
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), jittered."""
        cap = min(self.config.backoff_max_seconds, self.config.backoff_base_seconds * 2 ** (attempt - 1))
        return self._rng.uniform(cap / 2, cap)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return self.backoff(state.attempt_number)

    def stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.config.max_attempts:
            return True
        return state.idle_for + state.upcoming_sleep > self.config.max_wait_seconds

    def log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: retrying after %s (attempt %d of %d, waiting %.1f s)",
            self.crm,
            redact(str(exc)),
            state.attempt_number,
            self.config.max_attempts,
            state.upcoming_sleep,
        )

    def retrying(self, sleep: Callable[[float], Any]) -> Retrying:
        """A tenacity controller for one request, sleeping with `sleep`."""
        return Retrying(
            retry=retry_if_exception_type(RetriableError),
            wait=self.wait,
            stop=self.stop,
            sleep=sleep,
            before_sleep=self.log_retry,
            reraise=True,
        )
