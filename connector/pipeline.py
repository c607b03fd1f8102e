"""One cycle as named steps, each checkpointed under the run id.

pull -> features -> segment -> score -> offers -> assign -> plan -> push -> measure -> publish

`assign` runs before `plan` and `push` (DESIGN.md draws it after): an arm must be stored
before any CRM shows it, or a crash between the push and the assignment could expose a
customer to an arm that was never recorded, and a later weight change would then move them.

Steps exchange typed results, one dataclass per step (`StepResults`), and only a small
`CycleResult` (status, counts, plan summaries, lift) leaves `run_cycle`: the step results hold
DataFrames of the whole population and are dropped with the cycle, so a daemon that runs for
months keeps nothing of a cycle but its summary.

Every step is idempotent against the state store: pulls resume from cursors that moved only
with the data, pushes send the diff of the desired state against the ledger of what the CRM
confirmed, arms are sticky. So a run that died is finished by simply running the cycle again:
the next run marks it 'resumed' and does what is left.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from connector.config import Config
from connector.crm.errors import ConfigurationError, QuotaExceededError
from connector.logs import log_context
from connector.metrics import Metrics
from connector.state import StateStore
from connector.state.store import describe_state_error

if TYPE_CHECKING:
    import pandas as pd

    from connector.crm.registry import Plugins
    from connector.engine import Engine
    from connector.lifecycle import ModelRegistry
    from connector.steps.experiment import AssignResult, MeasureResult
    from connector.steps.model import FeaturesResult, ScoreResult, SegmentResult
    from connector.steps.offers import OffersResult
    from connector.steps.plan import PlanResult
    from connector.steps.pull import PullResult

log = logging.getLogger("segsync.pipeline")

_COUNT_LOCK = threading.Lock()
STEPS = ("pull", "features", "segment", "score", "offers", "assign", "plan", "push", "measure", "publish")


class Interrupted(Exception):
    """A stop was requested (SIGTERM/SIGINT); the current step reached a checkpoint."""


@dataclass
class StepResults:
    """What the steps of one cycle produced, one typed result per step (None: not run, or
    nothing to do). Lives only as long as the cycle."""

    pull: PullResult | None = None
    features: FeaturesResult | None = None
    segment: SegmentResult | None = None
    score: ScoreResult | None = None
    offers: OffersResult | None = None
    assign: AssignResult | None = None
    plan: PlanResult | None = None
    measure: MeasureResult | None = None

    def record(self, step: str, result: object) -> None:
        """Keep a step's result; a step that returns something of another type is a bug."""
        if result is None:
            return
        from connector.steps import RESULT_TYPES

        expected = RESULT_TYPES.get(step)
        if expected is None or not isinstance(result, expected):
            want = expected.__name__ if expected else "nothing"
            raise TypeError(f"step {step!r} returned a {type(result).__name__}; it should return {want}")
        setattr(self, step, result)


@dataclass
class CycleContext:
    """What a step gets: its config, the store, the run id, a stop check, and the earlier steps' results."""

    config: Config
    store: StateStore
    run_id: int
    dry_run: bool
    stop: threading.Event
    metrics: Metrics
    results: StepResults = field(default_factory=StepResults)
    counts: dict[str, int] = field(default_factory=dict)
    connector_factory: Callable[[Config], dict[str, Any]] | None = None
    _plugins: Plugins | None = None
    _registry: ModelRegistry | None = None
    _engine: Engine | None = None
    #: What the cycle holds outside this process (tables an engine persisted), freed at close.
    _releases: list[Callable[[], None]] = field(default_factory=list)

    def hold(self, release: Callable[[], None]) -> None:
        """Call `release` when the cycle closes (e.g. a DataFrame's unpersist: a daemon's engine
        session outlives its cycles, and must not keep every cycle's tables)."""
        self._releases.append(release)

    def registry(self) -> ModelRegistry:
        """The model registry (versions, champion/challenger, the configured tracker), opened once."""
        if self._registry is None:
            from connector.lifecycle import open_registry

            self._registry = open_registry(self.store.models, self.config.tracking,
                                           state_path=self.config.resolve(self.config.state.path))
        return self._registry

    def engine(self) -> Engine:
        """Where features, segmentation, scoring and CLV compute (`engine:`), opened once."""
        if self._engine is None:
            from connector.engine import open_engine

            self._engine = open_engine(self.config.engine)
        return self._engine

    def plugins(self) -> Plugins:
        """The configured sources and destinations (connector.crm.registry), opened once per cycle."""
        if self._plugins is None:
            from connector.crm.registry import open_plugins

            self._plugins = open_plugins(self.config, self.connector_factory(self.config) if self.connector_factory else None)
            for plugin in self._plugins:
                counter = getattr(plugin, "counter", None)
                if counter is not None:  # CRM requests by status code, for Prometheus
                    counter.subscribe(lambda obs: self.metrics.crm_request(obs.crm, obs.status))
                    counter.subscribe(lambda obs: self.count(f"requests_{obs.crm}_{obs.method.lower()}"))
        return self._plugins

    def close(self) -> None:
        while self._releases:
            self._releases.pop()()
        if self._plugins is not None:
            self._plugins.close()

    def check_stop(self) -> None:
        """Called between batches: raise Interrupted at this checkpoint if a stop was requested."""
        if self.stop.is_set():
            raise Interrupted("stop requested")

    def count(self, key: str, n: int = 1) -> None:
        with _COUNT_LOCK:  # request counters report from the transport's threads
            self.counts[key] = self.counts.get(key, 0) + n


