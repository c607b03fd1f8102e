"""The plugin protocol and registry: what a plugin declares, how the registry finds and opens it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from connector.config import Config, FilesDestination
from connector.crm import registry
from connector.crm.base import PullBatch, Sink
from connector.crm.errors import ConfigurationError
from connector.crm.files import FilesPlugin
from connector.crm.plugin import (
    ENTITIES,
    Accepts,
    Connector,
    FieldDestination,
    RecordSource,
    TableDestination,
    TableSource,
    WriteSpec,
    check_entities,
    pull_entity,
)
from connector.crm.registry import (
    BUILTIN,
    PluginEntry,
    Plugins,
    id_columns,
    open_plugins,
    registered,
)
from connector.cursor import Cursor

SF = {"instance_url": "https://example.my.salesforce.com",
      "auth": {"method": "client_credentials", "client_id": "cid", "client_secret": "s3cret-value"}}
HS = {"auth": {"method": "token", "token": "pat-na1-0000000000"}}


def config(tmp_path: Path, sources: dict[str, Any], destinations: dict[str, Any] | None = None) -> Config:
    return Config.model_validate({"sources": sources, "destinations": destinations or {}, "base_dir": tmp_path,
                                  "state": {"path": str(tmp_path / "state.sqlite")}})


class Warehouse:
    """A third-party record source: ids in its own column, customers and events."""

    name = "warehouse"
    provides = frozenset({"customers", "events"})
    id_column = "warehouse_id"

    def __init__(self) -> None:
        self.closed = False

    def pull(self, entity: str, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        return pull_entity(self.name, {"customers": lambda s, c: None}, entity, sink, since)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def no_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[EntryPoint]]:
    points: list[EntryPoint] = []
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    registered.cache_clear()
    yield points
    registered.cache_clear()


WAREHOUSE = PluginEntry("warehouse", lambda source, destination, base_dir: Warehouse(), id_column="warehouse_id")


def test_builtin_plugins_and_their_record_id_columns(no_entry_points: list[EntryPoint]) -> None:
    assert [e.name for e in BUILTIN] == ["salesforce", "hubspot", "sql", "files"]
    assert list(registered()) == ["salesforce", "hubspot", "sql", "files"]
    assert id_columns() == {"salesforce": "salesforce_id", "hubspot": "hubspot_id"}


def test_the_crm_connectors_declare_what_their_entry_says(tmp_path: Path) -> None:
    plugins = open_plugins(config(tmp_path, {"salesforce": SF, "hubspot": HS}, {"hubspot": {"match": "email"}}))
    try:
        sf, hs = plugins["salesforce"], plugins["hubspot"]
        for crm in (sf, hs):
            assert isinstance(crm, Connector) and isinstance(crm, RecordSource) and isinstance(crm, FieldDestination)
            assert not isinstance(crm, TableSource)
            assert crm.id_column == registered()[crm.name].id_column
            assert crm.provides == frozenset({"customers", "transactions", "outcomes"}) <= set(ENTITIES)
            assert crm.accepts == Accepts(fields=True, lists=True)
        assert sf.write_spec() is None  # a source only: nothing is planned for it
        spec = hs.write_spec()
        assert spec.match == "email" and spec.fields["segment_name"] == "segsync_segment"
        assert spec.lists is not None and spec.lists.arm_name_template == "segsync {experiment} {arm}"
        assert [p.name for p in plugins.record_sources()] == ["salesforce", "hubspot"]
        assert plugins.table_sources() == [] and plugins.table_destinations() == []
    finally:
        plugins.close()


def test_salesforce_write_spec_stamps_and_upserts_on_the_external_id(tmp_path: Path) -> None:
    dest = {"match": "external_id", "external_id_field": "Segsync_Key__c", "lists": {"enabled": False}}
    plugins = open_plugins(config(tmp_path, {"salesforce": SF}, {"salesforce": dest}))
    spec = plugins["salesforce"].write_spec()
    assert spec == WriteSpec({"segment_id": "Segsync_Segment_Id__c", "segment_name": "Segsync_Segment__c",
                              "arm": "Segsync_Arm__c", "customer_id": "Segsync_Key__c"}, "customer_id", None)
    plugins.close()


def test_files_is_a_table_source_and_destination(tmp_path: Path) -> None:
    (tmp_path / "tx.csv").write_text("CustomerID,date,amount,sku\nc1,2026-01-02,10.5,A\nc2,2026-01-03,x,B\n")
    cfg = config(tmp_path, {"files": {"transactions": "tx.csv", "product_column": "sku"}}, {"files": {"path": "out.csv"}})
    plugins = open_plugins(cfg)
    [files] = plugins.table_sources()
    assert plugins.table_destinations() == [files] and plugins.record_sources() == []
    assert isinstance(files, FilesPlugin) and files.provides == {"customers", "transactions", "line_items"}
    tables = files.read_tables()
    assert sorted(tables) == ["customers", "line_items", "transactions"]
    amounts = tables["transactions"]["amount"]  # NaN for a bad one: the quarantine reports it
    assert amounts.iloc[0] == 10.5 and pd.isna(amounts.iloc[1])
    assert tables["customers"]["customer_id"].tolist() == ["c1", "c2"]
    assert files.output() == ("destinations.files.path", Path("out.csv"))
    written = files.write_table(pd.DataFrame({"customer_id": ["c1"], "segment_name": ["=cmd"]}))
    assert written == tmp_path / "out.csv" and written.read_text().splitlines() == ["customer_id,segment_name", "c1,'=cmd"]


def test_a_destination_only_files_plugin_provides_nothing(tmp_path: Path) -> None:
    files = FilesPlugin(None, None, tmp_path)
    assert files.provides == frozenset() and files.read_tables() == {} and files.output() is None
    with pytest.raises(ConfigurationError, match="destinations.files is not configured"):
        files.write_table(pd.DataFrame())


def test_dates_that_are_not_iso_need_a_date_format(tmp_path: Path) -> None:
    # read one by one, 12/06/1998 became 6 December and 30/06/1998 30 June: refuse, never guess
    (tmp_path / "tx.csv").write_text("customer_id,date,amount\nc1,12/06/1998,10\nc2,30/06/1998,5\nc3,1998-06-01,1\n")
    files = {"transactions": "tx.csv", "customer_id_column": "customer_id", "amount_column": "amount"}
    plugins = open_plugins(config(tmp_path, {"files": files}))
    with pytest.raises(ConfigurationError, match=r"tx.csv: line 2: 2 of 3 values of sources.files.date_column 'date' are "
                                                 r"not ISO 8601 dates \(e.g. '12/06/1998'\); set sources.files.date_format"):
        plugins["files"].read_tables()
    plugins = open_plugins(config(tmp_path, {"files": files | {"date_format": "%d/%m/%Y"}}))
    when = plugins["files"].read_tables()["transactions"]["occurred_at"]
    assert [str(w)[:10] for w in when[:2]] == ["1998-06-12", "1998-06-30"]
    # a stray bad value in an ISO file is the quarantine's (a reason per row), not a refusal
    for dates in (["1998-06-12", "yesterday", "1998-06-01"], ["soon", "yesterday", "1998-06-01"]):
        (tmp_path / "tx.csv").write_text("customer_id,date,amount\n" + "".join(f"c{i},{d},1\n" for i, d in enumerate(dates)))
        plugins = open_plugins(config(tmp_path, {"files": files}))
        assert plugins["files"].read_tables()["transactions"]["occurred_at"].tolist()[1] == "yesterday"


def test_an_unwritable_output_is_a_configuration_error_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")  # even root cannot create a folder under a file
    files = FilesPlugin(None, FilesDestination(path=Path("a-file/out.csv")), tmp_path)
    with pytest.raises(ConfigurationError, match=r"destinations.files.path: cannot write .*a-file/out.csv \(") as err:
        files.write_table(pd.DataFrame({"customer_id": ["c1"]}))
    assert err.value.__cause__ is None and (tmp_path / "a-file").read_text() == "not a folder"


def test_nothing_configured_opens_nothing(tmp_path: Path) -> None:
    assert list(open_plugins(config(tmp_path, {}))) == []


def test_plugins_opened_by_the_caller_replace_the_registrys(tmp_path: Path) -> None:
    mine = Warehouse()
    plugins = open_plugins(config(tmp_path, {"salesforce": SF}), {"salesforce": _Named("salesforce"), "warehouse": mine})
    assert list(plugins.by_name) == ["salesforce", "warehouse"]
    assert plugins["warehouse"] is mine and plugins.record_sources() == [mine]
    plugins.close()
    assert mine.closed


def test_a_plugin_must_call_itself_by_its_registered_name() -> None:
    with pytest.raises(TypeError, match="opened as 'hubspot' calls itself 'warehouse'"):
        Plugins({"hubspot": Warehouse()})


def test_a_third_party_plugin_registers_through_an_entry_point(no_entry_points: list[EntryPoint]) -> None:
    no_entry_points.append(EntryPoint("warehouse", f"{__name__}:WAREHOUSE", "segsync.sources"))
    assert list(registered()) == ["salesforce", "hubspot", "sql", "files", "warehouse"]
    assert id_columns()["warehouse"] == "warehouse_id"


def test_an_entry_point_that_is_not_a_plugin_entry_is_refused(no_entry_points: list[EntryPoint]) -> None:
    no_entry_points.append(EntryPoint("warehouse", f"{__name__}:Warehouse", "segsync.destinations"))
    with pytest.raises(ConfigurationError, match=r"entry point warehouse = .*:Warehouse \(group segsync.destinations\) must be a PluginEntry"):
        registered()


def test_a_name_registered_twice_is_refused(no_entry_points: list[EntryPoint]) -> None:
    no_entry_points.append(EntryPoint("files", f"{__name__}:FILES_AGAIN", "segsync.sources"))
    with pytest.raises(ConfigurationError, match="plugin 'files' is registered twice"):
        registered()


FILES_AGAIN = PluginEntry("files", lambda s, d, b: None)


def test_entities_are_checked_and_pulls_dispatch_by_entity() -> None:
    assert check_entities("x", ["events", "customers"]) == {"events", "customers"}
    with pytest.raises(ValueError, match=r"plugin 'x' provides unknown entit\(y/ies\) \['orders'\]"):
        check_entities("x", ["orders"])
    seen: list[PullBatch] = []
    end = Cursor(datetime(2026, 1, 1, tzinfo=UTC), "9")

    def customers(sink: Sink, since: Cursor | None) -> Cursor:
        sink(PullBatch([], ["1"], end))
        return end

    assert pull_entity("w", {"customers": customers}, "customers", seen.append, None) == end
    assert seen[0].deleted_ids == ["1"]
    with pytest.raises(ValueError, match="source 'w' does not pull 'events'; it pulls customers"):
        pull_entity("w", {"customers": customers}, "events", seen.append, None)


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name

    def close(self) -> None:
        pass


def test_protocols_tell_the_kinds_apart() -> None:
    assert isinstance(Warehouse(), RecordSource) and not isinstance(Warehouse(), FieldDestination)
    named = _Named("x")
    assert not any(isinstance(named, kind) for kind in (TableSource, TableDestination, RecordSource, FieldDestination))


def test_what_a_source_provides_follows_its_config(tmp_path: Path) -> None:
    sf = {**SF, "line_items": {"enabled": True}, "events": {}}
    hs = {**HS, "line_items": {"enabled": True}, "events": {}}
    sql = {"url": f"duckdb:///{tmp_path / 'w.duckdb'}", "transactions": {"table": "orders"}, "events": {"table": "usage"}}
    (tmp_path / "tx.csv").write_text("CustomerID,date,amount\nc1,2026-01-02,1\n")
    files = {"transactions": "tx.csv", "events": {"path": "events.csv"}}
    plugins = open_plugins(config(tmp_path, {"salesforce": sf, "hubspot": hs, "sql": sql, "files": files}))
    try:
        assert plugins["salesforce"].provides == {"customers", "transactions", "outcomes", "line_items", "events"}
        assert plugins["hubspot"].provides == {"customers", "transactions", "outcomes", "line_items", "events"}
        assert plugins["sql"].provides == {"transactions", "events"} and plugins["files"].provides == {
            "customers", "transactions", "events"}
        assert [p.name for p in plugins.mirroring_sources()] == ["sql"]
        assert [p.name for p in plugins.record_sources()] == ["salesforce", "hubspot"]
        assert [p.name for p in plugins.table_sources()] == ["files"]
        with pytest.raises(ValueError, match="source 'hubspot' does not pull 'events'"):
            plugins["hubspot"].pull("events", lambda batch: None)
    finally:
        plugins.close()


SEEN: list[tuple[Any, Any]] = []
CONFIGURED = PluginEntry("warehouse", lambda source, destination, base_dir: SEEN.append((source, destination)) or Warehouse())


def test_a_third_party_plugin_gets_its_settings_from_the_plugins_section(no_entry_points: list[EntryPoint],
                                                                         tmp_path: Path) -> None:
    no_entry_points.append(EntryPoint("warehouse", f"{__name__}:CONFIGURED", "segsync.sources"))
    SEEN.clear()
    cfg = config(tmp_path, {"plugins": {"warehouse": {"dsn": "wh://x", "schema": "crm"}}})
    plugins = open_plugins(cfg)
    assert [p.name for p in plugins.record_sources()] == ["warehouse"]
    assert SEEN == [({"dsn": "wh://x", "schema": "crm"}, None)]
    wrong = config(tmp_path, {}, {"plugins": {"wherehouse": {}}})
    with pytest.raises(ConfigurationError, match=r"destinations.plugins.wherehouse: no plugin of that name is installed "
                                                 r"\(installed: salesforce, hubspot, sql, files, warehouse\)"):
        open_plugins(wrong)
