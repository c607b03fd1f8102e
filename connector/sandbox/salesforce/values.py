"""Field values as Salesforce puts them on the wire, and record Ids.

Datetimes are stored as the strings Salesforce returns ("2026-01-05T10:00:00.000+0000",
always UTC), dates as "YYYY-MM-DD". Both sort correctly as strings, so SOQL comparisons
and ORDER BY need no parsing per record.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime

from connector.sandbox.salesforce.schema import Field

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


class BadValue(ValueError):
    """A value that cannot be stored in its field's type."""


def record_id(prefix: str, pod: str, n: int) -> str:
    """An 18-character Id: key prefix, 2-char pod, '0', 9-char base-62 counter, checksum.

    The 3-char suffix encodes the case of the first 15 characters (five bits per chunk),
    which makes 18-char Ids case-insensitive (Salesforce's published algorithm). The
    counter's two low digits come from a table so 1M inserts stay cheap.
    """
    high, low = divmod(n, 3844)
    head, suffix2, bits3 = _id_head(prefix, pod, high)
    return head + _PAIRS[low] + suffix2 + _CHECKSUM[bits3 | _PAIR_BITS[low] << 3]


_PAIRS = [a + b for a in _B62 for b in _B62]
_PAIR_BITS = [("A" <= p[0] <= "Z") | ("A" <= p[1] <= "Z") << 1 for p in _PAIRS]


@functools.lru_cache(maxsize=256)
def _id_head(prefix: str, pod: str, high: int) -> tuple[str, str, int]:
    """The first 13 characters, the first two checksum characters and the case bits of
    characters 11-13 (the rest of the third chunk comes from the low pair)."""
    digits = []
    for _ in range(7):
        high, r = divmod(high, 62)
        digits.append(_B62[r])
    head = prefix + pod + "0" + "".join(reversed(digits))
    suffix2 = id_suffix(head + "00")[:2]
    bits3 = sum(1 << i for i, ch in enumerate(head[10:13]) if "A" <= ch <= "Z")
    return head, suffix2, bits3


def id_suffix(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_CHECKSUM[bits])
    return "".join(out)


def format_datetime(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise BadValue("naive datetime (no time zone)")
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> str:
    """Normalise an ISO-8601 datetime string to the wire format (UTC)."""
    m = _DATETIME.match(text)
    if not m:
        raise BadValue(f"'{text}' is not a valid value for the type xsd:dateTime")
    tz = m.group(4) or "Z"
    if tz != "Z" and ":" not in tz:
        tz = tz[:3] + ":" + tz[3:]
    iso = f"{m.group(1)}T{m.group(2)}{(m.group(3) or '')[:7]}{'+00:00' if tz == 'Z' else tz}"
    try:
        return format_datetime(datetime.fromisoformat(iso))
    except ValueError as exc:
        raise BadValue(f"'{text}' is not a valid value for the type xsd:dateTime") from exc


def coerce(f: Field, value: object) -> object:
    """`value` (from JSON, CSV or Python) as stored for field `f`; None clears."""
    if value is None or value == "" and f.type not in ("string", "textarea"):
        return None
    t = f.type
    if t in ("string", "email", "phone", "picklist", "textarea", "id", "reference"):
        return value if isinstance(value, str) else str(value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadValue(f"'{value}' is not a valid value for the type xsd:boolean")
    if t == "date":
        if isinstance(value, datetime):
            return value.astimezone(UTC).date().isoformat() if value.tzinfo else value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, str) and _DATE.match(value):
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise BadValue(f"'{value}' is not a valid value for the type xsd:date")
    if t == "datetime":
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, str):
            return parse_datetime(value)
        raise BadValue(f"'{value}' is not a valid value for the type xsd:dateTime")
    return _number(f, value)


def _number(f: Field, value: object) -> object:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        kind = "xsd:int" if f.type == "int" else "xsd:double"
        raise BadValue(f"'{value}' is not a valid value for the type {kind}") from exc
    if f.type == "int":
        if number != int(number):
            raise BadValue(f"'{value}' is not a valid value for the type xsd:int")
        return int(number)
    return number


def to_csv(value: object) -> str:
    """A stored value in a Bulk CSV cell: booleans lower-case, null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)
