"""Sources and destinations: the one protocol every plugin implements, and what it declares.

HOW TO ADD A SOURCE OR A DESTINATION (no step changes):

1. Write ONE package (e.g. `connector/crm/<name>/`, or a distribution of your own) with a class
   that implements one or more of the protocols below, as the plugin's object:
   - `RecordSource`: incremental pulls. `pull(entity, sink, since)` hands the sink one
     `PullBatch` per page (records with the source's own ids, deletions, the cursor after
     them); the state store keeps the pages and the cursor together (the `pull` step stores
     every entity of `provides` the mirror holds: `connector.crm.sink.MirrorSink.STREAMS`).
     Customers are joined across sources by normalised email (connector.identity). Events a
     record source reads whole come from its `read_events()` (canonical events keyed by its own
     customer ids, `customer_source_id`; connector.usage.crm_events keys them).
   - `MirroringSource`: a source that keeps its own part of the mirror (hard deletes found by a
     key scan, rows it refuses stored with a reason): `pull_into(PullContext)` stores its pages
     with their cursors itself and returns the tables it reads whole, keyed by customer_id.
   - `TableSource`: whole canonical tables each run (`read_tables()`: entity -> DataFrame with
     the canonical columns of DESIGN.md, keyed by segsync's customer_id), like a files source.
   - `FieldDestination`: per-record field writes and list memberships (a CRM). `write_spec()`
     says which desired-state keys go to which field, how a record is addressed, and the lists.
   - `TableDestination`: receives the whole desired-state table each run (a CSV file).
   Declare `name`, `provides` (a frozenset of ENTITIES) on a source, `accepts` (an `Accepts`)
   on a destination, and `id_column` on a plugin whose customers carry its own record ids
   (the customers column, e.g. "salesforce_id", that holds them; None when it has none).
2. Give it a config model: an optional field named like the plugin in
   `connector.config.sources.SourcesConfig` and/or `...destinations.DestinationsConfig`. The
   registry hands the plugin only those sub-models (never the root config).
3. Register a factory, `PluginEntry(name, open, id_column)` (connector.crm.registry): built-in
   plugins in `registry.BUILTIN`; a third-party package through an entry point in the group
   `segsync.sources` or `segsync.destinations` whose object is its `PluginEntry`.
4. It then runs through the shared contract suite (tests/connector/contract) by adding a
   harness module there, fault cases included.

Entities (the canonical tables): customers, transactions, line_items, events, outcomes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from connector.crm.base import (
    FieldSpec,
    FieldUpdate,
    OutcomeRecord,
    ProvisionReport,
    QuotaInfo,
    RecordResult,
    Sink,
)
from connector.cursor import Cursor

if TYPE_CHECKING:
    import pandas as pd

    from connector.config import IdentityConfig, ListsConfig
    from connector.state.mirror import Mirror

__all__ = [
    "ENTITIES",
    "Accepts",
    "Connector",
    "FieldDestination",
    "MirroringSource",
    "Plugin",
    "PullContext",
    "RecordSource",
    "TableDestination",
    "TableSource",
    "WriteSpec",
    "check_entities",
    "pull_entity",
]

#: What a source can provide, in the order a pull reads them (customers first: ids resolve).
ENTITIES = ("customers", "transactions", "line_items", "events", "outcomes")


def check_entities(name: str, provides: Iterable[str]) -> frozenset[str]:
    """`provides` as a frozenset, or ValueError naming the plugin and the unknown entity."""
    out = frozenset(provides)
    unknown = sorted(out - set(ENTITIES))
    if unknown:
        raise ValueError(f"plugin {name!r} provides unknown entit(y/ies) {unknown}; known: {', '.join(ENTITIES)}")
    return out


#: A pull of one entity: (sink, since) -> the last cursor.
PullFn = Callable[[Sink, "Cursor | None"], "Cursor | None"]


def pull_entity(plugin: str, pulls: Mapping[str, PullFn], entity: str, sink: Sink, since: Cursor | None) -> Cursor | None:
    """Run the pull of `entity` from a source's {entity: pull} table (a RecordSource's `pull`)."""
    fn = pulls.get(entity)
    if fn is None:
        raise ValueError(f"source {plugin!r} does not pull {entity!r}; it pulls {', '.join(sorted(pulls))}")
    return fn(sink, since)


@dataclass(frozen=True, slots=True)
class Accepts:
    """What a destination takes: per-record fields, list memberships, the whole desired table."""

    fields: bool = False
    lists: bool = False
    table: bool = False


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """How the desired state maps onto one field destination, from its own config.

    fields: desired-state key (segment_id, arm, a score name, customer_id to stamp segsync's
    key) -> the destination's field name.
    match: how a record is addressed: "id" its record id (the `id_column` of the desired
    state), "customer_id" segsync's key (an upsert on an external id), "email" the email
    as this destination holds it (an upsert by email). Only customers with a record id in
    this destination are written, whatever the match.
    lists: list name templates, or None when the destination writes no lists.
    """

    fields: Mapping[str, str]
    match: Literal["id", "customer_id", "email"] = "id"
    lists: ListsConfig | None = None


@runtime_checkable
class Plugin(Protocol):
    """What every source and destination has."""

    name: str

    def close(self) -> None: ...


@runtime_checkable
class RecordSource(Plugin, Protocol):
    """An incremental source: pages of records with the source's own ids, and cursors."""

    provides: frozenset[str]
    id_column: str | None

    def pull(self, entity: str, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Stream `entity` records modified after `since` (all when None) into `sink`, one
        PullBatch per page; return the last cursor. ValueError for an entity not provided."""
        ...


@dataclass(frozen=True)
class PullContext:
    """What the pull step hands a MirroringSource.

    mirror: the state store's mirror; checkpoint: call after each stored page (a stop is
    honoured there, so it loses nothing); reject(entity, rows): store refused rows (record_key,
    reason) of this source, one open rejection per record; accept(entity, keys): these records
    were read clean (their open rejections close); count(key, n): a run counter
    (pulled_<source>_<entity>, ...); identity: how customers are keyed, for tables handed on
    by segsync's customer_id."""

    mirror: Mirror
    checkpoint: Callable[[], None]
    reject: Callable[[str, list[dict[str, Any]]], None]
    accept: Callable[[str, list[str]], None]
    count: Callable[[str, int], None]
    identity: IdentityConfig