StepFn = Callable[[CycleContext], object]


@dataclass(frozen=True)
class CycleResult:
    """The summary of one cycle: everything in it is small (bounded by the number of
    destinations, experiments, segments and arms, never by the number of customers).

    plan: per-destination summaries (connector.steps.plan.DestinationPlan.summary);
    power: minimum detectable lift rows per experiment segment and arm;
    lift: experiments.analysis rows per experiment x segment x arm, or None;
    as_of: the data's day (None when nothing was pulled)."""

    run_id: int
    status: str
    counts: dict[str, int]
    error: str | None
    as_of: pd.Timestamp | None = None
    plan: tuple[dict[str, Any], ...] = ()
    power: tuple[dict[str, Any], ...] = ()
    lift: pd.DataFrame | None = None
    #: The cycle stopped on a configuration or input problem (a person must fix the config, a
    #: file or the state file): `error` is the one-line message, and `segsync run` exits 2.
    invalid_input: bool = False


def summarise(run_id: int, status: str, counts: dict[str, int], error: str | None, results: StepResults) -> CycleResult:
    """The CycleResult of a cycle: its summaries, none of the step results' population frames."""
    plan, measure = results.plan, results.measure
    return CycleResult(
        run_id, status, dict(counts), error,
        as_of=results.features.as_of if results.features is not None else None,
        plan=tuple(plan.summaries) if plan is not None else (),
        power=tuple(plan.power) if plan is not None else (),
        lift=measure.lift if measure is not None else None,
    )


def default_steps() -> dict[str, StepFn]:
    """The step implementations (imported lazily so `segsync validate` stays fast)."""
    from connector.steps import STEP_FUNCTIONS

    return STEP_FUNCTIONS


def run_cycle(
    config: Config,
    store: StateStore,
    *,
    dry_run: bool = False,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
    steps: dict[str, StepFn] | None = None,
    connector_factory: Callable[[Config], dict[str, Any]] | None = None,
    observe: Callable[[StepResults], None] | None = None,
) -> CycleResult:
    """Run one cycle now. The caller holds the state lock.

    `connector_factory` builds plugins by name (tests and the demo pass one that mounts the
    sandbox in-process); they replace the registry's own of that name, and every other
    configured source and destination is opened from the config (connector.crm.registry). `observe`, if given, is
    called once with the step results before they are dropped (tests and benchmarks look
    inside a cycle with it; the daemon and the CLI never pass one).
    """
    stop = stop or threading.Event()
    metrics = metrics or Metrics.disabled()
    steps = default_steps() if steps is None else steps
    previous = store.runs.unfinished()
    if previous is not None:
        log.warning("run %s did not finish (stopped in step %s); this run completes its work", previous.id, previous.current_step)
        store.runs.finish(previous.id, "resumed", counts=previous.counts, error="completed by a later run")
    run_id = store.runs.start(dry_run=dry_run, resumed_from=previous.id if previous else None)
    ctx = CycleContext(config, store, run_id, dry_run, stop, metrics, connector_factory=connector_factory)
    started = time.monotonic()
    status, error, invalid, ctrl_c = "succeeded", None, False, False
    with log_context(run_id=run_id):
        log.info("cycle started%s", " (dry run: nothing is written to any CRM)" if dry_run else "")
        try:
            for name in STEPS:
                fn = steps.get(name)
                if fn is None:
                    continue
                ctx.check_stop()
                with log_context(step=name):
                    store.runs.step_started(run_id, name)
                    ctx.results.record(name, fn(ctx))
                    store.runs.step_done(run_id, name)
        except Interrupted:
            status, error = "interrupted", "stopped by signal at a checkpoint"
            log.warning("cycle interrupted at a checkpoint; the next run continues from there")
        except KeyboardInterrupt:  # Ctrl-C in `segsync run`: recorded, never left "running"
            status, error, ctrl_c = "interrupted", "interrupted (Ctrl-C)", True
            log.warning("cycle interrupted by Ctrl-C; the next run continues from the last checkpoint")
        except QuotaExceededError as exc:
            status, error = "quota_stopped", str(exc)
            log.warning("cycle stopped at the CRM's API quota, every checkpoint kept; the next run resumes: %s", exc)
        except (ConfigurationError, sqlite3.DatabaseError) as exc:
            # a config, input-file or state-file problem: the message says what to fix, a traceback would not
            text = describe_state_error(store.path, exc) if isinstance(exc, sqlite3.DatabaseError) else str(exc)
            status, error, invalid = "failed", text, True
            log.error("cycle stopped: %s", text)
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised for the exit code
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("cycle failed")
        try:
            ctx.close()
        except Exception:  # noqa: BLE001 - closing must not mask the cycle's own outcome
            log.warning("closing a connector failed", exc_info=True)
        store.runs.finish(run_id, status, counts=ctx.counts, error=error)
        metrics.run_finished(status, time.monotonic() - started)
        log.info("cycle %s in %.1f s: %s", status, time.monotonic() - started, _fmt_counts(ctx.counts))
    if observe is not None:
        observe(ctx.results)
    if ctrl_c:
        raise KeyboardInterrupt
    return replace(summarise(run_id, status, ctx.counts, store.redact(error), ctx.results), invalid_input=invalid)


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "nothing to do"
