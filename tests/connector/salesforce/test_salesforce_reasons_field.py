"""Reasons outgrow a Text(255) field: segsync creates them as Long Text Areas in Salesforce."""

from __future__ import annotations

from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.salesforce.provisioning import LONG_TEXT_LENGTH, describe_type, tooling_metadata
from tests.connector.salesforce.test_salesforce_sandbox import make_connector, make_sandbox


def test_reasons_fields_are_long_text_areas_and_take_three_offers_worth_of_text():
    reasons = FieldSpec("offer_reasons", "segsync offer reasons")
    assert tooling_metadata(reasons) == {"label": "segsync offer reasons", "type": "LongTextArea",
                                         "length": LONG_TEXT_LENGTH, "visibleLines": 3}
    assert describe_type(FieldSpec("offer_1", "segsync offer 1")) == "Text(255)"
    sb = make_sandbox()
    contact = sb.store.insert("Contact", [{"LastName": "Buyer", "Email": "b@example.com", "Segsync_Key__c": "k1"}])[0]
    conn = make_connector(sb, {"fields": {"offer_reasons": "Segsync_Offer_Reasons__c"}, "create_missing_fields": True})
    report = conn.provision([reasons])
    assert report.created == ("Segsync_Offer_Reasons__c",)
    text = " | ".join(f"{i}: bought Set Of 4 Pantry Jelly Moulds and Lunch Bag Spaceboy Design; customers who did "
                      f"buy Jumbo Bag Vintage Doily" for i in (1, 2, 3))
    assert len(text) > 255
    (result,) = conn.push_updates([FieldUpdate(contact, {"offer_reasons": text})])
    assert result.ok, result.message
    assert sb.store.get("Contact", contact)["Segsync_Offer_Reasons__c"] == text
