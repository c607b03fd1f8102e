"""Property values to and from HubSpot's wire format.

HubSpot sends and takes every property value as a string (developers.hubspot.com/docs/
api-reference/2026-03/crm/search-the-crm). `date` properties take midnight UTC as epoch
milliseconds and refuse anything else with INVALID_DATE "...is at 18:31:29.103 UTC, not
midnight!"; `datetime` properties take epoch milliseconds; an empty string clears a value.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time
from typing import Any, Literal

PropertyType = Literal["string", "number", "enumeration", "date", "datetime", "bool"]


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused: their zone is unknown)."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone; segsync keeps UTC")
    return int(moment.timestamp() * 1000)


def midnight_utc_ms(value: date | datetime | str) -> int:
    """A date as midnight UTC in epoch ms, the only form HubSpot `date` properties accept.

    A datetime is first converted to UTC, then truncated to its UTC calendar day.
    """
    if isinstance(value, str):
        value = _parse_iso(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone; segsync keeps UTC")
        value = value.astimezone(UTC).date()
    return epoch_ms(datetime.combine(value, time(0), tzinfo=UTC))


def _parse_iso(text: str) -> date | datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text else date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date") from None


def to_wire(value: Any, kind: PropertyType) -> str:
    """One value as HubSpot expects it for a property of type `kind`; None clears it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "date":
        return str(midnight_utc_ms(value))
    if kind == "datetime":
        moment = _parse_iso(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            moment = datetime.combine(moment, time(0), tzinfo=UTC)
        return str(epoch_ms(moment))
    if kind == "number":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def parse_timestamp(value: str | None) -> datetime | None:
    """A HubSpot timestamp (ISO 8601 with Z, or epoch ms as a string) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_amount(value: str | None) -> float | None:
    """A deal amount (a string on the wire), or None when empty or not a number."""
    if value in (None, ""):
        return None
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_bool(value: str | None) -> bool:
    return str(value).lower() == "true"
