"""`segsync check` with line items: HubSpot's line-item read scope and OpportunityLineItem's
fields are checked only when the config pulls line items."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from connector.check import Check, render_text, run_checks
from connector.check import hubspot as hubspot_check
from connector.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "e2e"))
from world import E2EWorld  # noqa: E402


@pytest.fixture
def world(tmp_path: Path) -> E2EWorld:
    return E2EWorld(tmp_path, n_customers=60)


def config(world: E2EWorld) -> Config:
    data = world.config_data()
    for crm in ("salesforce", "hubspot"):
        data["sources"][crm]["line_items"] = {"enabled": True}
    return Config.model_validate(data)


def checks_of(world: E2EWorld, cfg: Config) -> list[Check]:
    return run_checks(cfg, transports={"salesforce": httpx.WSGITransport(app=world.sf_log),
                                       "hubspot": httpx.WSGITransport(app=world.hs_log)})


def test_line_items_add_their_scope_and_fields_and_pass(world: E2EWorld) -> None:
    cfg = config(world)
    assert hubspot_check.needed_scopes(cfg.sources.hubspot, None)["crm.objects.line_items.read"].startswith("pull the line items")
    assert "crm.objects.line_items.read" not in hubspot_check.needed_scopes(world.config().sources.hubspot, None)
    checks = checks_of(world, cfg)
    assert [c for c in checks if not c.ok] == [], render_text(checks)
    names = {c.name for c in checks}
    assert {"scope crm.objects.line_items.read", "OpportunityLineItem fields readable"} <= names


def test_a_missing_line_item_scope_or_hidden_field_is_named(world: E2EWorld) -> None:
    world.hs.scopes.revoke("crm.objects.line_items.read")
    world.sf.hide_field("OpportunityLineItem", "Quantity")
    bad = {c.name: c for c in checks_of(world, config(world)) if not c.ok}
    assert set(bad) == {"scope crm.objects.line_items.read", "OpportunityLineItem fields readable"}
    assert "MISSING_SCOPES" in bad["scope crm.objects.line_items.read"].detail
    assert bad["OpportunityLineItem fields readable"].detail == "not visible: Quantity"
