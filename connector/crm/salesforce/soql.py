"""SOQL text built safely: escaped literals, checked identifiers, tie-safe cursor conditions.

No value from configuration or data enters a query except through `literal` (values) or
`identifier` (field and object names). Escapes follow the SOQL reference's "Quoted String
Escape Sequences": backslash, both quotes, and the control characters \\n \\r \\t \\b \\f.
Date and dateTime literals are unquoted (SOQL reference, "Date Formats and Date Literals").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from connector.crm.base import Cursor
from connector.crm.errors import ConfigurationError

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_NEEDS_ESCAPE = re.compile(r"[\\'\"\n\r\t\b\f]")
# Field paths such as Email, Segsync_Arm__c, ns__Score__c, Account.Industry, Owner.Name
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}(\.[A-Za-z][A-Za-z0-9_]{0,79}){0,4}$")


def quote(value: str) -> str:
    """A SOQL string literal for `value`: quoted, with every special character escaped."""
    return "'" + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES[m.group(0)], value) + "'"


def datetime_literal(value: datetime) -> str:
    """An unquoted dateTime literal in UTC; milliseconds only when present."""
    if value.tzinfo is None:
        raise ValueError("SOQL dateTime literals need an aware datetime")
    v = value.astimezone(UTC)
    if v.microsecond:
        return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
    return v.strftime("%Y-%m-%dT%H:%M:%SZ")


def literal(value: object) -> str:
    """A SOQL literal for a Python value (str, bool, int, float, date, datetime, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return datetime_literal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


def in_list(values: Iterable[object]) -> str:
    """`(v1, v2, ...)` of escaped literals, for IN; refuses an empty list (invalid SOQL)."""
    items = [literal(v) for v in values]
    if not items:
        raise ValueError("IN needs at least one value")
    return "(" + ", ".join(items) + ")"


def identifier(name: str, what: str = "field") -> str:
    """`name` if it is a valid object or field path, else ConfigurationError naming it."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ConfigurationError(f"not a valid Salesforce {what} name: {name!r}")
    return name


def after_cursor(cursor: Cursor, timestamp_field: str = "SystemModstamp") -> str:
    """Rows strictly after (timestamp, id): ties on the timestamp are broken by Id. A cursor
    without an id (a bound held back to a moment, connector.cursor) takes every row at or after
    its timestamp: Salesforce refuses `Id > ''` (INVALID_QUERY_FILTER_OPERATOR)."""
    ts = datetime_literal(cursor.timestamp)
    f = identifier(timestamp_field)
    if not cursor.id:
        return f"({f} >= {ts})"
    return f"({f} > {ts} OR ({f} = {ts} AND Id > {quote(cursor.id)}))"


def select(
    fields: Sequence[str],
    sobject: str,
    where: Sequence[str] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """A SELECT with checked names. `where` items are conditions already built from literals."""
    names = list(dict.fromkeys(identifier(f) for f in fields))
    # names are checked by identifier(); values only ever arrive through literal()
    soql = f"SELECT {', '.join(names)} FROM {identifier(sobject, 'object')}"  # noqa: S608
    conditions = [c for c in where if c]
    if conditions:
        soql += " WHERE " + " AND ".join(f"({c})" for c in conditions)
    if order_by:
        soql += " ORDER BY " + ", ".join(identifier(f) for f in order_by)
    if limit is not None:
        soql += f" LIMIT {int(limit)}"
    return soql
