"""Which sandbox CRM holds each customer and purchase, and writing them there.

A share of customers lives in both CRMs under the same email, the rest in one (a seeded
split). Every purchase lives in exactly one CRM, so the union of both CRMs holds each purchase
once: a customer in both CRMs has each purchase recorded in one of them by a seeded coin (as
when web orders go to one system and sales-assisted orders to the other).

Salesforce: a Contact (FirstName, LastName, Email, the population's customer id in
`Sandbox_Customer_Id__c`, attributes in MailingCountry / LeadSource / <Attr>__c) and each
purchase a won Opportunity (StageName 'Closed Won' so IsWon is true, Amount, CloseDate,
ContactId). HubSpot: a contact (email, firstname, lastname, sandbox_customer_id, attributes)
and each purchase a closed-won deal (dealstage closedwon, pipeline default, amount,
closedate) associated to it.

Products (when the simulation has a catalog, baskets.py): Salesforce gets a Product2 and its
standard PricebookEntry per product and an OpportunityLineItem per line; HubSpot a product
per product and a line item made from it (hs_product_id, quantity, price) associated to the
deal (line item -> deal, typeId 20).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connector.sandbox.salesforce.pricebook import STANDARD_PRICEBOOK_ID

if TYPE_CHECKING:
    from connector.sandbox.baskets import Baskets, Catalog

SF_ID_FIELD = "Sandbox_Customer_Id__c"
HS_ID_PROPERTY = "sandbox_customer_id"
SF_ATTRIBUTE_FIELDS = {"country": "MailingCountry", "channel": "LeadSource"}
HS_ATTRIBUTE_PROPERTIES = {"country": "country", "channel": "acquisition_channel"}
_FIRST = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Femi", "Grace", "Hiro", "Ines", "Jon", "Kofi",
          "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera")
_LAST = ("Abe", "Brown", "Costa", "Diallo", "Eriksen", "Fischer", "Garcia", "Horvat", "Ito", "Jensen",
         "Kowalski", "Lopez", "Meyer", "Novak", "Okafor", "Park", "Rossi", "Silva", "Tanaka", "Weber")


@dataclass
class Placement:
    """Per customer index: present in Salesforce, present in HubSpot (at least one is true)."""

    in_salesforce: np.ndarray
    in_hubspot: np.ndarray

    @classmethod
    def draw(cls, n: int, rng: np.random.Generator, *, share_both: float = 0.3,
             salesforce_share: float = 0.5, salesforce: bool = True, hubspot: bool = True) -> Placement:
        """share_both live in both CRMs; of the rest, salesforce_share in Salesforce only."""
        if not salesforce and not hubspot:
            raise ValueError("a placement needs at least one CRM")
        if not 0 <= share_both <= 1 or not 0 <= salesforce_share <= 1:
            raise ValueError(f"shares must be in [0, 1] (got {share_both}, {salesforce_share})")
        u, v = rng.random(n), rng.random(n)
        if not (salesforce and hubspot):
            return cls(np.full(n, salesforce), np.full(n, hubspot))
        both = u < share_both
        return cls(both | (v < salesforce_share), both | (v >= salesforce_share))

    def purchase_in_salesforce(self, customer: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """For each purchase (by customer index): recorded in Salesforce, else in HubSpot."""
        coin = rng.random(customer.size) < 0.5
        sf, hs = self.in_salesforce[customer], self.in_hubspot[customer]
        return sf & (~hs | coin)


class CrmWriter:
    """Writes customers and purchases into the sandbox stores; keeps the id maps both ways."""

    def __init__(self, salesforce: Any | None, hubspot: Any | None, n_customers: int) -> None:
        self.sf = getattr(salesforce, "store", salesforce)
        self.hs = getattr(hubspot, "store", hubspot)
        self.sf_ids = np.full(n_customers, None, dtype=object)
        self.hs_ids = np.full(n_customers, None, dtype=object)
        self.sf_index: dict[str, int] = {}
        self.hs_index: dict[str, int] = {}
        self._entries: np.ndarray | None = None  # Salesforce PricebookEntry id per catalog product
        self._products: np.ndarray | None = None  # HubSpot product id per catalog product

    # ------------------------------------------------------------------ customers

    def add_customers(self, customers: pd.DataFrame, placement: Placement) -> None:
        """customers: the canonical frame (customer_id, email, created_at, attributes)."""
        attrs = [c for c in customers.columns if c not in ("customer_id", "email", "created_at")]
        self._define_fields(attrs)
        cols = {c: customers[c].astype(object).where(customers[c].notna(), None).to_numpy() for c in attrs}
        ids, emails = customers["customer_id"].to_numpy(dtype=object), customers["email"].to_numpy(dtype=object)
        created = customers["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.000+0000").to_numpy(dtype=object)
        if self.sf is not None:
            where = np.flatnonzero(placement.in_salesforce)
            rows = [self._sf_contact(i, ids[i], emails[i], created[i], {a: cols[a][i] for a in attrs})
                    for i in where.tolist()]
            new = self.sf.insert("Contact", rows)
            self.sf_ids[where] = new
            self.sf_index.update(zip(new, where.tolist(), strict=True))
        if self.hs is not None:
            where = np.flatnonzero(placement.in_hubspot)
            rows = [self._hs_contact(i, ids[i], emails[i], {a: cols[a][i] for a in attrs})
                    for i in where.tolist()]
            new = self.hs.create("contacts", rows)
            self.hs_ids[where] = new
            self.hs_index.update(zip(new, where.tolist(), strict=True))

    def _define_fields(self, attrs: list[str]) -> None:
        if self.sf is not None:
            for name in [SF_ID_FIELD, *(_sf_field(a) for a in attrs)]:
                if self.sf.schema.get("Contact").field(name) is None:
                    self.sf.schema.add_custom_field("Contact", {"name": name, "type": "Text", "length": 80})
        if self.hs is not None:
            for name in [HS_ID_PROPERTY, *(_hs_property(a) for a in attrs)]:
                if name not in self.hs.properties["contacts"]:
                    self.hs.define_property("contacts", name)

    @staticmethod
    def _sf_contact(i: int, cid: str, email: str, created: str, attrs: dict[str, Any]) -> dict[str, Any]:
        first, last = _name(i)
        row = {"FirstName": first, "LastName": last, "Email": email, SF_ID_FIELD: cid, "CreatedDate": created}
        row.update({_sf_field(a): v for a, v in attrs.items()})
        return row

    @staticmethod
    def _hs_contact(i: int, cid: str, email: str, attrs: dict[str, Any]) -> dict[str, Any]:
        first, last = _name(i)
        row = {"email": email, "firstname": first, "lastname": last, HS_ID_PROPERTY: cid}
        row.update({_hs_property(a): v for a, v in attrs.items() if v is not None})
        return row

    # ------------------------------------------------------------------ purchases

    def add_purchases(self, customer: np.ndarray, occurred_ns: np.ndarray, amount: np.ndarray,
                      in_salesforce: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """One purchase per row: customer index, time (int64 ns UTC), amount, where, name label.
        Returns each purchase's record id (Opportunity or deal), aligned with the rows."""
        stamp = pd.to_datetime(occurred_ns, utc=True)
        days = stamp.strftime("%Y-%m-%d").to_numpy(dtype=object)
        instants = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z").to_numpy(dtype=object)
        amounts = np.round(amount, 2).tolist()
        ids = np.full(len(customer), None, dtype=object)
        if self.sf is not None and in_salesforce.any():
            sf_rows = np.flatnonzero(in_salesforce)
            rows = [{"Name": f"Order {labels[k]}", "StageName": "Closed Won", "CloseDate": days[k],
                     "Amount": amounts[k], "ContactId": self.sf_ids[customer[k]]}
                    for k in sf_rows.tolist()]
            ids[sf_rows] = self.sf.insert("Opportunity", rows)
        if self.hs is not None and (~in_salesforce).any():
            where = np.flatnonzero(~in_salesforce).tolist()
            rows = [{"dealname": f"Order {labels[k]}", "dealstage": "closedwon", "pipeline": "default",
                     "amount": f"{amounts[k]:.2f}", "closedate": instants[k]} for k in where]
            deals = self.hs.create("deals", rows)
            for k, deal in zip(where, deals, strict=True):
                self.hs.associate("deals", deal, "contacts", self.hs_ids[customer[k]])
            ids[where] = deals
        return ids

    # ------------------------------------------------------------------ products

    def add_line_items(self, purchase_ids: np.ndarray, in_salesforce: np.ndarray, baskets: Baskets,
                       catalog: Catalog) -> None:
        """The lines of purchases already written (ids from add_purchases, aligned with
        in_salesforce), each to the CRM holding its purchase."""
        sf_line = in_salesforce[baskets.purchase]
        prices = [f"{p:.2f}" for p in baskets.unit_price.tolist()]
        if self.sf is not None and sf_line.any():
            entries = self._salesforce_catalog(catalog)
            self.sf.insert("OpportunityLineItem", [
                {"OpportunityId": purchase_ids[baskets.purchase[k]], "PricebookEntryId": entries[baskets.product[k]],
                 "Quantity": 1, "UnitPrice": float(prices[k])} for k in np.flatnonzero(sf_line).tolist()])
        if self.hs is not None and (~sf_line).any():
            products = self._hubspot_catalog(catalog)
            where = np.flatnonzero(~sf_line).tolist()
            lines = self.hs.create("line_items", [
                {"hs_product_id": products[baskets.product[k]], "quantity": "1", "price": prices[k]} for k in where])
            for k, line in zip(where, lines, strict=True):
                self.hs.associate("line_items", line, "deals", purchase_ids[baskets.purchase[k]])

    def _salesforce_catalog(self, catalog: Catalog) -> np.ndarray:
        if self._entries is None:
            assert self.sf is not None, "products go to Salesforce only when it is simulated"
            products = self.sf.insert("Product2", [
                {"Name": name, "ProductCode": code, "IsActive": True}
                for code, name in zip(catalog.product_id.tolist(), catalog.name.tolist(), strict=True)])
            self._entries = np.array(self.sf.insert("PricebookEntry", [
                {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": p, "UnitPrice": float(price), "IsActive": True}
                for p, price in zip(products, catalog.price.tolist(), strict=True)]), dtype=object)
        return self._entries

    def _hubspot_catalog(self, catalog: Catalog) -> np.ndarray:
        if self._products is None:
            assert self.hs is not None, "products go to HubSpot only when it is simulated"
            self._products = np.array(self.hs.create("products", [
                {"name": name, "hs_sku": code, "price": f"{price:.2f}"}
                for code, name, price in zip(catalog.product_id.tolist(), catalog.name.tolist(),
                                             catalog.price.tolist(), strict=True)]), dtype=object)
        return self._products


def _name(i: int) -> tuple[str, str]:
    return _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]


def _sf_field(attr: str) -> str:
    return SF_ATTRIBUTE_FIELDS.get(attr) or f"{attr[:1].upper()}{attr[1:]}__c"


def _hs_property(attr: str) -> str:
    return HS_ATTRIBUTE_PROPERTIES.get(attr, attr)
