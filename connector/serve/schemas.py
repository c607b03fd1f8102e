"""Request and response bodies of the API: strict (unknown fields are 422 naming them), bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Key = Annotated[str, Field(min_length=1, max_length=256)]
Scalar = str | float | int | bool | None
MAX_AMOUNT = 1e9
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _check_time(value: datetime) -> datetime:
    # a clock a day ahead is a broken clock, not a purchase from the future
    if value < EARLIEST or value > datetime.now(UTC) + timedelta(days=1):
        raise ValueError("must be between 1970-01-01 and tomorrow (UTC)")
    return value


def _check_amount(value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or not 0 <= value <= MAX_AMOUNT):
        raise ValueError(f"must be a finite amount between 0 and {MAX_AMOUNT:g}")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Transaction(Strict):
    occurred_at: AwareDatetime
    amount: float
    transaction_id: Key | None = None

    _time = field_validator("occurred_at")(_check_time)
    _amount = field_validator("amount")(_check_amount)


class ScoreRequest(Strict):
    """A customer segsync may never have seen: identified by customer_id or email (arms stick to it)."""

    customer_id: Key | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    created_at: AwareDatetime | None = None
    attributes: Annotated[dict[Annotated[str, Field(max_length=100)], Scalar], Field(max_length=100)] = Field(default_factory=dict)
    transactions: Annotated[list[Transaction], Field(max_length=10_000)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _identified(self) -> ScoreRequest:
        if not self.customer_id and not self.email:
            raise ValueError("customer_id or email is required")
        return self


class Event(Strict):
    event_id: Key | None = Field(None, description="Your id for the event; a repeat is stored once.")
    customer_id: Key | None = None
    email: Annotated[str, Field(max_length=320)] | None = None
    type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="purchase, view, add_to_cart, login, feature_used, ...")]
    occurred_at: AwareDatetime
    value: float | None = Field(None, description="The amount of a purchase (required for type=purchase).")
    properties: Annotated[dict[Annotated[str, Field(max_length=100)], Scalar], Field(max_length=50)] = Field(default_factory=dict)

    _time = field_validator("occurred_at")(_check_time)
    _value = field_validator("value")(_check_amount)

    @model_validator(mode="after")
    def _complete(self) -> Event:
        if not self.customer_id and not self.email:
            raise ValueError("customer_id or email is required")
        if self.type == "purchase" and self.value is None:
            raise ValueError("value (the amount) is required for a purchase")
        return self


class EventsRequest(Strict):
    events: Annotated[list[Event], Field(min_length=1, max_length=1000)]


class EventsAck(BaseModel):
    accepted: int
    last_event_id: int


By = Literal["customer_id", "salesforce_id", "hubspot_id", "email"]


class BatchGetRequest(Strict):
    keys: Annotated[list[Key], Field(min_length=1, max_length=100)]
    by: By = "customer_id"


class Offer(BaseModel):
    offer: str
    reason: str
    source: str


class Live(BaseModel):
    events: int
    by_type: dict[str, int]
    last_event_id: int | None


class Customer(BaseModel):
    customer_id: str
    segment_id: str | None
    segment_name: str | None
    scores: dict[str, float | None]
    reasons: dict[str, str]
    clv: float | None
    p_alive: float | None = None
    offers: list[Offer]
    arms: dict[str, str]
    features: dict[str, float | str | None] = Field(default_factory=dict)
    run_id: int
    as_of: str
    snapshot_version: int
    live: Live | None = None
    known: bool | None = None


class BatchGetResponse(BaseModel):
    customers: list[Customer]
    missing: list[str]
    snapshot_version: int


class Error(BaseModel):
    error: str
    fields: list[dict[str, str]] | None = None
