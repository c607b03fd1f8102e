"""hubspot-api-client against the sandbox's products and line items: a product made through the
SDK, a line item made from it inside a deal's create body (line item -> deal, typeId 20), the
line's calculated amount, the v4 batch read both ways (deal -> line item 19), and the incremental
search on hs_lastmodifieddate a connector runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

hubspot = pytest.importorskip("hubspot")

from hubspot.crm.associations.v4 import (  # noqa: E402
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.line_items import ApiException as LineItemsApiException  # noqa: E402
from hubspot.crm.line_items import (  # noqa: E402
    AssociationSpec,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.line_items import SimplePublicObjectInputForCreate as LineItemInput  # noqa: E402
from hubspot.crm.products import SimplePublicObjectInputForCreate as ProductInput  # noqa: E402

pytestmark = pytest.mark.conformance
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _to_deal(deal_id: str) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(to=PublicObjectId(id=deal_id), types=[AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=20)])


def test_products_and_line_items_read_back_with_their_deal(hubspot_sdk):
    hs, client = hubspot_sdk
    (deal,) = hs.store.create("deals", [{"dealname": "Order 7", "dealstage": "closedwon", "amount": "24"}])
    product = client.crm.products.basic_api.create(ProductInput(
        properties={"name": "Mug", "price": "8", "hs_sku": "MUG-1", "description": "Stoneware"}))
    assert product.properties["name"] == "Mug" and product.properties["price"] == "8"
    got = client.crm.products.basic_api.get_by_id(product.id, properties=["name", "price", "hs_sku"])
    assert {k: got.properties[k] for k in ("name", "price", "hs_sku")} == {"name": "Mug", "price": "8", "hs_sku": "MUG-1"}
    assert got.properties["hs_object_id"] == product.id

    line = client.crm.line_items.basic_api.create(LineItemInput(
        properties={"hs_product_id": product.id, "quantity": "3"}, associations=[_to_deal(deal)]))
    read = client.crm.line_items.basic_api.get_by_id(
        line.id, properties=["name", "price", "quantity", "amount", "hs_product_id", "hs_sku"], associations=["deals"])
    # a line made from a product takes its name, price and SKU; HubSpot calculates the amount
    assert {k: read.properties[k] for k in ("name", "price", "quantity", "amount", "hs_product_id", "hs_sku")} == {
        "name": "Mug", "price": "8", "quantity": "3", "amount": "24", "hs_product_id": product.id, "hs_sku": "MUG-1"}
    assert [a.id for a in read.associations["deals"].results] == [deal]
    assert read.properties["hs_lastmodifieddate"] == "2026-06-01T12:00:00.000Z"

    fetch = BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=line.id)])
    (result,) = client.crm.associations.v4.batch_api.get_page("line_items", "deals", fetch).results
    (target,) = result.to
    assert target.to_object_id == deal
    assert [(t.category, t.type_id) for t in target.association_types] == [("HUBSPOT_DEFINED", 20)]
    back = BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=deal)])
    (result,) = client.crm.associations.v4.batch_api.get_page("deals", "line_items", back).results
    assert [(t.to_object_id, [a.type_id for a in t.association_types]) for t in result.to] == [(line.id, [19])]


def test_line_items_search_by_hs_lastmodifieddate_pages_like_other_objects(hubspot_sdk):
    hs, client = hubspot_sdk
    ids = hs.store.create("line_items", [{"name": f"L{i}", "price": "2", "quantity": "1"} for i in range(5)])
    hs.clock.advance(seconds=3600)
    hs.store.update("line_items", ids[1], {"quantity": "4"})
    hs.store.update("line_items", ids[3], {"quantity": "6"})
    cutoff = str(int(START.timestamp() * 1000))
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="hs_lastmodifieddate", operator="GT", value=cutoff)])],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        properties=["quantity", "amount", "hs_lastmodifieddate"], limit=1)
    first = client.crm.line_items.search_api.do_search(request)
    assert first.total == 2 and [r.id for r in first.results] == [ids[1]]
    assert first.results[0].properties["amount"] == "8"
    request.after = first.paging.next.after
    second = client.crm.line_items.search_api.do_search(request)
    assert [r.id for r in second.results] == [ids[3]] and second.paging is None
    assert second.results[0].properties["hs_lastmodifieddate"] == "2026-06-01T13:00:00.000Z"


def test_a_line_item_property_that_does_not_exist_is_refused(hubspot_sdk):
    _, client = hubspot_sdk
    with pytest.raises(LineItemsApiException) as err:
        client.crm.line_items.basic_api.create(LineItemInput(properties={"family": "Kitchen"}))
    assert err.value.status == 400 and "PROPERTY_DOESNT_EXIST" in err.value.body
