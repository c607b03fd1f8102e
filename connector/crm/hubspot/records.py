"""HubSpot objects turned into canonical records (connector.crm.base)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from connector.crm.base import CustomerRecord, LineItemRecord, TransactionRecord
from connector.crm.hubspot.classifier import CRM
from connector.crm.hubspot.values import parse_amount, parse_bool, parse_timestamp

log = logging.getLogger("segsync.hubspot")

#: Properties every contact pull asks for, whatever the configuration adds.
CONTACT_CORE = ("email", "createdate", "lastmodifieddate")
#: Deal properties a transaction needs (crm-apis.md B8: amount is a string, the flags "true"/"false").
DEAL_PROPERTIES = ("amount", "closedate", "hs_is_closed_won", "hs_lastmodifieddate", "dealname", "pipeline", "dealstage")
#: Line item properties a product line needs (crm-apis.md "Line items and products").
LINE_ITEM_PROPERTIES = ("hs_product_id", "hs_sku", "name", "quantity", "price", "amount", "hs_lastmodifieddate")


def _stamp(props: Mapping[str, Any], record: Mapping[str, Any], name: str, fallback: str) -> datetime | None:
    return parse_timestamp(props.get(name)) or parse_timestamp(record.get(fallback))


def customer_record(record: Mapping[str, Any], attributes: Mapping[str, str]) -> CustomerRecord | None:
    """A contact as a CustomerRecord; `attributes` maps canonical names to HubSpot properties."""
    props = record.get("properties") or {}
    created = _stamp(props, record, "createdate", "createdAt")
    modified = _stamp(props, record, "lastmodifieddate", "updatedAt")
    if created is None or modified is None:
        log.warning("hubspot contact %s has no createdate/lastmodifieddate; skipped", record.get("id"))
        return None
    email = (props.get("email") or "").strip() or None
    attrs = {canon: (props.get(prop) if props.get(prop) != "" else None) for canon, prop in attributes.items()}
    return CustomerRecord(CRM, str(record["id"]), email, created, modified, attrs)


def is_won(record: Mapping[str, Any]) -> bool:
    return parse_bool((record.get("properties") or {}).get("hs_is_closed_won"))


def transaction_records(
    deals: list[dict[str, Any]], contacts: Mapping[str, list[str]], skipped: dict[str, int]
) -> Iterator[TransactionRecord]:
    """Won deals as transactions of their first associated contact (lowest id).

    A deal may name several contacts; the purchase is counted once, for one of them, so
    revenue is not multiplied. Deals without a contact, a close date or a numeric amount are
    passed on (customer "" / no date / NaN), as the Connector protocol asks, so the pipeline
    quarantines them with a reason (segmentation.features.clean_transactions) instead of
    dropping them silently; `skipped` still counts them by reason for the log.
    """
    for deal in deals:
        props = deal.get("properties") or {}
        linked = contacts.get(str(deal["id"])) or []
        occurred = parse_timestamp(props.get("closedate"))
        modified = _stamp(props, deal, "hs_lastmodifieddate", "updatedAt")
        if modified is None:
            skipped["no_modified_date"] = skipped.get("no_modified_date", 0) + 1
            continue
        if not linked:
            skipped["no_contact"] = skipped.get("no_contact", 0) + 1
        if occurred is None:
            skipped["no_close_date"] = skipped.get("no_close_date", 0) + 1
        amount = parse_amount(props.get("amount"))
        yield TransactionRecord(
            transaction_id=str(deal["id"]),
            customer_source_id=linked[0] if linked else "",
            occurred_at=occurred,
            amount=math.nan if amount is None else amount,
            source=CRM,
            modified_at=modified,
        )


def line_item_records(
    lines: list[dict[str, Any]], deals: Mapping[str, list[str]], category_property: str | None
) -> Iterator[LineItemRecord]:
    """Line items under their deal (the lowest associated deal id; HubSpot gives a line one
    parent). The product is named by its SKU, else its product id; a line made in the deal
    editor may have neither and is passed on without a product, for the quarantine to name."""
    for line in lines:
        props = line.get("properties") or {}
        modified = _stamp(props, line, "hs_lastmodifieddate", "updatedAt")
        if modified is None:
            log.warning("hubspot line item %s has no hs_lastmodifieddate; skipped", line.get("id"))
            continue
        parents = deals.get(str(line["id"])) or []
        quantity = parse_amount(props.get("quantity"))
        price = parse_amount(props.get("price"))
        yield LineItemRecord(
            line_item_id=str(line["id"]),
            transaction_source_id=parents[0] if parents else None,
            product_id=(props.get("hs_sku") or props.get("hs_product_id") or None),
            product_name=props.get("name") or None,
            category=(props.get(category_property) or None) if category_property else None,
            quantity=math.nan if quantity is None else quantity,
            unit_price=math.nan if price is None else price,
            source=CRM,
            modified_at=modified,
        )
