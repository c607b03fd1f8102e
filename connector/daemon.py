"""The scheduled daemon: APScheduler 3.x, one cycle at a time, graceful on SIGTERM/SIGINT.

max_instances=1 and coalesce=True so a slow cycle never overlaps the next and a backlog of
missed runs collapses into one; an explicit misfire grace time because APScheduler's default
silently drops a run that starts late (agronholm/apscheduler#296).

A daemon runs for months: it keeps the summaries of the last RECENT cycles (CycleResult holds
no population-sized frame) and nothing else of a cycle, so its memory does not grow with the
number of cycles (benchmarks/bench_daemon_memory.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from connector.config import Config, ScheduleConfig, secret_values
from connector.metrics import Metrics
from connector.pipeline import CycleResult, StepFn, run_cycle
from connector.state import StateLock, StateStore

if TYPE_CHECKING:
    from connector.serve.server import ApiServer

log = logging.getLogger("segsync.daemon")
RECENT = 50


def build_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """The APScheduler trigger for the YAML schedule (cron by default: daily at 06:00)."""
    if schedule.interval_minutes:
        return IntervalTrigger(minutes=schedule.interval_minutes, timezone=schedule.timezone)
    return CronTrigger.from_crontab(schedule.cron or "0 6 * * *", timezone=schedule.timezone)


class Daemon:
    """Holds the state lock for its whole life and runs cycles on the schedule."""

    def __init__(self, config: Config, *, steps: dict[str, StepFn] | None = None, metrics: Metrics | None = None) -> None:
        self.config = config
        self.steps = steps
        self.metrics = metrics or Metrics(enabled=config.metrics.enabled)
        self.stop = threading.Event()
        self.finished = threading.Event()
        self.results: deque[CycleResult] = deque(maxlen=RECENT)  # the last cycles' summaries
        self.scheduler = BackgroundScheduler(timezone=config.schedule.timezone)
        self._cycle_lock = threading.Lock()
        self.api: ApiServer | None = None

    def cycle(self, store: StateStore) -> None:
        """One scheduled cycle (APScheduler's job)."""
        if self.stop.is_set():
            return
        with self._cycle_lock:
            result = run_cycle(self.config, store, stop=self.stop, metrics=self.metrics, steps=self.steps)
            self.results.append(result)
            self.metrics.healthy = result.status in ("succeeded", "quota_stopped", "interrupted")

    def _start_api(self) -> ApiServer | None:
        """`serve:` in the YAML: the real-time API runs beside the schedule, on its own thread."""
        if self.config.serve is None:
            return None
        from connector.serve.server import ApiServer

        api = ApiServer(self.config)
        api.start_background()
        log.info("API on %s:%d", self.config.serve.host, api.port)
        self.api = api
        return api

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if not self.stop.is_set():
            log.info("stop requested%s: no new cycles; the current step finishes its batch",
                     f" (signal {signal.Signals(signum).name})" if signum else "")
        self.stop.set()

    def run(self, *, install_signals: bool = True, on_ready: Callable[[], None] | None = None) -> int:
        """Block until a stop is requested; returns the process exit code (0 on a clean stop)."""
        state_path = self.config.resolve(self.config.state.path)
        with StateLock(state_path):
            store = StateStore(state_path, redact=secret_values(self.config))  # as `segsync run` does
            api = None
            try:
                if install_signals:
                    signal.signal(signal.SIGTERM, self.request_stop)
                    signal.signal(signal.SIGINT, self.request_stop)
                port = self.metrics.serve(self.config.metrics) if self.config.metrics.enabled else 0
                if port:
                    log.info("metrics on http://%s:%d/metrics and /healthz", self.config.metrics.host, port)
                api = self._start_api()
                sched = self.config.schedule
                extra = {"next_run_time": datetime.now(UTC)} if sched.run_on_start else {}
                job = self.scheduler.add_job(
                    self.cycle, build_trigger(sched), args=[store], id="cycle", max_instances=1,
                    coalesce=True, misfire_grace_time=sched.misfire_grace_seconds, **extra,
                )
                self.scheduler.start()
                log.info("daemon started; next cycle at %s", job.next_run_time)
                if on_ready is not None:
                    on_ready()
                self.stop.wait()
                self.scheduler.shutdown(wait=True)  # lets a running cycle reach its checkpoint
                log.info("daemon stopped cleanly")
            finally:
                if api is not None:
                    api.stop()
                self.metrics.stop()
                store.close()
                self.finished.set()
        return 0