@runtime_checkable
class MirroringSource(Plugin, Protocol):
    """An incremental source that stores its own pages, cursors and deletions in the mirror."""

    provides: frozenset[str]
    id_column: str | None

    def pull_into(self, pull: PullContext) -> Mapping[str, pd.DataFrame]:
        """Pull every mirrored entity it provides into `pull.mirror`; return the entities it
        reads whole (e.g. events) as canonical tables keyed by segsync's customer_id."""
        ...


@runtime_checkable
class TableSource(Plugin, Protocol):
    """A source read whole each run, already keyed by segsync's customer_id."""

    provides: frozenset[str]

    def read_tables(self) -> Mapping[str, pd.DataFrame]:
        """entity -> its canonical table (see DESIGN.md) for every entity of `provides` it has
        this run. Bad values stay in the rows for the quarantine; a missing input is a
        ConfigurationError naming the key to fix."""
        ...


@runtime_checkable
class FieldDestination(Plugin, Protocol):
    """A destination written record by record (fields) and list by list (memberships)."""

    accepts: Accepts
    id_column: str | None

    def write_spec(self) -> WriteSpec | None:
        """The mapping from its destination config; None when it is configured as a source only."""
        ...

    def provision(self, fields: Sequence[FieldSpec]) -> ProvisionReport:
        """Make sure the fields exist (creating them if allowed), else raise ConfigurationError
        naming exactly what an admin must create."""
        ...

    def push_updates(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        """Write field values; yields one result per update as batches complete."""
        ...

    def ensure_list(self, name: str) -> str:
        """The id of the list (Campaign / static list) named `name`, created if missing."""
        ...

    def list_members(self, list_id: str) -> set[str]:
        """Record ids currently in the list."""
        ...

    def add_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        """Add records by id; already a member counts as success."""
        ...

    def remove_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        """Remove records by id; not a member counts as success."""
        ...

    def quota(self) -> QuotaInfo:
        """The API budget as last seen."""
        ...


@runtime_checkable
class TableDestination(Plugin, Protocol):
    """A destination that takes the whole desired state each run."""

    accepts: Accepts

    def output(self) -> tuple[str, Path] | None:
        """(config key, path) of what it writes, for the no-overwrite check; None: not configured."""
        ...

    def write_table(self, table: pd.DataFrame) -> Path | None:
        """Write the desired state (one row per customer) atomically; return where, or None when
        the output already held exactly this table and was left untouched (a quiet day writes nothing)."""
        ...


@runtime_checkable
class Connector(RecordSource, FieldDestination, Protocol):
    """A CRM: an incremental source of customers and purchases and a field destination, which
    also reads campaign outcomes of its lists. Salesforce and HubSpot implement it."""

    def pull_customers(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """`pull("customers", ...)`."""
        ...

    def pull_transactions(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """`pull("transactions", ...)`."""
        ...

    def read_outcomes(self, lists: Mapping[str, Sequence[str]], since: date) -> Iterator[OutcomeRecord]:
        """Outcomes since `since` for members of the lists, given as {experiment: [list ids]}."""
        ...
