"""A small shop (600 simulated customers, files source) run through one cycle, and an API over it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("fastapi")

from starlette.testclient import TestClient  # noqa: E402

from connector.cli import main as cli_main  # noqa: E402
from connector.config import Config, load_config  # noqa: E402
from connector.sandbox.population import PopulationGenerator  # noqa: E402
from connector.sandbox.scenario import load_scenario  # noqa: E402
from connector.serve.access import KeyRing, RateLimiter  # noqa: E402
from connector.serve.app import create_app  # noqa: E402
from connector.serve.metrics import ServeMetrics  # noqa: E402
from connector.serve.service import ServeService  # noqa: E402
from connector.state import StateStore  # noqa: E402

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  files:
    transactions: data/transactions.csv
    attribute_columns: [country]
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
experiments:
  items:
    - key: welcome
      arms:
        - {name: control, weight: 0.5, control: true}
        - {name: offer, weight: 0.5}
serve:
  port: 0
"""


@dataclass
class Shop:
    config_path: Path
    transactions: pd.DataFrame

    @property
    def config(self) -> Config:
        return load_config(self.config_path)


def make_shop(folder: Path, n: int = 600, seed: int = 4) -> Shop:
    pop = PopulationGenerator(load_scenario("default"), n, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"),
                              random_state=seed).generate()
    country = pop.customers.set_index("customer_id")["country"].astype(str)
    tx = pop.transactions
    rows = pd.DataFrame({
        "CustomerID": tx["customer_id"].astype(str), "amount": tx["amount"].map(lambda a: f"{a:.2f}"),
        "date": tx["occurred_at"].dt.strftime("%Y-%m-%d"), "country": tx["customer_id"].map(country),
    })
    (folder / "data").mkdir(parents=True)
    rows.to_csv(folder / "data" / "transactions.csv", index=False)
    (folder / "segsync.yaml").write_text(CONFIG, encoding="utf-8")
    return Shop(folder / "segsync.yaml", rows)


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """One cycle, run once per test session; tests get a copy."""
    folder = tmp_path_factory.mktemp("shop")
    shop = make_shop(folder)
    assert cli_main(["run", str(shop.config_path)]) == 0
    return shop


def copy_shop(shop: Shop, folder: Path) -> Shop:
    """A copy of the shop's folder (config, data, state, snapshots) a test may change."""
    shutil.copytree(shop.config_path.parent, folder)
    return Shop(folder / "segsync.yaml", shop.transactions)


@pytest.fixture
def shop(shop_template: Shop, tmp_path: Path) -> Shop:
    return copy_shop(shop_template, tmp_path / "shop")


@dataclass
class Api:
    client: TestClient
    service: ServeService
    store: StateStore
    limiter: RateLimiter
    clock: list[float]

    def key(self, scope: str) -> str:
        return self.store.api_keys.create(frozenset(scope.split(",")))[1]

    def headers(self, scope: str = "read,score,events") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(scope)}"}


def open_api(shop: Shop, *, rate: float = 1000.0, burst: int = 1000, max_body: int = 1_048_576) -> Iterator[Api]:
    cfg = shop.config
    store = StateStore(cfg.resolve(cfg.state.path))
    service = ServeService(cfg, store)
    service.reload()
    clock = [0.0]
    limiter = RateLimiter(rate, burst, clock=lambda: clock[0])
    app = create_app(service, KeyRing(store, refresh_seconds=0.0), limiter, ServeMetrics(), max_body)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, service, store, limiter, clock)
    service.close()
    store.close()


@pytest.fixture
def api(shop: Shop) -> Iterator[Api]:
    yield from open_api(shop)


USAGE = {"sources:\n  files:\n": "sources:\n  files:\n    events: {path: data/events.csv, feature_column: feature}\n",
         "segmentation:\n": "features:\n  events: {types: [login, feature_used, ticket], windows: [7, 30, 90], trend_days: 14}\n"
                            "segmentation:\n"}


@pytest.fixture(scope="session")
def usage_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The shop with usage events and features.events: two logins in the week before each purchase,
    and for two customers in three a login every 5 days all along (so a typical customer has some,
    and a missing count is imputed with a typical value, not 0); one customer in four adopted two
    features ("reports", "export"); the score model trains on them. Tests that post events or run
    another cycle work on a copy (`usage_copy`)."""
    shop = make_shop(tmp_path_factory.mktemp("usage-shop"), n=500, seed=6)
    tx = shop.transactions
    when = pd.to_datetime(tx["date"], utc=True).repeat(2) - pd.to_timedelta([1, 4] * len(tx), unit="D")
    ids = pd.Series(tx["CustomerID"].unique())
    regular = ids[ids.index % 3 > 0]
    days = pd.date_range("2024-09-01", "2026-02-27", freq="5D", tz="UTC")
    logins = pd.concat([pd.DataFrame({"customer_id": tx["CustomerID"].repeat(2).to_numpy(), "occurred_at": when.to_numpy()}),
                        pd.DataFrame({"customer_id": regular.repeat(len(days)).to_numpy(),
                                      "occurred_at": pd.DatetimeIndex(list(days) * len(regular))})])
    logins = logins.assign(occurred_at=pd.to_datetime(logins["occurred_at"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           type="login", feature="")
    adopters = ids[ids.index % 4 == 0].to_numpy()
    uses = pd.DataFrame({"customer_id": adopters.repeat(2), "occurred_at": ["2025-12-01T09:00:00Z", "2026-02-10T09:00:00Z"] * len(adopters),
                         "type": "feature_used", "feature": ["reports", "export"] * len(adopters)})
    pd.concat([logins, uses], ignore_index=True).to_csv(shop.config_path.parent / "data" / "events.csv", index=False)
    config = CONFIG
    for old, new in USAGE.items():
        config = config.replace(old, new, 1)
    shop.config_path.write_text(config, encoding="utf-8")
    assert cli_main(["run", str(shop.config_path)]) == 0
    return shop


@pytest.fixture
def usage_copy(usage_shop: Shop, tmp_path: Path) -> Shop:
    return copy_shop(usage_shop, tmp_path / "usage-shop")
