"""Lists as Campaigns: one per segment and per experiment arm, members in batches of 200.

- Found by exact Name, else created (Name holds 80 characters). A member status other than
  the "Sent"/"Responded" every new campaign gets is added as a CampaignMemberStatus.
- Adding: Collections create of CampaignMember rows. A contact can be in a campaign once;
  a second insert fails DUPLICATE_VALUE "Already a campaign member.", which means the
  desired state holds, so it counts as success (Grouparoo's Salesforce exporter does the same).
- Removing: there is no delete by (campaign, contact); query the member Ids, then delete
  them through Collections (`DELETE /composite/sobjects?ids=...`). A contact that is not a
  member, or a member already deleted, counts as removed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

from connector.config import SalesforceDestination
from connector.crm.base import RecordResult
from connector.crm.errors import ConfigurationError
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.push import result_from_collections
from connector.crm.salesforce.soql import in_list, quote, select

MAX_NAME = 80
BATCH = 200
DEFAULT_STATUSES = {"Sent", "Responded"}
GONE_OK = {"ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY"}


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class CampaignLists:
    """Campaign lookup, creation and membership for one member object (Contact or Lead)."""

    def __init__(self, client: SalesforceClient, destination: SalesforceDestination) -> None:
        self.client = client
        self.destination = destination
        self.member_field = {"Contact": "ContactId", "Lead": "LeadId", "Account": "AccountId"}[destination.object]
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def ensure(self, name: str) -> str:
        """The Campaign Id named `name`, created (with the member status) if missing."""
        if not name or len(name) > MAX_NAME:
            raise ConfigurationError(
                f"campaign name {name!r} must be 1-{MAX_NAME} characters; shorten the name template"
            )
        with self._lock:
            if name in self._ids:
                return self._ids[name]
            found = self._named(name, limit=1)
            if found:
                campaign_id = found[0]
            else:
                self.client.json("POST", "sobjects/Campaign", kind="campaign_create",
                                 json={"Name": name, "IsActive": True})
                campaign_id = self._keep_oldest(name)
                self._add_status(campaign_id)
            self._ids[name] = campaign_id
            return campaign_id

    def _named(self, name: str, limit: int | None = None) -> list[str]:
        soql = select(["Id"], "Campaign", [f"Name = {quote(name)}"], ["CreatedDate", "Id"], limit=limit)
        return [str(r["Id"]) for r in self.client.query_records(soql, kind="campaign_lookup")]

    def _keep_oldest(self, name: str) -> str:
        """After a create: the oldest Campaign of that name; newer twins are deleted.

        Campaign names are not unique and a create is a POST: when its reply is lost (a dropped
        connection) the transport retries it, and the first attempt may have succeeded. The
        twins were created a moment ago by this call, so they have no members yet.
        """
        ids = self._named(name)
        if len(ids) > 1:
            self.client.collections("DELETE", "", params={"ids": ",".join(ids[1:]), "allOrNone": "false"},
                                    kind="campaign_dedupe")
        return ids[0]

    def _add_status(self, campaign_id: str) -> None:
        status = self.destination.member_status
        if status in DEFAULT_STATUSES:
            return
        # Needs the Marketing User flag on the integration user (Salesforce Help, "Campaign member statuses").
        self.client.json("POST", "sobjects/CampaignMemberStatus", kind="campaign_status_create",
                         json={"CampaignId": campaign_id, "Label": status, "HasResponded": False, "SortOrder": 3})

    def members(self, campaign_id: str) -> set[str]:
        soql = select([self.member_field], "CampaignMember", [f"CampaignId = {quote(campaign_id)}"])
        return {str(r[self.member_field]) for r in self.client.query_records(soql, kind="campaign_members")
                if r.get(self.member_field)}

    def add(self, campaign_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        ids = list(dict.fromkeys(record_ids))
        for results in self.client.http.map(lambda batch: self._add_batch(campaign_id, batch), chunks(ids, BATCH)):
            yield from results

    def _add_batch(self, campaign_id: str, batch: list[str]) -> list[RecordResult]:
        records = [
            {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign_id, self.member_field: rid,
             "Status": self.destination.member_status}
            for rid in batch
        ]
        reply = self.client.collections("POST", "", {"allOrNone": False, "records": records}, kind="campaign_member_add")
        out = []
        for rid, item in zip(batch, reply, strict=False):
            result = result_from_collections(rid, item)
            if not result.ok and result.error_code == "DUPLICATE_VALUE":
                result = RecordResult(rid, True, message="already a member")
            out.append(result)
        out.extend(RecordResult(rid, False, error_code="RESULT_MISMATCH") for rid in batch[len(reply):])
        return out

    def remove(self, campaign_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        ids = list(dict.fromkeys(record_ids))
        for results in self.client.http.map(lambda batch: self._remove_batch(campaign_id, batch), chunks(ids, BATCH)):
            yield from results

    def _remove_batch(self, campaign_id: str, batch: list[str]) -> list[RecordResult]:
        soql = select(["Id", self.member_field], "CampaignMember",
                      [f"CampaignId = {quote(campaign_id)}", f"{self.member_field} IN {in_list(batch)}"])
        member_of = {str(r[self.member_field]): str(r["Id"])
                     for r in self.client.query_records(soql, kind="campaign_member_lookup")}
        results = {rid: RecordResult(rid, True, message="not a member") for rid in batch if rid not in member_of}
        doomed = [rid for rid in batch if rid in member_of]
        if doomed:
            reply = self.client.collections(
                "DELETE", "", kind="campaign_member_remove",
                params={"ids": ",".join(member_of[r] for r in doomed), "allOrNone": "false"},
            )
            for rid, item in zip(doomed, reply, strict=False):
                result = result_from_collections(rid, item)
                if not result.ok and result.error_code in GONE_OK:
                    result = RecordResult(rid, True, message="already removed")
                results[rid] = result
            for rid in doomed[len(reply):]:
                results[rid] = RecordResult(rid, False, error_code="RESULT_MISMATCH")
        return [results[rid] for rid in batch]
