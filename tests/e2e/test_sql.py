"""`segsync run` on a config with no files source and no CRM: customers and purchases from `sources.sql` (DuckDB).

The population simulator's customers and purchases go into a DuckDB file; the run writes one
segment row per customer to the files destination; a purchase updated and one soft-deleted in
the database, and an event that arrived late with the timestamp the events cursor stopped at, are
all the second run reads, and the purchase's customer stays segmented.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import create_engine

from connector.cli import main as cli_main
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario
from connector.state import StateStore
from tests.connector.sql.conftest import postgres_server  # noqa: F401 - the fixture, shared
from tests.connector.sql.postgres import PostgresServer

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  sql:
    url: duckdb:///warehouse.duckdb
    chunk_size: 500
    customers:
      table: customers
      customer_id_column: customer_id
      attribute_columns: [country]
      cursor_column: updated_at
    transactions:
      table: orders
      transaction_id_column: order_id
      customer_id_column: customer_id
      amount_column: amount
      date_column: ordered_at
      cursor_column: updated_at
      soft_delete_column: deleted
    events:
      query: "SELECT event_id, customer_id, kind, happened_at FROM usage WHERE kind <> 'noise'"
      event_id_column: event_id
      type_column: kind
      date_column: happened_at
      cursor_column: happened_at
destinations:
  files:
    path: out/segments.csv
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
scoring:
  targets:
    - {name: buy_90d, kind: propensity, horizon_days: 90}
  models: [logistic]
"""
STAMP = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    pop = PopulationGenerator(load_scenario("default"), 400, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"),
                              random_state=5).generate()
    customers = pd.DataFrame({"customer_id": pop.customers["customer_id"].astype(str),
                              "country": pop.customers["country"].astype(str), "updated_at": STAMP})
    tx = pop.transactions
    orders = pd.DataFrame({"order_id": range(1, len(tx) + 1), "customer_id": tx["customer_id"].astype(str),
                           "amount": tx["amount"].round(2), "ordered_at": tx["occurred_at"], "updated_at": STAMP,
                           "deleted": False})
    usage = pd.DataFrame({"event_id": ["e1", "e2", "e3"], "customer_id": [customers["customer_id"][0]] * 3,
                          "kind": ["login", "noise", "login"], "happened_at": [STAMP, STAMP, STAMP]})
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as db:
        for name, frame in (("customers", customers), ("orders", orders), ("usage", usage)):
            db.register("frame", frame)
            db.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")  # noqa: S608 - test setup, fixed names
            db.unregister("frame")
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg, orders


