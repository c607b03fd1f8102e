"""The desired state on the executors: one Spark row per customer, the pandas path's columns.

The cycle's results are joined on Spark (segments, the customers' record ids, scores, the
current arms, offers) and every partition becomes its desired state through the pandas path's
own pure function (connector.steps.desired.desired_table, via mapInPandas), so both engines
write the same values by construction. Each destination's comparison keys are added on the
way, for the diff against its ledger (connector.engine.spark.changes):

- `_values_<destination>`: the record's mapped values as the ledger stores them (sorted JSON of
  connector.steps.desired.record_values), null without a record id in that destination;
- `_lists_<destination>`: the names of the lists the record belongs to, sorted, one per line
  (null: none).

`_order` keeps the segments' row order, the order in which the pandas path plans (and so
batches) its writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from connector.steps.desired import OFFER_KEYS, desired_table, list_memberships, record_values

if TYPE_CHECKING:
    from connector.config import ExperimentConfig, ListsConfig

ORDER = "_order"
_ARM = "_arm_"


@dataclass(frozen=True)
class DestinationKeys:
    """What the diff of one field destination compares: its mapped keys present in the desired
    state, the column holding its record ids, its list templates (None: no lists)."""

    name: str
    keys: tuple[str, ...]
    id_column: str
    lists: ListsConfig | None

    @property
    def values(self) -> str:
        return f"_values_{self.name}"

    @property
    def memberships(self) -> str:
        return f"_lists_{self.name}"


@dataclass(frozen=True)
class DesiredParts:
    """The inputs of desired_table (see there), pandas or Spark frames; `scores` customer-indexed
    when pandas, with a customer_id column when Spark; `arms` only the current ones."""

    segments: pd.DataFrame | DataFrame
    customers: pd.DataFrame | DataFrame
    id_columns: tuple[str, ...]
    scores: pd.DataFrame | DataFrame | None = None
    arms: pd.DataFrame | DataFrame | None = None
    experiments: tuple[ExperimentConfig, ...] = ()
    offers: pd.DataFrame | DataFrame | None = None
    offer_defaults: Mapping[str, Sequence[str]] | None = None


@dataclass(frozen=True)
class JoinedInputs:
    """The inputs joined on Spark, one row per customer (`_joined`), before desired_table runs."""

    frame: DataFrame
    has_arms: bool  # whether any current arm exists (desired_table then adds `arms` and `arm`)

    @property
    def columns(self) -> list[str]:
        """The desired state's columns (desired_table's), known before anything is computed."""
        base = [c for c in self.frame.columns if not c.startswith(_ARM) and c not in (ORDER, *OFFER_KEYS)]
        offers = [c for c in OFFER_KEYS if c in self.frame.columns]
        return [*base, *(("arms", "arm") if self.has_arms else ()), *offers]


def join_inputs(session: SparkSession, parts: DesiredParts) -> JoinedInputs:
    """segments + record ids + scores + one `_arm_<i>` column per experiment + offers, on Spark."""
    return JoinedInputs(*_joined(session, parts))


def desired_frame(joined: JoinedInputs, parts: DesiredParts, destinations: Sequence[DestinationKeys] = ()) -> DataFrame:
    """The desired state as a Spark DataFrame: desired_table's columns (arms a map), `_order`,
    and each destination's `_values_*` / `_lists_*` (module docstring)."""
    types = {f.name: f for f in joined.frame.schema.fields}
    types["arms"] = T.StructField("arms", T.MapType(T.StringType(), T.StringType()))
    types["arm"] = T.StructField("arm", T.StringType())
    fields = [types[c] for c in joined.columns]
    fields.append(T.StructField(ORDER, T.LongType()))
    for d in destinations:
        fields += [T.StructField(d.values, T.StringType()), T.StructField(d.memberships, T.StringType())]
    schema = T.StructType(fields)
    build = _PartitionBuilder(parts, tuple(destinations), [f.name for f in schema.fields], joined.has_arms)
    return joined.frame.mapInPandas(build, schema)


