"""What the API answers, without the HTTP: look-ups, live scoring and events over one snapshot.

The loaded snapshot and its models are one object, `Loaded`, replaced by a single attribute
assignment; a request takes one reference at its start, so it answers entirely from one
version even while a new one is swapped in.

Events and the arms /v1/score assigns are written through the journal (group commit) and
answered only once durable. A customer with events newer than the snapshot is answered from
the snapshot row moved by those events (segmentation.increment for purchases,
segmentation.event_features.add_events_one for usage events: the features the next cycle
computes from the same events), re-segmented and re-scored by the live models, and their CLV
summary moved by the purchases among them (segmentation.purchase_summary) and valued again;
that answer is cached until the customer's next event or the next snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from connector.config import Config
from connector.identity import email_key, normalise_email
from connector.serve.journal import Journal
from connector.serve.live import LiveModels
from connector.serve.record import base_record, json_features, live_record, offers_for
from connector.serve.snapshot import Snapshot, current_name
from connector.state import StateStore
from connector.state.events import PURCHASE, Events
from connector.state.experiment_data import ExperimentData
from segmentation.event_features import add_events_one, event_features_of_one, no_event_values
from segmentation.events import clean_events
from segmentation.increment import add_purchases_one, features_of_one
from segmentation.purchase_summary import add_purchases_to_summary

log = logging.getLogger("segsync.serve")
BY = ("customer_id", "salesforce_id", "hubspot_id", "email")


class NotReady(Exception):
    """No snapshot has been published yet (503)."""


class BadKey(ValueError):
    """A look-up key that cannot be valid (422)."""


@dataclass(frozen=True)
class Loaded:
    name: str
    snapshot: Snapshot
    models: LiveModels


class ServeService:
    def __init__(self, config: Config, store: StateStore, *, clock: Callable[[], datetime] | None = None,
                 directory: Path | None = None, journal: Journal | None = None) -> None:
        self.config = config
        self.store = store
        self._journal = journal
        self.clock = clock or (lambda: datetime.now(UTC))
        self.directory = directory or config.snapshot_dir()
        self.current: Loaded | None = None
        self._dirty: dict[str, int] = {}  # customer_id -> newest event id accepted for them
        self._cache: dict[str, tuple[int, int, dict[str, Any]]] = {}
        self._reload_lock = threading.Lock()

    # ------------------------------------------------------------------ snapshots

    def reload(self) -> bool:
        """Load the published snapshot if it is newer than the one served; True when swapped."""
        with self._reload_lock:
            name = current_name(self.directory)
            if name is None or (self.current is not None and self.current.name == name):
                return False
            snapshot = Snapshot.load(self.directory / name)
            models = LiveModels.load(self.store, snapshot, self.config.experiments)
            pending = self.store.events.since(snapshot.events_through)
            for cid, eid in zip(pending["customer_id"], pending["id"], strict=True):
                self._dirty[str(cid)] = max(self._dirty.get(str(cid), 0), int(eid))
            self.current = Loaded(name, snapshot, models)  # the swap: one reference assignment
            self._cache = {}
            log.info("serving snapshot %s (%d customers, as of %s)", snapshot.version, len(snapshot), snapshot.as_of.date())
            return True

    def loaded(self) -> Loaded:
        current = self.current
        if current is None:
            raise NotReady("no snapshot yet: run a cycle (segsync run) first")
        return current

    # ------------------------------------------------------------------ look-ups

    def lookup(self, key: str, by: str = "customer_id", current: Loaded | None = None) -> dict[str, Any] | None:
        """The customer's answer, or None when the snapshot has no such customer (`current`: answer from that version)."""
        current = current or self.loaded()
        snap = current.snapshot
        if by == "email":
            email = normalise_email(key, self.config.identity)
            if email is None:
                return None  # nobody has that email: a 404 like any other unknown key
            key = email_key(email)
        row = snap.locate(key, by)
        if row is None:
            return None
        cid = snap.ids[row]
        newest = self._dirty.get(cid, 0)
        if newest > snap.events_through:
            return self._live(current, row, cid, newest)
        return base_record(snap, row, self._running(current))

    def _running(self, current: Loaded) -> list[str]:
        return [s.key for s in current.models.running(self.clock())]

    def _live(self, current: Loaded, row: int, cid: str, newest: int) -> dict[str, Any]:
        cached = self._cache.get(cid)
        if cached is not None and cached[0] == current.snapshot.version and cached[1] == newest:
            return cached[2]
        snap = current.snapshot
        events = self.store.events.of_customer(cid, snap.events_through)
        bought = [(pd.Timestamp(when), float(value)) for _, kind, when, value in events if kind == PURCHASE and value is not None]
        values = {k: (float("nan") if v is None else v) for k, v in snap.feature_values(row).items()}
        when, amounts = [t for t, _ in bought], [a for _, a in bought]
        moved = add_purchases_one(values, when, amounts, snap.as_of)
        if any(kind != PURCHASE for _, kind, _, _ in events):
            moved = self._with_live_usage(snap, row, cid, moved)
        evaluation = current.models.evaluate(moved)
        record = live_record(snap, row, self._running(current), evaluation, [(i, kind) for i, kind, _, _ in events], moved)
        if bought and snap.has_clv_summary:  # the CLV the cycle would give with these purchases
            summary = add_purchases_to_summary(snap.clv_summary(row), when, amounts, snap.as_of)
            record["clv"], record["p_alive"] = current.models.value(summary)
        self._cache[cid] = (snap.version, newest, record)
        return record

    # ------------------------------------------------------------------ scoring

    def score(self, customer_id: str | None, email: str | None, attributes: dict[str, Any],
              transactions: Sequence[dict[str, Any]], created_at: datetime | None) -> Future[dict[str, Any]]:
        """Segment, scores, CLV and offers for a customer from the request's data, computed for
        this one row (the batch path's numbers without its DataFrames); resolves once the arms
        it assigns are durable, so nobody sees an arm that is not stored."""
        current = self.loaded()
        snap = current.snapshot
        cid = self.resolve_key(customer_id, email)
        when, amounts = [t["occurred_at"] for t in transactions], [float(t["amount"]) for t in transactions]
        values: dict[str, Any] = dict(features_of_one(when, amounts, created_at, snap.as_of))
        values.update({a: attributes.get(a) for a in self.config.segmentation.attributes})
        values.update(self._usage(snap, cid))
        features = {name: values.get(name, float("nan")) for name in snap.meta["features"]}
        evaluation = current.models.evaluate(features)
        clv, p_alive = current.models.clv(when, amounts, snap.as_of)
        segment_id = evaluation.segment_id
        record = {
            "customer_id": cid, "known": snap.locate(cid) is not None,
            "segment_id": segment_id, "segment_name": snap.segment_table().get(segment_id or "", (None, None))[0],
            "scores": evaluation.scores, "reasons": evaluation.reasons, "clv": clv, "p_alive": p_alive,
            "offers": offers_for(snap, segment_id), "arms": {}, "features": json_features(features),
            "run_id": snap.version, "as_of": snap.as_of.isoformat(), "snapshot_version": snap.version,
        }
        now = self.clock()
        running = {s.key for s in current.models.running(now)}
        existing = self.store.experiments.arm_names_of(cid)
        new = current.models.new_arms(cid, segment_id, existing, now) if segment_id is not None else []
        done: Future[dict[str, Any]] = Future()
        if not new:  # nothing to store: every arm shown is already durable
            done.set_result({**record, "arms": {e: a for e, a in existing.items() if e in running}})
            return done
        at = now.isoformat()
        stored = self.journal.submit(lambda c: ExperimentData.insert_arms(c, cid, segment_id, new, at))
        stored.add_done_callback(lambda f: _chain(f, done, lambda arms: {**record, "arms": {e: a for e, a in arms.items() if e in running}}))
        return done

    def _usage(self, snap: Snapshot, cid: str) -> dict[str, Any]:
        """The usage features /v1/score scores with (none unless features.events is set): the
        snapshot's for a customer it holds (the request carries no events), moved by the events
        this API accepted for them since; for a new customer those of the events this API accepted
        for them; with none, what the cycle gives a customer without events (counts 0, days since
        never), not missing values."""
        if self.config.features.events is None:
            return {}
        spec = self.config.features.events.spec()
        row = snap.locate(cid)
        if row is not None:
            held = snap.feature_values(row)
            values = {name: float("nan") if held.get(name) is None else held[name] for name in spec.columns if name in held}
            return self._with_live_usage(snap, row, cid, values) if self._dirty.get(cid, 0) > snap.events_through else values
        if not any(kind in spec.types for _, kind, _, _ in self.store.events.of_customer(cid, 0)):
            return no_event_values(spec)  # the common case, without a DataFrame
        events, _ = clean_events(self.store.events.since(0, customer_id=cid))
        return event_features_of_one(events, snap.as_of, spec)

    def _with_live_usage(self, snap: Snapshot, row: int, cid: str, values: dict[str, Any]) -> dict[str, Any]:
        """`values` (the snapshot row's features) with the usage features moved by the customer's
        live events newer than the snapshot, as the next cycle computes them from every event
        (segmentation.event_features.add_events_one); unmoved without features.events or in a
        snapshot that holds no usage state."""
        if self.config.features.events is None:
            return values
        spec = self.config.features.events.spec()
        state = snap.usage_state(row, spec.types)
        if state is None or any(name not in values for name in spec.columns):
            return values
        live, _ = clean_events(self.store.events.since(snap.events_through, customer_id=cid))
        return add_events_one(values, *state, live, snap.as_of, spec) if len(live) else values

    def resolve_key(self, customer_id: str | None, email: str | None) -> str:
        if customer_id:
            return customer_id
        normalised = normalise_email(email, self.config.identity) if email else None
        if normalised is None:
            raise BadKey("email: not an email address" if email else "customer_id or email: one is required")
        return email_key(normalised)

    # ------------------------------------------------------------------ events

    def add_events(self, events: Sequence[dict[str, Any]]) -> Future[dict[str, Any]]:
        """Commit the events (group commit), then mark their customers for a live answer; resolves
        to the ack body once they are durable and the next read reflects them."""
        rows = list(events)

        def mark(last: int) -> None:
            for e in rows:
                self._dirty[e["customer_id"]] = last

        stored = self.journal.submit(lambda c: Events.insert(c, rows), after=mark)
        done: Future[dict[str, Any]] = Future()
        stored.add_done_callback(lambda f: _chain(f, done, lambda last: {"accepted": len(rows), "last_event_id": last}))
        return done

    @property
    def journal(self) -> Journal:
        """Where the API's writes go: their own connection, committed in groups (opened on first use)."""
        if self._journal is None:
            with self._reload_lock:
                if self._journal is None:
                    self._journal = Journal(StateStore(self.store.path, redact=self.store.secrets, synchronous="FULL"))
        return self._journal

    def journal_counts(self) -> tuple[int, int]:
        """(commits, writes) of the journal so far; writes / commits is how many shared a commit."""
        return (self._journal.commits, self._journal.writes) if self._journal is not None else (0, 0)

    def close(self) -> None:
        """Commit pending writes and close the journal (its own connection)."""
        if self._journal is not None:
            self._journal.close()


def _chain(source: Future[Any], target: Future[Any], then: Callable[[Any], Any]) -> None:
    """Resolve `target` with then(source's result), or with source's exception."""
    exc = source.exception()
    if exc is not None:
        target.set_exception(exc)
    else:
        target.set_result(then(source.result()))