def test_run_from_duckdb_segments_every_customer_and_then_reads_only_changes(
        warehouse: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, orders = warehouse
    assert cli_main(["validate", str(cfg)]) == 0
    assert "sources: sql; destinations: files" in capsys.readouterr().out
    assert cli_main(["run", str(cfg)]) == 0
    segments = pd.read_csv(cfg.parent / "out" / "segments.csv", dtype={"customer_id": str})
    buyers = {f"sql-{c}" for c in orders["customer_id"]}
    assert segments["customer_id"].is_unique and set(segments["customer_id"]) == buyers
    assert segments["segment_id"].nunique() == 3 and segments["segment_name"].notna().all()
    assert segments["buy_90d"].between(0, 1).all()
    with StateStore(cfg.parent / "state.sqlite") as store:
        run = store.runs.last_success()
        assert run is not None
        assert run.counts["pulled_sql_transactions"] == len(orders)
        assert run.counts["pulled_sql_customers"] == orders["customer_id"].nunique()
        assert run.counts["pulled_sql_events"] == 2  # the query's own filter dropped the noise
        assert store.rejected.open().empty

    later = datetime(2026, 3, 2, tzinfo=UTC)
    with duckdb.connect(str(cfg.parent / "warehouse.duckdb")) as db:
        db.execute("UPDATE orders SET amount = amount + 1, updated_at = ? WHERE order_id = 1", [later])
        db.execute("UPDATE orders SET deleted = true, updated_at = ? WHERE order_id = 2", [later])
        # an event that arrives late with the very timestamp the events cursor stopped at (its key sorts after)
        db.execute("INSERT INTO usage VALUES ('e4', ?, 'login', ?)", [orders["customer_id"][0], STAMP])
    assert cli_main(["run", str(cfg)]) == 0
    with StateStore(cfg.parent / "state.sqlite") as store:
        run = store.runs.last_success()
        assert run is not None
        assert run.counts["pulled_sql_transactions"] == 1 and run.counts["deleted_sql_transactions"] == 1
        assert run.counts["pulled_sql_customers"] == 0
        assert run.counts["pulled_sql_events"] == 1  # the late one only, not the table again
        assert sorted(store.mirror.events("sql")["source_id"]) == ["e1", "e3", "e4"]
        mirror = store.mirror.transactions("sql").set_index("source_id")
    assert "2" not in mirror.index
    assert float(mirror.loc["1", "amount"]) == pytest.approx(orders["amount"][0] + 1)

    # resync: the cursor is forgotten and the next run reads every order again (the mirror absorbs the re-read)
    capsys.readouterr()
    assert cli_main(["resync", str(cfg), "sql", "transactions"]) == 0
    assert "sql: forgot the cursor(s) of transactions; the next run pulls them in full" in capsys.readouterr().out
    with StateStore(cfg.parent / "state.sqlite") as store:
        assert store.mirror.cursor("sql", "transactions") is None
        assert store.mirror.cursor("sql", "customers") is not None
    assert cli_main(["run", str(cfg)]) == 0
    with StateStore(cfg.parent / "state.sqlite") as store:
        run = store.runs.last_success()
        assert run is not None and run.counts["pulled_sql_transactions"] == len(orders) - 1  # the soft-deleted one
        assert len(store.mirror.transactions("sql")) == len(orders) - 1
    assert cli_main(["resync", str(cfg), "hubspot"]) == 2


PG_CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  sql:
    url: postgresql+psycopg://segsync:${PGPASSWORD}@127.0.0.1:PORT/DB
    transactions:
      table: orders
      transaction_id_column: order_id
      date_column: ordered_at
      cursor_column: updated_at
      full_scan_every: 1d
    events:
      table: usage
      event_id_column: event_id
      type_column: kind
      date_column: happened_at
      cursor_column: happened_at
destinations:
  files:
    path: out/segments.csv
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
"""


def test_run_from_postgresql_with_the_password_from_the_environment(
        tmp_path: Path, request: pytest.FixtureRequest, warehouse: tuple[Path, pd.DataFrame],
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    server: PostgresServer = request.getfixturevalue("postgres_server")  # tests/connector/sql/conftest.py
    _, orders = warehouse
    url = server.create_database("e2e")
    engine = create_engine(url)
    orders.drop(columns="deleted").to_sql("orders", engine, index=False)
    usage = pd.DataFrame({"event_id": ["e1", "e2"], "customer_id": [str(orders["customer_id"][0])] * 2,
                          "kind": ["login", "login"], "happened_at": [STAMP, STAMP]})
    usage.to_sql("usage", engine, index=False)
    engine.dispose()
    cfg = tmp_path / "pg.yaml"
    cfg.write_text(PG_CONFIG.replace("PORT", str(server.port)).replace("DB", "e2e"), encoding="utf-8")
    monkeypatch.setenv("PGPASSWORD", server.password)
    assert cli_main(["run", str(cfg)]) == 0
    segments = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"customer_id": str})
    assert set(segments["customer_id"]) == {f"sql-{c}" for c in orders["customer_id"]}
    assert segments["segment_id"].nunique() == 3
    with StateStore(tmp_path / "state.sqlite") as store:
        run = store.runs.last_success()
        assert run is not None and run.counts["pulled_sql_transactions"] == len(orders)
        assert run.counts["pulled_sql_events"] == 2
    engine = create_engine(url)
    pd.DataFrame({"event_id": ["e3"], "customer_id": [str(orders["customer_id"][1])], "kind": ["login"],
                  "happened_at": [STAMP]}).to_sql("usage", engine, index=False, if_exists="append")
    engine.dispose()
    assert cli_main(["run", str(cfg)]) == 0
    with StateStore(tmp_path / "state.sqlite") as store:
        run = store.runs.last_success()
        assert run is not None and run.counts["pulled_sql_events"] == 1  # the late event at the same timestamp
        assert sorted(store.mirror.events("sql")["source_id"]) == ["e1", "e2", "e3"]
    # the password never reaches the output, the logs or the state file
    out, err = capfd.readouterr()
    assert server.password not in out + err
    assert server.password.encode() not in (tmp_path / "state.sqlite").read_bytes()
