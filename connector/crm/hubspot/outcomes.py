"""Experiment outcomes: deals closed won since a date, for contacts in an arm's list.

Stage ids such as `closedwon` exist only in the default pipeline, so won deals are found by
`hs_is_closed_won EQ true AND closedate GTE <midnight UTC ms>` (crm-apis.md B8), searched
with the same cap-crossing scan as incremental pulls, and tied to contacts through the v4
association batch read.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time

from connector.crm.base import OutcomeRecord
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.associations import associated_ids
from connector.crm.hubspot.membership import ListManager
from connector.crm.hubspot.records import DEAL_PROPERTIES
from connector.crm.hubspot.search import SearchScan
from connector.crm.hubspot.values import parse_amount, parse_timestamp

WON = {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"}


def _membership(lists: ListManager, arms: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """contact id -> {experiment: list id} for every member of the given lists."""
    members: dict[str, dict[str, str]] = {}
    for experiment, list_ids in arms.items():
        for list_id in list_ids:
            for contact in lists.members(list_id):
                members.setdefault(contact, {}).setdefault(experiment, str(list_id))
    return members


def read_outcomes(
    api: HubSpotApi, lists: ListManager, arms: Mapping[str, Sequence[str]], since: date
) -> Iterator[OutcomeRecord]:
    """A "conversion" (1.0) and a "revenue" (amount) row per won deal and experiment.

    Each deal counts once per experiment, for its lowest-id associated contact that is in
    one of that experiment's lists.
    """
    members = _membership(lists, arms)
    if not members:
        return
    start = datetime.combine(since, time(0), tzinfo=UTC)
    scan = SearchScan("closedate", start, DEAL_PROPERTIES, extra_filters=[WON])
    while (body := scan.next_request()) is not None:
        reply = api.call("POST", api.paths.search("deals"), kind="deals_search", json=body, search=True)
        deals = scan.feed(reply)
        if not deals:
            continue
        contacts = associated_ids(api, "deals", "contacts", [str(d["id"]) for d in deals])
        for deal in deals:
            props = deal.get("properties") or {}
            closed = parse_timestamp(props.get("closedate"))
            if closed is None:
                continue
            done: set[str] = set()
            for contact in contacts.get(str(deal["id"])) or []:
                for experiment, list_id in (members.get(contact) or {}).items():
                    if experiment in done:
                        continue
                    done.add(experiment)
                    yield OutcomeRecord(experiment, list_id, contact, "conversion", 1.0, closed)
                    amount = parse_amount(props.get("amount"))
                    if amount is not None:
                        yield OutcomeRecord(experiment, list_id, contact, "revenue", amount, closed)
