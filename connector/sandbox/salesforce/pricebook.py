"""Price books and line items: what a real org enforces when products reach an opportunity.

[SF object reference: Pricebook2, PricebookEntry, OpportunityLineItem]
- The org has one standard price book (IsStandard, read-only), seeded with the org.
- A PricebookEntry in a custom price book needs the product's standard entry first:
  STANDARD_PRICE_NOT_DEFINED; one entry per product per price book: DUPLICATE_VALUE.
  ProductCode and Name are copied from the product.
- An OpportunityLineItem needs an active PricebookEntryId (REQUIRED_FIELD_MISSING /
  FIELD_INTEGRITY_EXCEPTION); Product2Id, ProductCode, ListPrice and Name come from it;
  UnitPrice defaults to the list price; give UnitPrice or TotalPrice, not both; Quantity is
  not zero; TotalPrice = Quantity x UnitPrice. The opportunity's Amount becomes the sum of
  its lines, as it does in an org once an opportunity has products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.sandbox.salesforce.store import DmlError

if TYPE_CHECKING:
    from connector.sandbox.salesforce.store import RecordStore

STANDARD_PRICEBOOK_ID = "01s000000000001AAA"
PRICED = ("PricebookEntry", "OpportunityLineItem")


def seed_standard_pricebook(store: RecordStore, system: dict) -> None:
    store.put_new("Pricebook2", {**system, "Id": STANDARD_PRICEBOOK_ID, "Name": "Standard Price Book",
                                 "IsActive": True, "IsStandard": True, "Description": None})


def before_insert(store: RecordStore, name: str, rec: dict) -> None:
    if name == "PricebookEntry":
        _entry(store, rec)
    elif name == "OpportunityLineItem":
        _line(store, rec, None)


def before_update(store: RecordStore, name: str, old: dict, new: dict, changes: dict) -> None:
    if name == "OpportunityLineItem" and {"Quantity", "UnitPrice", "TotalPrice"} & set(changes):
        if "UnitPrice" in changes and "TotalPrice" in changes:
            raise DmlError("FIELD_INTEGRITY_EXCEPTION", "cannot specify both unit price and total price", ["TotalPrice"])
        if "TotalPrice" in changes:
            new["UnitPrice"] = _unit_from_total(new)
        _quantity(new)
        new["TotalPrice"] = round(float(new["Quantity"]) * float(new["UnitPrice"]), 2)


def after_change(store: RecordStore, name: str, rec: dict, stamp: str) -> None:
    """A line came, changed or went: its opportunity's Amount is the sum of its lines."""
    if name != "OpportunityLineItem":
        return
    opp = store.live["Opportunity"].get(rec["OpportunityId"])
    if opp is None:
        return
    lines = [store.live["OpportunityLineItem"][i] for i in store.lookup("OpportunityLineItem", ("OpportunityId",), (opp["Id"],))]
    store.replace("Opportunity", opp["Id"], {**opp, "Amount": round(sum(float(x["TotalPrice"]) for x in lines), 2),
                                             "LastModifiedDate": stamp, "SystemModstamp": stamp})


def _entry(store: RecordStore, rec: dict) -> None:
    product = store.live["Product2"].get(rec.get("Product2Id") or "")
    if product is None:
        raise DmlError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: Product2Id", ["Product2Id"])
    book = rec.get("Pricebook2Id")
    if store.lookup("PricebookEntry", ("Pricebook2Id", "Product2Id"), (book, product["Id"])):
        raise DmlError("DUPLICATE_VALUE", "This price definition already exists in this price book", [])
    if book != STANDARD_PRICEBOOK_ID and not store.lookup("PricebookEntry", ("Pricebook2Id", "Product2Id"), (STANDARD_PRICEBOOK_ID, product["Id"])):
        raise DmlError("STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", [])
    rec["ProductCode"], rec["Name"] = product.get("ProductCode"), product.get("Name")


def _line(store: RecordStore, rec: dict, old: dict | None) -> None:
    if not rec.get("PricebookEntryId"):
        raise DmlError("REQUIRED_FIELD_MISSING", "Required fields are missing: [PricebookEntryId]", ["PricebookEntryId"])
    entry = store.live["PricebookEntry"].get(rec["PricebookEntryId"])
    if entry is None or not entry.get("IsActive"):
        raise DmlError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: PricebookEntryId (pricebook entry is inactive)", ["PricebookEntryId"])
    if rec.get("Product2Id") not in (None, entry["Product2Id"]):
        raise DmlError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: Product2Id does not match the price book entry", ["Product2Id"])
    if rec.get("UnitPrice") is not None and rec.get("TotalPrice") is not None:
        raise DmlError("FIELD_INTEGRITY_EXCEPTION", "cannot specify both unit price and total price", ["TotalPrice"])
    _quantity(rec)
    opp = store.live["Opportunity"].get(rec.get("OpportunityId") or "")
    product = store.live["Product2"][entry["Product2Id"]]
    rec.update(Product2Id=entry["Product2Id"], ProductCode=product.get("ProductCode"), ListPrice=entry["UnitPrice"],
               Name=f"{opp['Name'] if opp else ''} {product['Name']}".strip())
    if rec.get("TotalPrice") is not None:
        rec["UnitPrice"] = _unit_from_total(rec)
    elif rec.get("UnitPrice") is None:
        rec["UnitPrice"] = entry["UnitPrice"]
    rec["TotalPrice"] = round(float(rec["Quantity"]) * float(rec["UnitPrice"]), 2)


def _quantity(rec: dict) -> None:
    if not rec.get("Quantity"):
        raise DmlError("FIELD_INTEGRITY_EXCEPTION", "field integrity exception: Quantity must be nonzero", ["Quantity"])


def _unit_from_total(rec: dict) -> float:
    _quantity(rec)
    return round(float(rec["TotalPrice"]) / float(rec["Quantity"]), 2)
