"""The SaaS population in the Salesforce sandbox: what a product-led company's org would hold.

Each user is a Contact (Email, CreatedDate = signup); each login and feature use a Task on it
(Type = the event type, Subject = the feature, CreatedDate = when it happened, as an
integration that logs product usage writes them); each support ticket a Case; each conversion
to paid a Closed Won Opportunity (Amount = the first payment, CloseDate = the conversion day).
Records go straight into the sandbox's store (backdated CreatedDate), as the CDNOW load does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from connector.sandbox.saas import SaasPopulation

if TYPE_CHECKING:
    from connector.sandbox.salesforce import SalesforceSandbox

_SF_STAMP = "%Y-%m-%dT%H:%M:%S.000+0000"


def load_into_salesforce(sb: SalesforceSandbox, population: SaasPopulation, price: float = 49.0) -> dict[str, str]:
    """Insert every user, event and conversion of ``population``; returns customer_id -> Contact Id."""
    customers = population.customers
    contacts = sb.store.insert("Contact", [
        {"LastName": cid, "Email": email, "CreatedDate": created.strftime(_SF_STAMP)}
        for cid, email, created in zip(customers["customer_id"], customers["email"], customers["created_at"], strict=True)])
    ids = dict(zip(customers["customer_id"].astype(str), contacts, strict=True))
    events = population.events
    who = events["customer_id"].astype(str).map(ids).to_numpy()
    stamps = pd.DatetimeIndex(events["occurred_at"]).strftime(_SF_STAMP)
    kinds = events["type"].astype(str).to_numpy()
    features = events["feature"].astype(object).to_numpy()
    tasks = [{"WhoId": w, "Type": k, "Subject": None if pd.isna(f) else str(f), "Status": "Completed", "CreatedDate": s}
             for w, k, f, s in zip(who, kinds, features, stamps, strict=True) if k != "ticket"]
    cases = [{"ContactId": w, "Subject": "Support request", "Status": "New", "Origin": "Web", "CreatedDate": s}
             for w, k, s in zip(who, kinds, stamps, strict=True) if k == "ticket"]
    sb.store.insert("Task", tasks)
    sb.store.insert("Case", cases)
    paid = population.truth[population.truth["converted"]]
    sb.store.insert("Opportunity", [
        {"Name": f"Paid plan {cid}", "ContactId": ids[cid], "StageName": "Closed Won", "Amount": price,
         "CloseDate": f"{when:%Y-%m-%d}", "CreatedDate": when.strftime(_SF_STAMP)}
        for cid, when in zip(paid["customer_id"].astype(str), paid["converted_at"], strict=True)])
    return ids
