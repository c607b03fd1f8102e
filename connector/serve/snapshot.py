"""The serving snapshot: a cycle's results as columns plus an index, published atomically.

On disk a snapshot is a folder `run-<run_id>/` with `columns.npz` (plain arrays, read with
allow_pickle=False, so a replica can load one it did not write) and `meta.json`; the file
`CURRENT` names the live folder and is replaced atomically (write, fsync, rename), so a reader
sees the old snapshot or the new one, never half of one.

In memory every column is a numpy array of one row per customer; a look-up is one dict probe
for the row number and a few array reads, never a scan. Text columns that repeat (segment,
reasons, arms) are held as integer codes into a small table of their values.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segmentation.event_features import UsageState, adopted_names

CURRENT = "CURRENT"
KEEP = 2
LOOKUPS = ("customer_id", "salesforce_id", "hubspot_id", "email")
UNIT = "\x1f"  # joins a segment's offers in one text cell (no product name contains it)


@dataclass
class SnapshotTables:
    """What a cycle hands to `publish`. Frames are keyed by customer_id.

    customers: customer_id, email_key (identity.email_key of the normalised email, or None),
    salesforce_id, hubspot_id. segments: customer_id, segment_id, segment_name. scores:
    customer_id-indexed, one column per score, <score>_reasons, clv, p_alive (any may be
    absent). features: customer_id-indexed, the features the models were fitted on. arms:
    experiment, customer_id, arm. actions: segment_id -> the segment's action. offers:
    customer_id, offer_1..3, offer_reasons (or None); segment_offers: segment_id -> the
    segment's own top offers (for a customer whose segment moved, or a new one). clv: the
    fitted CLV model's parameters (segmentation.clv.ClvModel.to_dict), or None. clv_summary:
    customer_id-indexed frequency, recency, T, monetary_value in days (the summary the CLV model
    valued, segmentation.purchase_summary), so live purchases can move it; or None.
    usage_state: the cycle's segmentation.event_features.UsageState (events in the trend window,
    features adopted), so live usage events move the usage features exactly; or None.
    """

    run_id: int
    as_of: pd.Timestamp
    customers: pd.DataFrame
    segments: pd.DataFrame
    scores: pd.DataFrame | None
    features: pd.DataFrame
    arms: pd.DataFrame | None
    actions: dict[str, str]
    score_names: list[str]
    models: dict[str, int] = field(default_factory=dict)
    events_through: int = 0
    offers: pd.DataFrame | None = None
    segment_offers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clv: dict[str, Any] | None = None
    clv_summary: pd.DataFrame | None = None
    usage_state: UsageState | None = None


#: The CLV summary's columns, as snapshot columns "clv.<name>" (NaN: no purchase by the cutoff).
CLV_SUMMARY = ("frequency", "recency", "T", "monetary_value")


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int32), np.asarray([str(u) for u in uniques], dtype=str)


def _columns(t: SnapshotTables) -> dict[str, np.ndarray]:
    ids = pd.Index(t.segments["customer_id"].astype(str))
    cols: dict[str, np.ndarray] = {"customer_id": ids.to_numpy(dtype=str)}
    cust = t.customers.assign(customer_id=t.customers["customer_id"].astype(str)).drop_duplicates("customer_id")
    cust = cust.set_index("customer_id").reindex(ids)
    for name, src in (("salesforce_id", "salesforce_id"), ("hubspot_id", "hubspot_id"), ("email", "email_key")):
        values = cust[src] if src in cust else pd.Series(None, index=ids, dtype=object)
        cols[f"key.{name}"] = values.fillna("").astype(str).to_numpy(dtype=str)
    cols["segment.code"], cols["segment.ids"] = _codes(t.segments["segment_id"].astype(str))
    names = t.segments.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    cols["segment.names"] = np.asarray([str(names.get(s, s)) for s in cols["segment.ids"]], dtype=str)
    cols["segment.actions"] = np.asarray([t.actions.get(s, "") for s in cols["segment.ids"]], dtype=str)
    cols["segment.offers"] = np.asarray([UNIT.join(t.segment_offers.get(s, ())) for s in cols["segment.ids"]], dtype=str)
    scores = t.scores.reindex(ids) if t.scores is not None else pd.DataFrame(index=ids)
    for name in [*t.score_names, "clv", "p_alive"]:
        if name in scores:
            cols[f"score.{name}"] = scores[name].to_numpy(dtype=np.float64)
        if f"{name}_reasons" in scores:
            cols[f"reasons.{name}.code"], cols[f"reasons.{name}.values"] = _codes(scores[f"{name}_reasons"].fillna(""))
    if t.clv_summary is not None:
        summary = t.clv_summary.reindex(ids)
        for name in CLV_SUMMARY:
            cols[f"clv.{name}"] = summary[name].to_numpy(dtype=np.float64)
    if t.usage_state is not None:
        cols.update(_usage_columns(t.usage_state, ids))
    feats = t.features.reindex(ids)
    for name in feats.columns:
        col = feats[name]
        if pd.api.types.is_numeric_dtype(col):
            cols[f"feature.{name}"] = col.to_numpy(dtype=np.float64)
        else:
            cols[f"category.{name}.code"], cols[f"category.{name}.values"] = _codes(col)
    if t.arms is not None and len(t.arms):
        for exp, group in t.arms.groupby("experiment"):
            arm = group.drop_duplicates("customer_id").set_index("customer_id")["arm"].reindex(ids)
            cols[f"arm.{exp}.code"], cols[f"arm.{exp}.values"] = _codes(arm)
    if t.offers is not None and len(t.offers):
        offers = t.offers.assign(customer_id=t.offers["customer_id"].astype(str)).set_index("customer_id").reindex(ids)
        for name in ("offer_1", "offer_2", "offer_3", "offer_reasons"):
            if name in offers:
                cols[f"offer.{name}.code"], cols[f"offer.{name}.values"] = _codes(offers[name])
    return cols


def _usage_columns(state: UsageState, ids: pd.Index) -> dict[str, np.ndarray]:
    """The usage state as rows of this snapshot (zeros for a customer without events)."""
    rows = state.customers.get_indexer(ids)
    found = rows >= 0
    trend_n = np.zeros((len(ids), state.trend_n.shape[1]), dtype=np.int32)
    adopted = np.zeros((len(ids), state.adopted.shape[1]), dtype=np.uint64)
    trend_n[found], adopted[found] = state.trend_n[rows[found]], state.adopted[rows[found]]
    return {"usage.trend_n": trend_n, "usage.adopted": adopted, "usage.types": np.asarray(state.types, dtype=str),
            "usage.features": np.asarray(state.features, dtype=str)}


def publish(directory: Path, tables: SnapshotTables) -> Path:
    """Write the snapshot and make it current; returns its folder. Older folders beyond KEEP go."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"run-{tables.run_id}"
    tmp = directory / f".run-{tables.run_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    np.savez(tmp / "columns.npz", **_columns(tables))  # type: ignore[arg-type]  # numpy stubs read ** as allow_pickle
    meta = {
        "version": tables.run_id, "as_of": tables.as_of.isoformat(), "score_names": tables.score_names,
        "models": tables.models, "events_through": tables.events_through,
        "published_at": pd.Timestamp.now(tz="UTC").isoformat(), "customers": len(tables.segments),
        "features": list(map(str, tables.features.columns)), "clv": tables.clv,
    }
    (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    _write_atomically(directory / CURRENT, target.name)
    _prune(directory, keep={target.name})
    return target


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _prune(directory: Path, keep: set[str]) -> None:
    runs = sorted((p for p in directory.glob("run-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[KEEP:]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def current_name(directory: Path) -> str | None:
    """The folder name CURRENT points at, or None before the first publish."""
    try:
        return (directory / CURRENT).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


class Snapshot:
    """One loaded snapshot: columns by name, the look-up indexes and the meta."""

    def __init__(self, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.columns = columns
        self.meta = meta
        self.version = int(meta["version"])
        self.as_of = pd.Timestamp(meta["as_of"])
        self.published_at = pd.Timestamp(meta["published_at"])
        self.events_through = int(meta.get("events_through", 0))
        self.score_names: list[str] = list(meta.get("score_names", []))
        ids = columns["customer_id"].tolist()
        self.ids: list[str] = ids
        self.index: dict[str, dict[str, int]] = {"customer_id": dict(zip(ids, range(len(ids)), strict=True))}
        for name in LOOKUPS[1:]:
            keys = columns[f"key.{name}"]
            present = np.flatnonzero(keys != "")  # most customers lack one of the CRM ids
            self.index[name] = dict(zip(keys[present].tolist(), present.tolist(), strict=True))
        c = columns
        self._segments = {str(i): (str(n), str(a)) for i, n, a in zip(c["segment.ids"], c["segment.names"], c["segment.actions"], strict=True)}
        offers = c.get("segment.offers", np.full(len(c["segment.ids"]), "", dtype=str))
        self.segment_offers = {str(i): tuple(o for o in str(v).split(UNIT) if o) for i, v in zip(c["segment.ids"], offers, strict=True)}
        self.experiments = sorted({k.split(".")[1] for k in columns if k.startswith("arm.") and k.endswith(".code")})
        # what a look-up reads, resolved once: the coded text columns (small value tables as
        # Python strings; a large one, such as a million customers' reason codes, stays an array),
        # each segment as a tuple, the features with their column
        self._texts = {k[:-5]: (v, _table(columns[k[:-5] + ".values"])) for k, v in columns.items()
                       if k.endswith(".code") and k[:-5] + ".values" in columns}
        self._segment_rows = [(str(i), str(n), str(a)) for i, n, a in zip(c["segment.ids"], c["segment.names"], c["segment.actions"], strict=True)]
        self._features = [(name, columns.get(f"feature.{name}"), self._texts.get(f"category.{name}")) for name in meta["features"]]

    @classmethod
    def load(cls, folder: Path) -> Snapshot:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        with np.load(folder / "columns.npz", allow_pickle=False) as data:
            columns = {k: data[k] for k in data.files}
        return cls(columns, meta)

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, key: str, by: str = "customer_id") -> int | None:
        return self.index[by].get(key)

    def text(self, prefix: str, row: int) -> str | None:
        """A coded text column's value at `row` (None where it is missing)."""
        codes, values = self._texts[prefix]
        code = int(codes[row])
        return None if code < 0 else str(values[code])

    def has_text(self, prefix: str) -> bool:
        return prefix in self._texts

    def number(self, name: str, row: int) -> float | None:
        col = self.columns.get(name)
        if col is None:
            return None
        value = float(col[row])
        return None if value != value else value  # NaN -> None (JSON has no NaN)

    def clv_summary(self, row: int) -> tuple[float, float, float, float] | None:
        """The row's CLV summary (frequency, recency, T, monetary_value in days); None without a
        purchase by the cutoff, or in a snapshot published before it held one."""
        if "clv.frequency" not in self.columns:
            return None
        frequency, recency, T, money = (float(self.columns[f"clv.{name}"][row]) for name in CLV_SUMMARY)
        return None if frequency != frequency else (frequency, recency, T, money)  # NaN: no purchase

    def usage_state(self, row: int, types: tuple[str, ...]) -> tuple[dict[str, int], tuple[str, ...]] | None:
        """The row's usage state (type -> events in the trend window, features adopted), what live
        usage events move the usage features with; None in a snapshot without one (published
        before it held one, or for other event types)."""
        if "usage.types" not in self.columns or tuple(self.columns["usage.types"].tolist()) != tuple(types):
            return None
        trend_n = dict(zip(types, map(int, self.columns["usage.trend_n"][row]), strict=True))
        return trend_n, adopted_names(self.columns["usage.adopted"][row], tuple(self.columns["usage.features"].tolist()))

    @property
    def has_clv_summary(self) -> bool:
        return "clv.frequency" in self.columns

    def segment(self, row: int) -> tuple[str, str, str]:
        """(segment_id, segment_name, action) of a row."""
        return self._segment_rows[int(self.columns["segment.code"][row])]

    def segment_table(self) -> dict[str, tuple[str, str]]:
        """segment_id -> (segment_name, action)."""
        return self._segments

    def feature_values(self, row: int) -> dict[str, float | str | None]:
        """The row's features by name (None where missing), as the answer shows them."""
        out: dict[str, float | str | None] = {}
        for name, numbers, coded in self._features:
            if numbers is not None:
                value = float(numbers[row])
                out[name] = None if value != value else value  # NaN -> None (JSON has no NaN)
            elif coded is not None:
                code = int(coded[0][row])
                out[name] = None if code < 0 else str(coded[1][code])
            else:
                out[name] = None
        return out

    def feature_row(self, row: int) -> pd.DataFrame:
        """The row's features as a one-row frame, in the columns and types the models were fitted on."""
        values: dict[str, Any] = {}
        for name in self.meta["features"]:
            if f"feature.{name}" in self.columns:
                values[name] = [float(self.columns[f"feature.{name}"][row])]
            else:
                values[name] = [self.text(f"category.{name}", row)]
        return pd.DataFrame(values, index=pd.Index([self.ids[row]], name="customer_id"))


def _table(values: np.ndarray) -> list[str] | np.ndarray:
    return [str(v) for v in values] if len(values) <= 65_536 else values


def load_current(directory: Path) -> Snapshot | None:
    name = current_name(directory)
    return None if name is None else Snapshot.load(directory / name)
