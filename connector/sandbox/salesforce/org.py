"""The org's own records: its Organization row and the integration user.

`SELECT IsSandbox FROM Organization` is how a client tells a sandbox org from production
[Object Reference, Organization]; this emulator is a sandbox, so IsSandbox is true. Both
objects are read-only through the API (INVALID_TYPE_FOR_OPERATION on DML).
"""

from __future__ import annotations

from connector.sandbox.salesforce.auth import ORG_ID  # the org the token's identity URL names
from connector.sandbox.salesforce.pricebook import seed_standard_pricebook
from connector.sandbox.salesforce.store import USER_ID, RecordStore
from connector.sandbox.salesforce.values import format_datetime


def seed_org(store: RecordStore) -> None:
    """Insert the Organization and the integration User (trusted writes, fixed Ids)."""
    stamp = format_datetime(store.clock.now())
    system = {"IsDeleted": False, "CreatedDate": stamp, "CreatedById": USER_ID,
              "LastModifiedDate": stamp, "LastModifiedById": USER_ID, "SystemModstamp": stamp}
    with store.lock:
        store.put_new("Organization", {
            **system, "Id": ORG_ID, "Name": "segsync sandbox", "IsSandbox": True,
            "OrganizationType": "Developer Edition", "InstanceName": "CS5",
            "NamespacePrefix": None, "TrialExpirationDate": None, "LanguageLocaleKey": "en_US",
            "TimeZoneSidKey": "GMT", "DefaultLocaleSidKey": "en_US", "Country": None})
        store.put_new("User", {
            **system, "Id": USER_ID, "Username": "integration@segsync.sandbox",
            "FirstName": "Integration", "LastName": "User", "Name": "Integration User",
            "Email": "integration@segsync.sandbox", "Alias": "integ", "IsActive": True,
            "UserPermissionsMarketingUser": True})
        seed_standard_pricebook(store, system)