def _joined(session: SparkSession, parts: DesiredParts) -> tuple[DataFrame, bool]:
    """(the joined inputs, whether any current arm exists)."""
    frame = _framer(session)
    segments = frame(parts.segments).select("customer_id", "segment_id", "segment_name")
    joined = segments.withColumn(ORDER, F.monotonically_increasing_id())  # the pandas frame's row order
    customers = frame(parts.customers)
    ids = [c for c in ("email", *parts.id_columns) if c in customers.columns]
    joined = joined.join(customers.select("customer_id", *ids), "customer_id", "left")
    if parts.scores is not None:
        scores = parts.scores.rename_axis("customer_id").reset_index() if isinstance(parts.scores, pd.DataFrame) \
            else parts.scores
        joined = joined.join(frame(scores), "customer_id", "left")
    has_arms = False
    if parts.arms is not None and parts.experiments:
        given = parts.arms
        if isinstance(given, pd.DataFrame):  # stored arms' assigned_at is text, new ones' a Timestamp: not needed here
            given = given[["experiment", "customer_id", "arm"]] if len(given) else None
        arms = frame(given) if given is not None else None
        # as desired_table: no current arm at all, no arms columns (one probe, not a count)
        if arms is not None and (isinstance(given, pd.DataFrame) or not arms.isEmpty()):
            has_arms = True
            pivot = arms.groupBy("customer_id").agg(*[
                F.first(F.when(F.col("experiment") == e.key, F.col("arm")), ignorenulls=True).alias(f"{_ARM}{i}")
                for i, e in enumerate(parts.experiments)])
            joined = joined.join(pivot, "customer_id", "left")
    if parts.offers is not None:
        joined = joined.join(frame(parts.offers).select("customer_id", *OFFER_KEYS), "customer_id", "left")
    return joined, has_arms


def _framer(session: SparkSession) -> Any:
    def frame(table: pd.DataFrame | DataFrame) -> DataFrame:
        if isinstance(table, pd.DataFrame):
            return session.createDataFrame(table.reset_index(drop=True))
        return table

    return frame


class _PartitionBuilder:
    """mapInPandas: each chunk of joined rows to its desired state (desired_table on the chunk)."""

    def __init__(self, parts: DesiredParts, destinations: tuple[DestinationKeys, ...], columns: list[str],
                 has_arms: bool) -> None:
        self.experiments = parts.experiments
        self.defaults = dict(parts.offer_defaults or {})
        self.id_columns = parts.id_columns
        self.has_scores, self.has_offers, self.has_arms = parts.scores is not None, parts.offers is not None, has_arms
        self.destinations = destinations
        self.columns = columns

    def __call__(self, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            yield self.build(chunk)

    def build(self, chunk: pd.DataFrame) -> pd.DataFrame:
        arm_cols = [c for c in chunk.columns if c.startswith(_ARM)]
        offer_cols = list(OFFER_KEYS) if self.has_offers else []
        plain = [c for c in chunk.columns if c not in (*arm_cols, *offer_cols, ORDER)]
        segments = chunk[["customer_id", "segment_id", "segment_name"]]
        ids = [c for c in plain if c in ("email", *self.id_columns)]
        score_cols = [c for c in plain if c not in ("customer_id", "segment_id", "segment_name", *ids)]
        table = desired_table(
            segments, chunk[["customer_id", *ids]], self.id_columns,
            scores=chunk[["customer_id", *score_cols]].set_index("customer_id") if self.has_scores else None,
            arms=self._arms(chunk, arm_cols) if self.has_arms else None, experiments=self.experiments,
            offers=chunk[["customer_id", *offer_cols]] if self.has_offers else None, offer_defaults=self.defaults)
        table[ORDER] = chunk[ORDER].to_numpy()
        if self.has_arms:
            for col in ("arms", "arm"):
                table[col] = table[col].where(table[col].notna(), None) if col in table else None
        for d in self.destinations:
            self._compare_keys(table, d)
        return table[self.columns]

    def _arms(self, chunk: pd.DataFrame, arm_cols: list[str]) -> pd.DataFrame:
        long = [pd.DataFrame({"experiment": self.experiments[int(c.removeprefix(_ARM))].key,
                              "customer_id": chunk["customer_id"], "arm": chunk[c]}) for c in arm_cols]
        arms = pd.concat(long, ignore_index=True)
        return arms[arms["arm"].notna()]

    def _compare_keys(self, table: pd.DataFrame, d: DestinationKeys) -> None:
        keys = list(d.keys)
        has_id = table[d.id_column].notna() if d.id_column in table else pd.Series(False, index=table.index)
        table[d.values] = [json.dumps(record_values(row, keys), sort_keys=True, default=str) if ok else None
                           for row, ok in zip(table[keys].to_dict("records"), has_id, strict=True)]
        table[d.memberships] = None
        if d.lists is None or not has_id.any():
            return
        names: dict[str, list[str]] = {}
        for name, members in list_memberships(table, d.id_column, d.lists, self.experiments).items():
            for customer in members:
                names.setdefault(customer, []).append(name)
        table[d.memberships] = table["customer_id"].map(lambda c: "\n".join(sorted(names[c])) if c in names else None)
