"""Outcome reads: campaign responses and won Opportunities of segsync's campaign members.

Per experiment, with its arm campaigns:
1. `SELECT ContactId, CampaignId, Status, HasResponded, FirstRespondedDate FROM CampaignMember
   WHERE CampaignId IN (...)` gives who is in which arm, and who responded since the date
   -> metric "responded" (1.0 at FirstRespondedDate).
2. Transactions of those members (won Opportunities by default: the configured transaction
   object, amount, date, customer field and condition), closed on or after the date, read in
   chunks of member ids -> metric "conversion" (1.0) and "revenue" (amount) at the close date.

The member -> arm map comes from step 1, so an Opportunity is attributed to the campaign its
contact is a member of. Semi-joins (`ContactId IN (SELECT ...)`) would save the member read,
but then the arm is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date

from connector.config import SalesforceTransactions
from connector.crm.base import OutcomeRecord
from connector.crm.salesforce.campaigns import chunks
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.records import flatten, parse_amount, parse_bool, parse_datetime
from connector.crm.salesforce.soql import in_list, literal, select

#: Contact ids per Opportunity query: keeps the GET URL far below its 16 KB limit.
IDS_PER_QUERY = 300


class OutcomeReader:
    def __init__(self, client: SalesforceClient, transactions: SalesforceTransactions, member_field: str) -> None:
        self.client = client
        self.transactions = transactions
        self.member_field = member_field

    def read(self, lists: Mapping[str, Sequence[str]], since: date) -> Iterator[OutcomeRecord]:
        for experiment, campaign_ids in lists.items():
            if campaign_ids:
                yield from self._experiment(experiment, list(campaign_ids), since)

    def _experiment(self, experiment: str, campaign_ids: list[str], since: date) -> Iterator[OutcomeRecord]:
        fields = [self.member_field, "CampaignId", "Status", "HasResponded", "FirstRespondedDate"]
        soql = select(fields, "CampaignMember", [f"CampaignId IN {in_list(campaign_ids)}"])
        arm_of: dict[str, str] = {}
        for raw in self.client.query_records(soql, kind="outcome_members"):
            row = flatten(raw)
            member = row.get(self.member_field)
            if not member:
                continue
            arm_of[str(member)] = str(row["CampaignId"])
            responded = parse_datetime(row.get("FirstRespondedDate"))
            if parse_bool(row.get("HasResponded")) and responded is not None and responded.date() >= since:
                yield OutcomeRecord(experiment, str(row["CampaignId"]), str(member), "responded", 1.0, responded)
        if self.member_field == "ContactId":
            yield from self._purchases(experiment, arm_of, since)

    def _purchases(self, experiment: str, arm_of: dict[str, str], since: date) -> Iterator[OutcomeRecord]:
        t = self.transactions
        for batch in chunks(sorted(arm_of), IDS_PER_QUERY):
            conditions = [f"{t.customer_field} IN {in_list(batch)}", f"{t.date_field} >= {literal(since)}"]
            if t.where:
                conditions.append(t.where)
            soql = select(["Id", t.customer_field, t.amount_field, t.date_field], t.object, conditions)
            for raw in self.client.query_records(soql, kind="outcome_transactions"):
                row = flatten(raw)
                customer = str(row.get(t.customer_field))
                closed = parse_datetime(row.get(t.date_field))
                if closed is None or customer not in arm_of:
                    continue
                amount = parse_amount(row.get(t.amount_field))
                yield OutcomeRecord(experiment, arm_of[customer], customer, "conversion", 1.0, closed)
                yield OutcomeRecord(experiment, arm_of[customer], customer, "revenue",
                                    0.0 if math.isnan(amount) else amount, closed)
