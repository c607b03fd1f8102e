"""Salesforce rows -> canonical records, for REST (JSON) and Bulk (CSV) rows alike.

REST records are nested (`{"Account": {"Industry": ...}}`) and typed; Bulk CSV rows are
flat (`"Account.Industry"`) and all strings, with "" for null. Both are flattened to
{field path: value} first, so one mapping serves both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from connector.config import SalesforceCustomers, SalesforceLineItems, SalesforceTransactions
from connector.crm.base import Cursor, CustomerRecord, LineItemRecord, TransactionRecord

SOURCE = "salesforce"
MODSTAMP = "SystemModstamp"


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A REST record as {"Field": v, "Parent.Field": v}, without the `attributes` members."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce dateTime ('...000+0000' in REST, '...000Z' in Bulk) or date, as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def parse_amount(value: Any) -> float:
    """A float, or NaN when missing or not a number (the pipeline quarantines NaN amounts)."""
    if value in (None, ""):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def row_cursor(row: Mapping[str, Any]) -> Cursor:
    ts = parse_datetime(row.get(MODSTAMP))
    if ts is None:
        raise ValueError(f"row {row.get('Id')!r} has no {MODSTAMP}")
    return Cursor(ts, str(row["Id"]))


@dataclass(frozen=True)
class CustomerMapping:
    """Which fields to select for customers, and how a row becomes a CustomerRecord."""

    config: SalesforceCustomers

    @property
    def sobject(self) -> str:
        return self.config.object

    def fields(self) -> list[str]:
        c = self.config
        return ["Id", c.email_field, "CreatedDate", MODSTAMP, "IsDeleted", *c.attributes.values(), *c.fields]

    def record(self, row: Mapping[str, Any]) -> CustomerRecord:
        c = self.config
        attributes = {name: row.get(field) for name, field in c.attributes.items()}
        attributes.update({field: row.get(field) for field in c.fields if field not in attributes})
        modified = parse_datetime(row.get(MODSTAMP))
        return CustomerRecord(
            source=SOURCE,
            source_id=str(row["Id"]),
            email=text(row.get(c.email_field)),
            created_at=parse_datetime(row.get("CreatedDate")) or modified,  # type: ignore[arg-type]
            modified_at=modified,  # type: ignore[arg-type]
            attributes=attributes,
        )


@dataclass(frozen=True)
class TransactionMapping:
    """Which fields to select for transactions, and how a row becomes a TransactionRecord."""

    config: SalesforceTransactions

    @property
    def sobject(self) -> str:
        return self.config.object

    def fields(self) -> list[str]:
        c = self.config
        return ["Id", c.customer_field, c.amount_field, c.date_field, MODSTAMP, "IsDeleted"]

    def record(self, row: Mapping[str, Any]) -> TransactionRecord:
        c = self.config
        return TransactionRecord(
            transaction_id=str(row["Id"]),
            customer_source_id=text(row.get(c.customer_field)) or "",
            occurred_at=parse_datetime(row.get(c.date_field)),  # type: ignore[arg-type]
            amount=parse_amount(row.get(c.amount_field)),
            source=SOURCE,
            modified_at=parse_datetime(row.get(MODSTAMP)),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class LineItemMapping:
    """OpportunityLineItem with its Product2 [SF object reference: OpportunityLineItem]. The
    product is named by its ProductCode (the SKU both CRMs share) or, without one, its Id."""

    config: SalesforceLineItems

    @property
    def sobject(self) -> str:
        return "OpportunityLineItem"

    def fields(self) -> list[str]:
        return ["Id", "OpportunityId", "Product2Id", "Product2.Name", "Product2.ProductCode", "Product2.Family",
                "Quantity", "UnitPrice", "TotalPrice", MODSTAMP, "IsDeleted"]

    def record(self, row: Mapping[str, Any]) -> LineItemRecord:
        quantity = parse_amount(row.get("Quantity"))
        unit = parse_amount(row.get("UnitPrice"))
        if math.isnan(unit) and quantity:  # a line given by TotalPrice only
            unit = parse_amount(row.get("TotalPrice")) / quantity
        return LineItemRecord(
            line_item_id=str(row["Id"]),
            transaction_source_id=text(row.get("OpportunityId")),
            product_id=text(row.get("Product2.ProductCode")) or text(row.get("Product2Id")),
            product_name=text(row.get("Product2.Name")),
            category=text(row.get("Product2.Family")),
            quantity=quantity,
            unit_price=unit,
            source=SOURCE,
            modified_at=parse_datetime(row.get(MODSTAMP)),  # type: ignore[arg-type]
        )
