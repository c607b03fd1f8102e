"""Live usage events of a customer the snapshot holds move their usage features between cycles.

Before, a login, feature use or ticket posted to /v1/events for a known customer left their usage
features (counts per window, trend, days since, features adopted) at the snapshot's values, so
neither a look-up nor /v1/score saw it until the next cycle. Now both answer with the features
the next cycle computes from the same events, and the score moves with them.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.serve.snapshot import load_current
from tests.connector.serve.conftest import Shop, open_api

USAGE_PREFIXES = ("login_", "feature_used_", "ticket_", "days_since_", "features_adopted")


def _usage(features: dict[str, Any]) -> dict[str, float]:
    return {k: math.nan if v is None else float(v) for k, v in features.items() if k.startswith(USAGE_PREFIXES)}


def _adopter(shop: Shop) -> str:
    """A customer who adopted "reports" and "export" before the snapshot (see usage_shop)."""
    ids = pd.Series(shop.transactions["CustomerID"].unique())
    return str(ids[ids.index % 4 == 0].iloc[1])


def _score_body(shop: Shop, cid: str) -> dict[str, Any]:
    mine = shop.transactions[shop.transactions["CustomerID"] == cid]
    return {"customer_id": cid, "attributes": {"country": str(mine["country"].iloc[0])},
            "transactions": [{"occurred_at": f"{d}T00:00:00Z", "amount": float(a)} for d, a in zip(mine["date"], mine["amount"], strict=True)]}


def _live_events(cid: str, as_of: pd.Timestamp) -> list[dict[str, Any]]:
    def at(delta: str, kind: str, **properties: str) -> dict[str, Any]:
        return {"customer_id": cid, "type": kind, "occurred_at": (as_of - pd.Timedelta(delta)).isoformat(), "properties": properties}

    return [at("30min", "login"), at("2D5h", "login"), at("9D", "login"), at("45D", "login"),
            at("1D", "feature_used", feature="reports"),  # adopted before the snapshot: not a new feature
            at("3D", "feature_used", feature="sso"), at("4D", "feature_used", feature="sso"),
            at("5D", "ticket")]


def test_live_usage_events_of_a_known_customer_give_the_next_cycles_features_and_score(usage_copy: Shop) -> None:
    cid = _adopter(usage_copy)
    for api in open_api(usage_copy):
        h = api.headers()
        snap = api.service.loaded().snapshot
        before = api.client.get(f"/v1/customers/{cid}", headers=h).json()
        held = _usage(before["features"])
        assert held["features_adopted"] == 2.0
        assert api.client.post("/v1/events", json={"events": _live_events(cid, snap.as_of)}, headers=h).status_code == 202
        after = api.client.get(f"/v1/customers/{cid}", headers=h).json()
        scored = api.client.post("/v1/score", json=_score_body(usage_copy, cid), headers=h).json()
        scored_with = snap.meta["models"]["score.buy_90d"]
    served = _usage(after["features"])
    # known answers: every window holds the logins younger than it; "sso" is the one new feature
    moved = {"login_count_7d": 2, "login_count_30d": 3, "login_count_90d": 4, "feature_used_count_7d": 3,
             "feature_used_count_30d": 3, "feature_used_count_90d": 3, "ticket_count_7d": 1, "ticket_count_30d": 1,
             "ticket_count_90d": 1, "features_adopted": 1}
    for name, added in moved.items():
        assert served[name] == held[name] + added, name
    assert (served["days_since_login"], served["days_since_feature_used"], served["days_since_ticket"]) == (0.0, 1.0, 5.0)
    assert served["login_trend_14d"] != held["login_trend_14d"]
    assert _usage(scored["features"]) == pytest.approx(served, nan_ok=True)
    assert after["live"]["events"] == 8
    assert after["scores"]["buy_90d"] != pytest.approx(before["scores"]["buy_90d"], abs=1e-9)
    assert scored["scores"]["buy_90d"] == pytest.approx(after["scores"]["buy_90d"], abs=1e-9)

    # the next cycle takes the same events in (the data's day, hence the cutoff, does not move)
    assert cli_main(["run", str(usage_copy.config_path)]) == 0
    cycle = load_current(usage_copy.config.snapshot_dir())
    assert cycle is not None and cycle.as_of == snap.as_of
    assert cycle.meta["models"]["score.buy_90d"] == scored_with  # the same score model (7 days to its retrain)
    row = cycle.locate(cid)
    assert row is not None
    assert served == pytest.approx(_usage(cycle.feature_values(row)), rel=1e-9, nan_ok=True)
    assert after["scores"]["buy_90d"] == pytest.approx(cycle.number("score.buy_90d", row), abs=1e-9)
