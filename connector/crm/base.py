"""The canonical records that cross the plugin protocol (connector.crm.plugin).

Salesforce and HubSpot implement `connector.crm.plugin.Connector` (a RecordSource and a
FieldDestination); the pipeline and the shared contract tests (tests/connector/contract) only
use what is here and there.

Records carry *source* ids: a connector does not know segsync's stable customer key, which
the pipeline derives from the normalised email (DESIGN.md, "Identity"). So a customer comes
back as (source, source_id, email, ...), a transaction and an outcome name the customer by
`customer_source_id`; the customers table carries each source's ids in the column its plugin
declares (`id_column`, e.g. salesforce_id).

Pulls stream: a connector hands the sink one `PullBatch` per page (rows, ids deleted in the
CRM, and the cursor after them), and the sink stores rows and cursor together, so a cursor
never runs ahead of the data it covers. The cursor type is shared by every source
(connector.cursor): a window's tie-safe (timestamp, id) lower bound plus, while a scan is
unfinished, where that scan got to; the bound moves only when a scan completes.

Writes report per record: one refused row never fails the batch. Each `RecordResult` names
the record by the key the caller passed, says whether the CRM confirmed it, and if not, why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from connector.cursor import Cursor, utc

if TYPE_CHECKING:
    from connector.crm.plugin import FieldDestination

__all__ = [
    "CustomerRecord",
    "Cursor",
    "EventRecord",
    "FieldSpec",
    "FieldUpdate",
    "LineItemRecord",
    "OutcomeRecord",
    "ProvisionReport",
    "PullBatch",
    "QuotaInfo",
    "RecordResult",
    "Sink",
    "TransactionRecord",
    "change_members",
    "set_members",
    "utc",
]


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """One customer as a CRM holds it. `attributes` keys are the configured canonical names."""

    source: str
    source_id: str
    email: str | None
    created_at: datetime
    modified_at: datetime
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """One purchase. `amount` is a float in the CRM's currency (NaN when the CRM has none or it
    is not a number); `occurred_at` is None when the CRM has no date. The pipeline quarantines
    such rows with a reason; a connector passes them on rather than dropping them silently."""

    transaction_id: str
    customer_source_id: str
    occurred_at: datetime | None
    amount: float
    source: str
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class LineItemRecord:
    """One product line of a purchase. `transaction_source_id` names the parent purchase (an
    Opportunity, a deal) by its source id: who bought and when come from that purchase when the
    tables are joined, so a line follows its parent (won later, re-dated, moved to another
    customer, deleted) without being modified itself. `product_id` is the product's code (SKU)
    when it has one, else the CRM's product id, None when the line names no product;
    `quantity` / `unit_price` are NaN when the CRM has none. The pipeline quarantines bad lines
    with a reason (segmentation.line_items.clean_line_items)."""

    line_item_id: str
    transaction_source_id: str | None
    product_id: str | None
    product_name: str | None
    category: str | None
    quantity: float
    unit_price: float
    source: str
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One usage event (a login, a feature used, a ticket) of a source's customer. `customer_source_id`,
    `type` or `occurred_at` is None when the source has none: such an event is stored (it replaces
    an earlier version of itself) and reported, and the cycle leaves it out. `value` is NaN
    without one; `feature` names the product feature a feature-use event adopted."""

    source_id: str
    customer_source_id: str | None
    type: str | None
    occurred_at: datetime | None
    value: float
    properties: Mapping[str, Any]
    feature: str | None
    source: str
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class PullBatch:
    """One page of a pull: rows, ids deleted in the CRM since the cursor, the cursor after both."""

    rows: Sequence[CustomerRecord] | Sequence[TransactionRecord] | Sequence[LineItemRecord] | Sequence[EventRecord]
    deleted_ids: Sequence[str]
    cursor: Cursor


#: Receives each page of a pull; stores rows, deletions and the cursor together.
Sink = Callable[[PullBatch], None]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field segsync writes. `key` is the desired-state key (segment_id, arm, a score name);
    the connector maps it to the CRM's field or property name from its destination config."""

    key: str
    label: str
    type: Literal["text", "number", "enumeration", "date"] = "text"
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProvisionReport:
    """CRM field names that already existed and that were created by this call."""

    existing: tuple[str, ...] = ()
    created: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """Desired values for one record. `record_id` is the CRM record id, or the External ID
    value when the destination upserts on one; `values` are keyed by desired-state key."""

    record_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The CRM's verdict on one record of a write.

    `record_id` is the key the caller passed; `crm_id` the CRM's id for it when known;
    `error_code` the CRM's code (DUPLICATE_VALUE, INVALID_FIELD, OBJECT_NOT_FOUND, ...).
    """

    record_id: str
    ok: bool
    crm_id: str | None = None
    created: bool = False
    error_code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """A measured outcome for one customer in one experiment arm's list.

    metric: "conversion" (value 1.0 when the member responded / bought), "revenue" (amount).
    `list_id` is the list (Campaign / HubSpot list) that carried the arm.
    """

    experiment: str
    list_id: str
    customer_source_id: str
    metric: str
    value: float
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    """The CRM's API budget as last seen. None where the CRM does not say."""

    used: int | None
    limit: int | None
    stop_share: float

    @property
    def share_used(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit

    @property
    def exhausted(self) -> bool:
        share = self.share_used
        return share is not None and share >= self.stop_share


def change_members(
    connector: FieldDestination, list_id: str, to_add: Sequence[str], to_remove: Sequence[str]
) -> tuple[list[RecordResult], list[RecordResult]]:
    """(add results, removal results). A CRM that changes both in one call (HubSpot's
    add-and-remove) offers `change_member_results`; otherwise adds, then removals."""
    combined = getattr(connector, "change_member_results", None)
    if combined is not None and to_add and to_remove:
        adds, removes = combined(list_id, to_add, to_remove)
        return list(adds), list(removes)
    adds = list(connector.add_members(list_id, to_add)) if to_add else []
    removes = list(connector.remove_members(list_id, to_remove)) if to_remove else []
    return adds, removes


def set_members(connector: FieldDestination, list_id: str, record_ids: Iterable[str]) -> list[RecordResult]:
    """Make the list hold exactly `record_ids`: read members, add the missing, remove the rest."""
    want = set(record_ids)
    have = connector.list_members(list_id)
    results = list(connector.add_members(list_id, sorted(want - have)))
    results.extend(connector.remove_members(list_id, sorted(have - want)))
    return results
