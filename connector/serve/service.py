"""What the API answers, without the HTTP: look-ups, live scoring and events over one snapshot.

The loaded snapshot and its models are one object, `Loaded`, replaced by a single attribute
assignment; a request takes one reference at its start, so it answers entirely from one
version even while a new one is swapped in.

Events are committed to the state store before `add_events` returns. A customer with events
newer than the snapshot is answered from the snapshot row moved by those events
(segmentation.increment), re-segmented and re-scored by the live models; that answer is
cached until the customer's next event or the next snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from connector.config import Config
from connector.identity import email_key, normalise_email
from connector.serve.live import LiveModels
from connector.serve.record import base_record, live_record, offers_for
from connector.serve.snapshot import Snapshot, current_name
from connector.state import StateStore
from connector.state.events import PURCHASE
from segmentation.increment import add_purchases_one, features_of_one

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
                 directory: Path | None = None) -> None:
        self.config = config
        self.store = store
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
        moved = add_purchases_one(values, [t for t, _ in bought], [a for _, a in bought], snap.as_of)
        features = pd.DataFrame({k: [moved[k]] for k in snap.meta["features"]}, index=pd.Index([cid], name="customer_id"))
        evaluation = current.models.evaluate(features)[0]
        record = live_record(snap, row, self._running(current), evaluation, [(i, kind) for i, kind, _, _ in events], features)
        self._cache[cid] = (snap.version, newest, record)
        return record

    # ------------------------------------------------------------------ scoring

    def score(self, customer_id: str | None, email: str | None, attributes: dict[str, Any],
              transactions: Sequence[dict[str, Any]], created_at: datetime | None) -> dict[str, Any]:
        """Segment, scores and offers for a customer from the request's data; arms stored first."""
        current = self.loaded()
        snap = current.snapshot
        cid = self.resolve_key(customer_id, email)
        features = self._features(snap, cid, attributes, transactions, created_at)
        evaluation = current.models.evaluate(features)[0]
        segment_id = evaluation.segment_id
        table = snap.segment_table()
        name, _ = table.get(segment_id or "", (None, None))
        now = self.clock()
        if segment_id is not None:
            existing = self.store.experiments.arms_of(cid)
            new = current.models.new_arms(cid, segment_id, existing, now)
            self.store.experiments.add_arms(new)  # stored before anyone sees them
        arms = self.store.experiments.arms_of(cid)
        running = set(self._running(current))
        return {
            "customer_id": cid, "known": snap.locate(cid) is not None,
            "segment_id": segment_id, "segment_name": name,
            "scores": evaluation.scores, "reasons": evaluation.reasons, "clv": None,
            "offers": offers_for(snap, segment_id),
            "arms": {e: a for e, a in zip(arms["experiment"], arms["arm"], strict=True) if e in running},
            "run_id": snap.version, "as_of": snap.as_of.isoformat(), "snapshot_version": snap.version,
        }

    def resolve_key(self, customer_id: str | None, email: str | None) -> str:
        if customer_id:
            return customer_id
        normalised = normalise_email(email, self.config.identity) if email else None
        if normalised is None:
            raise BadKey("email: not an email address" if email else "customer_id or email: one is required")
        return email_key(normalised)

    def _features(self, snap: Snapshot, cid: str, attributes: dict[str, Any], transactions: Sequence[dict[str, Any]],
                  created_at: datetime | None) -> pd.DataFrame:
        """The one-row feature frame the models take, in the snapshot's columns (absent ones NaN)."""
        values: dict[str, Any] = dict(features_of_one(
            [t["occurred_at"] for t in transactions], [t["amount"] for t in transactions], created_at, snap.as_of))
        values.update({a: attributes.get(a) for a in self.config.segmentation.attributes})
        row = {name: [values.get(name, float("nan"))] for name in snap.meta["features"]}
        return pd.DataFrame(row, index=pd.Index([cid], name="customer_id"))

    # ------------------------------------------------------------------ events

    def add_events(self, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Commit the events, then mark their customers for a live answer; returns the ack body."""
        last = self.store.events.add(events)
        for e in events:
            self._dirty[e["customer_id"]] = last
        return {"accepted": len(events), "last_event_id": last}
