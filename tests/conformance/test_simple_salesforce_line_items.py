"""simple-salesforce against the sandbox's products on won deals: Product2 -> PricebookEntry
(standard first) -> OpportunityLineItem, and the incremental pull query a connector runs
(parent relationship fields through Opportunity and Product2, cursor on SystemModstamp)."""
# ruff: noqa: S608 - SOQL from literals and sandbox ids

from __future__ import annotations

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

from simple_salesforce import Salesforce  # noqa: E402
from simple_salesforce.exceptions import SalesforceMalformedRequest  # noqa: E402

from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from connector.sandbox.salesforce.pricebook import STANDARD_PRICEBOOK_ID  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance
VERSION = "66.0"
PULL = ("SELECT Id, OpportunityId, Opportunity.ContactId, Opportunity.CloseDate, Product2Id, Product2.Name, "
        "Product2.ProductCode, Product2.Family, Quantity, UnitPrice, TotalPrice, SystemModstamp "
        "FROM OpportunityLineItem WHERE Opportunity.IsWon = true{after} ORDER BY SystemModstamp, Id")


@pytest.fixture
def sb(clock):
    return SalesforceSandbox(clock=clock)


@pytest.fixture
def sf(sb):
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"], privatekey=c["private_key"],
                      domain="login", version=VERSION, session=mounted_session(sb.app))


def _catalog(sf) -> tuple[dict, dict]:
    mug = sf.Product2.create({"Name": "Mug", "ProductCode": "MUG-1", "Family": "Kitchen", "IsActive": True})["id"]
    tea = sf.Product2.create({"Name": "Tea", "ProductCode": "TEA-1", "Family": "Food", "IsActive": True})["id"]
    entries = {
        p: sf.PricebookEntry.create({"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": p, "UnitPrice": price, "IsActive": True})["id"]
        for p, price in ((mug, 8.0), (tea, 3.5))
    }
    return {"mug": mug, "tea": tea}, entries


def test_line_items_on_won_opportunities_come_back_with_product_and_contact(sf, sb, clock):
    products, entries = _catalog(sf)
    contact = sf.Contact.create({"LastName": "Buyer", "Email": "buyer@example.com"})["id"]
    won = sf.Opportunity.create({"Name": "Order 1", "ContactId": contact, "StageName": "Closed Won", "CloseDate": "2026-05-30"})["id"]
    lost = sf.Opportunity.create({"Name": "Order 2", "ContactId": contact, "StageName": "Closed Lost", "CloseDate": "2026-05-30"})["id"]
    line = sf.OpportunityLineItem.create({"OpportunityId": won, "PricebookEntryId": entries[products["mug"]], "Quantity": 3})
    sf.OpportunityLineItem.create({"OpportunityId": won, "PricebookEntryId": entries[products["tea"]], "Quantity": 2, "UnitPrice": 3.0})
    sf.OpportunityLineItem.create({"OpportunityId": lost, "PricebookEntryId": entries[products["tea"]], "Quantity": 9})
    rows = sf.query_all(PULL.format(after=""))["records"]
    assert [(r["Product2"]["Name"], r["Product2"]["ProductCode"], r["Product2"]["Family"], r["Quantity"], r["UnitPrice"], r["TotalPrice"])
            for r in rows] == [("Mug", "MUG-1", "Kitchen", 3.0, 8.0, 24.0), ("Tea", "TEA-1", "Food", 2.0, 3.0, 6.0)]
    assert {r["Opportunity"]["ContactId"] for r in rows} == {contact}
    assert rows[0]["Product2Id"] == products["mug"] and rows[0]["OpportunityId"] == won
    got = sf.OpportunityLineItem.get(line["id"])
    assert (got["ListPrice"], got["ProductCode"], got["Name"]) == (8.0, "MUG-1", "Order 1 Mug")
    assert sf.Opportunity.get(won)["Amount"] == 30.0  # the opportunity's amount is the sum of its lines

    # incremental: only the line changed after the cursor comes back
    last = rows[-1]
    clock.advance(seconds=60)
    sf.OpportunityLineItem.update(line["id"], {"Quantity": 4})
    after = f" AND (SystemModstamp > {last['SystemModstamp']} OR (SystemModstamp = {last['SystemModstamp']} AND Id > '{last['Id']}'))"
    changed = sf.query_all(PULL.format(after=after))["records"]
    assert [(r["Id"], r["Quantity"], r["TotalPrice"]) for r in changed] == [(line["id"], 4.0, 32.0)]


def test_price_book_rules_refuse_what_an_org_refuses(sf):
    custom = sf.Pricebook2.create({"Name": "Wholesale", "IsActive": True})["id"]
    product = sf.Product2.create({"Name": "Vase", "ProductCode": "V-1", "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest, match="STANDARD_PRICE_NOT_DEFINED"):
        sf.PricebookEntry.create({"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 5, "IsActive": True})
    sf.PricebookEntry.create({"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": product, "UnitPrice": 6, "IsActive": True})
    with pytest.raises(SalesforceMalformedRequest, match="DUPLICATE_VALUE"):
        sf.PricebookEntry.create({"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": product, "UnitPrice": 7, "IsActive": True})
    entry = sf.PricebookEntry.create({"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 5, "IsActive": True})["id"]
    opp = sf.Opportunity.create({"Name": "O", "StageName": "Prospecting", "CloseDate": "2026-06-30"})["id"]
    with pytest.raises(SalesforceMalformedRequest, match="REQUIRED_FIELD_MISSING"):
        sf.OpportunityLineItem.create({"OpportunityId": opp, "Quantity": 1})
    with pytest.raises(SalesforceMalformedRequest, match="FIELD_INTEGRITY_EXCEPTION"):
        sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 5, "TotalPrice": 5})
    standard = sf.query(f"SELECT Id, IsStandard FROM Pricebook2 WHERE Id = '{STANDARD_PRICEBOOK_ID}'")["records"]
    assert standard[0]["IsStandard"] is True
    sf.Opportunity.delete(opp)
    assert sf.query_all("SELECT Id FROM OpportunityLineItem")["totalSize"] == 0
