"""With products, the demo config pulls both CRMs' line items and maps the offers to both."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.demo import CONFIG, EXPERIMENT, OFFER_KEYS, with_offers

BASE = CONFIG.format(sf_instance="https://127.0.0.1:9", experiment=EXPERIMENT, sf_client_id="3MVGdemo",
                     sf_client_secret="sandbox-secret", hs_token="pat-na1-demo")


def test_demo_config_with_products_pulls_line_items_and_writes_offers(tmp_path: Path) -> None:
    path = tmp_path / "segsync.yaml"
    path.write_text(with_offers(BASE))
    cfg = load_config(path, env={})
    sf, hs = cfg.sources.salesforce, cfg.sources.hubspot
    assert sf is not None and hs is not None
    assert sf.line_items.enabled and hs.line_items.enabled and hs.search_overlap_minutes == 5
    assert {k: cfg.destinations.salesforce.fields[k] for k in OFFER_KEYS} == {
        "offer_1": "Segsync_Offer_1__c", "offer_2": "Segsync_Offer_2__c", "offer_3": "Segsync_Offer_3__c",
        "offer_reasons": "Segsync_Offer_Reasons__c"}
    assert {k: cfg.destinations.hubspot.properties[k] for k in OFFER_KEYS} == {k: f"segsync_{k}" for k in OFFER_KEYS}
    assert cfg.destinations.salesforce.fields["clv"] == "Segsync_CLV__c"  # the rest stays as it was
    assert cfg.offers.enabled and cfg.offers.max_eval_customers == 5000
    plain = tmp_path / "plain.yaml"
    plain.write_text(BASE)
    assert not load_config(plain, env={}).sources.salesforce.line_items.enabled  # type: ignore[union-attr]


def test_a_config_without_the_anchors_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="search_overlap_minutes: 5"):
        with_offers(BASE.replace("search_overlap_minutes: 5", "search_overlap_minutes: 6"))
