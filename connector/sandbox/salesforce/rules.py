"""The org's built-in behaviour on insert, update and delete (what triggers do in a real org).

- Contact/Lead `Name` is computed; Opportunity `IsWon`/`IsClosed` follow `StageName`.
- A new Campaign gets two CampaignMemberStatus rows: "Sent" (default) and "Responded"
  (HasResponded) [SF object reference, CampaignMemberStatus].
- CampaignMember: one per contact (or lead) per campaign, else DUPLICATE_VALUE
  "Already a campaign member." (the exact string seen in Grouparoo's exporter);
  `Status` must be one of the campaign's statuses; `HasResponded`/`FirstRespondedDate`
  follow it; campaign roll-ups (NumberOfContacts/Leads/Responses) follow members.
- A converted lead refuses updates and new memberships: CANNOT_UPDATE_CONVERTED_LEAD.
- Deleting a contact, lead or campaign deletes its campaign members; deleting an opportunity
  deletes its line items.
- Price books and line items: sandbox.salesforce.pricebook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.sandbox.salesforce import pricebook
from connector.sandbox.salesforce.store import USER_ID, DmlError

if TYPE_CHECKING:
    from connector.sandbox.salesforce.schema import ObjectSchema
    from connector.sandbox.salesforce.store import RecordStore

WON, LOST = "Closed Won", "Closed Lost"


class Rules:
    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._unique_fields: dict[tuple[str, int], list] = {}

    def defaults(self, obj: ObjectSchema, stamp: str) -> dict:
        d: dict = {f.name: False for f in obj.fields.values() if f.type == "boolean"}
        d.update(CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp,
                 CreatedById=USER_ID, LastModifiedById=USER_ID)
        if "ownerid" in obj.fields:
            d["OwnerId"] = USER_ID
        if obj.name == "Lead":
            d["Status"] = "Open - Not Contacted"
        if obj.name == "Campaign":
            d.update(NumberOfContacts=0, NumberOfLeads=0, NumberOfResponses=0,
                     AmountWonOpportunities=0.0)
        return d

    # ---- insert ----------------------------------------------------------------------
    def insert(self, obj: ObjectSchema, rec: dict) -> str:
        if "Id" in rec:
            raise DmlError("INVALID_FIELD_FOR_INSERT_UPDATE",
                           "Unable to create/update fields: Id. Please check the security "
                           "settings of this field and verify that it is read/write for your "
                           "profile or permission set.", ["Id"])
        name = obj.name
        self._computed(name, rec)
        if name in pricebook.PRICED:
            pricebook.before_insert(self.store, name, rec)
        if name == "CampaignMember":
            self._member_before_insert(rec)
        elif name == "CampaignMemberStatus":
            self._status_before_insert(rec)
        self._unique(obj, rec)
        rec["Id"] = self.store.new_id(obj)
        self.store.put_new(name, rec)
        if name == "Campaign":
            self._default_statuses(rec)
        elif name == "CampaignMember":
            self._rollup(rec, +1)
        pricebook.after_change(self.store, name, rec, _stamp(self.store))
        return rec["Id"]

    def _computed(self, name: str, rec: dict) -> None:
        if name in ("Contact", "Lead") and ("LastName" in rec or "FirstName" in rec):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)
        if name == "Opportunity" and "StageName" in rec:
            rec["IsWon"] = rec["StageName"] == WON
            rec["IsClosed"] = rec["StageName"] in (WON, LOST)

    def _unique(self, obj: ObjectSchema, rec: dict, rid: str | None = None) -> None:
        key = (obj.name, len(obj.fields))  # custom fields only ever get added
        unique = self._unique_fields.get(key)
        if unique is None:
            unique = self._unique_fields[key] = [f for f in obj.fields.values() if f.unique]
        for f in unique:
            if rec.get(f.name) is not None:
                hits = self.store.lookup(obj.name, (f.name,), (rec[f.name],)) - {rid}
                if hits:
                    raise DmlError("DUPLICATE_VALUE", f"duplicate value found: {f.name} "
                                   f"duplicates value on record with id: {min(hits)}", [f.name])

    def _member_before_insert(self, rec: dict) -> None:
        s = self.store
        campaign = s.live["Campaign"].get(rec.get("CampaignId") or "")
        if campaign is None:
            raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["CampaignId"])
        if not rec.get("ContactId") and not rec.get("LeadId"):
            raise DmlError("REQUIRED_FIELD_MISSING", "Required fields are missing: [ContactId]",
                           ["ContactId"])
        who = "ContactId" if rec.get("ContactId") else "LeadId"
        target = s.live["Contact" if who == "ContactId" else "Lead"].get(rec[who])
        if target is None:
            raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [who])
        if who == "LeadId" and target.get("IsConverted"):
            raise DmlError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [who])
        if s.lookup("CampaignMember", ("CampaignId", who), (campaign["Id"], rec[who])):
            raise DmlError("DUPLICATE_VALUE", "Already a campaign member.")
        rec["Type"] = "Contact" if who == "ContactId" else "Lead"
        statuses = self._statuses(campaign["Id"])
        if not rec.get("Status"):
            rec["Status"] = next((st["Label"] for st in statuses if st["IsDefault"]), "Sent")
        self._apply_status(rec, statuses)

    def _statuses(self, campaign_id: str) -> list[dict]:
        ids = self.store.lookup("CampaignMemberStatus", ("CampaignId",), (campaign_id,))
        live = self.store.live["CampaignMemberStatus"]
        return sorted((live[i] for i in ids), key=lambda st: st.get("SortOrder") or 0)

    def _apply_status(self, rec: dict, statuses: list[dict], old: dict | None = None) -> None:
        match = next((st for st in statuses if st["Label"] == rec["Status"]), None)
        if match is None:
            raise DmlError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                           f"Status: bad value for restricted picklist field: {rec['Status']}",
                           ["Status"])
        rec["HasResponded"] = bool(match.get("HasResponded"))
        first = (old or {}).get("FirstRespondedDate")
        if rec["HasResponded"] and not first:
            first = self.store.clock.now().date().isoformat()
        rec["FirstRespondedDate"] = first

    def _status_before_insert(self, rec: dict) -> None:
        cid = rec.get("CampaignId") or ""
        if cid not in self.store.live["Campaign"]:
            raise DmlError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["CampaignId"])
        existing = self._statuses(cid)
        if any(st["Label"] == rec.get("Label") for st in existing):
            raise DmlError("DUPLICATE_VALUE", f"duplicate value found: Label duplicates value on "
                           f"record with id: {existing[0]['Id']}", ["Label"])
        if rec.get("IsDefault"):
            for st in existing:
                if st["IsDefault"]:
                    self.store.replace("CampaignMemberStatus", st["Id"], {**st, "IsDefault": False})
        rec.setdefault("SortOrder", max((st.get("SortOrder") or 0 for st in existing), default=0) + 1)

    def _default_statuses(self, campaign: dict) -> None:
        self.store.insert("CampaignMemberStatus", [
            {"CampaignId": campaign["Id"], "Label": "Sent", "IsDefault": True, "SortOrder": 1},
            {"CampaignId": campaign["Id"], "Label": "Responded", "HasResponded": True,
             "SortOrder": 2},
        ])

    def _rollup(self, member: dict, sign: int, responded_only: bool = False) -> None:
        campaign = self.store.live["Campaign"].get(member["CampaignId"])
        if campaign is None:
            return
        new = dict(campaign)
        if not responded_only:
            key = "NumberOfContacts" if member.get("ContactId") else "NumberOfLeads"
            new[key] = (new.get(key) or 0) + sign
        if member.get("HasResponded"):
            new["NumberOfResponses"] = (new.get("NumberOfResponses") or 0) + sign
        self.store.replace("Campaign", campaign["Id"], new)

    # ---- update / delete -------------------------------------------------------------
    def update(self, obj: ObjectSchema, old: dict, changes: dict) -> None:
        name = obj.name
        if name == "Lead" and old.get("IsConverted") and "IsConverted" not in changes:
            raise DmlError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        new = {**old, **changes}
        self._computed(name, new if ("FirstName" in changes or "LastName" in changes
                                     or "StageName" in changes) else {})
        if name == "CampaignMember" and "Status" in changes:
            self._apply_status(new, self._statuses(old["CampaignId"]), old)
        if name in pricebook.PRICED:
            pricebook.before_update(self.store, name, old, new, changes)
        self._unique(obj, new, old["Id"])
        stamp = _stamp(self.store)
        new["LastModifiedDate"] = new["SystemModstamp"] = stamp
        if name == "CampaignMember" and new["HasResponded"] != old["HasResponded"]:
            self._rollup(old, -1, responded_only=True)
            self.store.replace(name, old["Id"], new)
            self._rollup(new, +1, responded_only=True)
            return
        self.store.replace(name, old["Id"], new)
        pricebook.after_change(self.store, name, new, stamp)

    def delete(self, obj: ObjectSchema, rec: dict) -> None:
        s = self.store
        name = obj.name
        stamp = _stamp(s)
        if name in ("Contact", "Lead", "Campaign"):
            key = {"Contact": "ContactId", "Lead": "LeadId", "Campaign": "CampaignId"}[name]
            for mid in s.lookup("CampaignMember", (key,), (rec["Id"],)):
                self.delete(s.obj("CampaignMember"), s.live["CampaignMember"][mid])
        if name == "Opportunity":  # its line items go with it
            for lid in s.lookup("OpportunityLineItem", ("OpportunityId",), (rec["Id"],)):
                s.remove("OpportunityLineItem", lid, stamp)
        if name == "CampaignMember":
            self._rollup(rec, -1)
        s.remove(name, rec["Id"], stamp)
        pricebook.after_change(s, name, rec, stamp)


def _stamp(store: RecordStore) -> str:
    from connector.sandbox.salesforce.values import format_datetime

    return format_datetime(store.clock.now())
