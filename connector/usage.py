"""Usage events for the features step: every source's events as one canonical table, then features.

Canonical events (DESIGN.md): customer_id, occurred_at (UTC), type, value, properties, and
``feature`` when a source carries the product feature as a column. Sources today: the files
source's events file (sources.files.events) and the live events `segsync serve` accepted
(connector.state.events), the events the pull step hands on (sources.sql's events entity), and
those a CRM connector reads (Salesforce Tasks and Cases, sources.salesforce.events).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from segmentation.event_features import build_event_features
from segmentation.events import EventFeatureSpec, EventLog, clean_events

if TYPE_CHECKING:
    from connector.config import EventFeaturesConfig, FilesEvents
    from connector.state import StateStore

log = logging.getLogger("segsync.usage")
CANONICAL = ["customer_id", "occurred_at", "type", "value", "properties", "feature"]


@dataclass(frozen=True)
class Usage:
    """The coded events of a cycle and the spec that built its features (for every cutoff)."""

    log: EventLog
    spec: EventFeatureSpec
    rejected: pd.DataFrame

    def features(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        return build_event_features(self.log, cutoff, self.spec)


def read_events_file(cfg: FilesEvents, base_dir: Path) -> pd.DataFrame:
    """The events file as canonical columns (values as read; clean_events judges them)."""
    # the files plugin's loader, imported here: the steps import this module, never a plugin
    from connector.crm.files import load_table

    path = cfg.path if cfg.path.is_absolute() else base_dir / cfg.path
    raw = load_table(path, cfg.format, cfg.delimiter, "sources.files.events.path")
    named = {"customer_id_column": cfg.customer_id_column, "type_column": cfg.type_column,
             "date_column": cfg.date_column, "value_column": cfg.value_column, "feature_column": cfg.feature_column}
    missing = [f"{key} {col!r}" for key, col in named.items() if col is not None and col not in raw.columns]
    if missing:
        from connector.crm.errors import ConfigurationError

        raise ConfigurationError(f"sources.files.events: {path} has no column for {', '.join(missing)} "
                                 f"(columns: {', '.join(map(str, raw.columns[:20]))})")
    return pd.DataFrame({
        "customer_id": raw[cfg.customer_id_column], "occurred_at": raw[cfg.date_column], "type": raw[cfg.type_column],
        "value": pd.to_numeric(raw[cfg.value_column], errors="coerce") if cfg.value_column else float("nan"),
        "properties": None, "feature": raw[cfg.feature_column] if cfg.feature_column else None,
    })


def live_events(store: StateStore, through: int) -> pd.DataFrame:
    """Events `segsync serve` accepted (ids up to ``through``), as canonical columns."""
    rows = store.events.since(0)
    rows = rows[rows["id"] <= through]
    return rows.assign(feature=None)[CANONICAL]


def build_usage(cfg: EventFeaturesConfig, frames: Sequence[pd.DataFrame], customers: pd.Index,
                latest: pd.Timestamp | None = None) -> Usage | None:
    """Clean and code every source's events for ``customers``; None when there are none."""
    present = [f for f in frames if len(f)]
    if not present:
        log.info("features.events is set but no source provided events this cycle")
        return None
    events = pd.concat([f.reindex(columns=CANONICAL) for f in present], ignore_index=True)
    clean, rejected = clean_events(events, latest)
    if len(rejected):
        log.warning("%d event row(s) quarantined (first: %s)", len(rejected), rejected["reason"].iloc[0])
    spec = cfg.spec()
    coded = EventLog.from_frame(clean, spec, customers)
    log.info("usage: %d event(s) of %s for %d customer(s)", len(coded), ", ".join(spec.types), len(customers))
    return Usage(coded, spec, rejected)


def crm_events(connectors: Mapping[str, Any], keys: pd.DataFrame) -> list[pd.DataFrame]:
    """Events of every connector that reads them (``read_events``: Salesforce Tasks and Cases),
    keyed by segsync's customer_id through identity's keys (source, source_id -> customer_id);
    an event of a record no customer pull holds is left out, with a count in the log."""
    frames = []
    for name, conn in connectors.items():
        read = getattr(conn, "read_events", None)
        events = read() if read is not None else None
        if events is None:
            continue
        mine = keys[keys["source"] == name].drop_duplicates("source_id").set_index("source_id")["customer_id"]
        customer = events["customer_source_id"].astype(str).map(mine)
        if customer.isna().any():
            log.info("%s: %d event(s) of records no customer pull holds, left out", name, int(customer.isna().sum()))
        frames.append(events.assign(customer_id=customer)[customer.notna().to_numpy()])
    return frames


def frames_from(files: FilesEvents | None, base_dir: Path, store: Any, through: int,
                pulled: Sequence[pd.DataFrame | None] = ()) -> list[pd.DataFrame]:
    """Every source's events: those the pull step handed on (sources.sql), the events file, then
    the live events."""
    frames = [f for f in pulled if f is not None]
    if files is not None:
        frames.append(read_events_file(files, base_dir))
    frames.append(live_events(store, through))
    return frames
