"""`sources.sql`: customers, purchases, line items and events read from any SQLAlchemy URL.

Each entity is a `table` or a `query` (a SELECT, wrapped as a subquery: segsync adds its own
filters as bound parameters, never by formatting text) with its columns named. With a
`cursor_column` an entity is pulled incrementally by (cursor, key), tie-safe like the CRM
pulls; without one it is read whole each run. Deletes come from a `soft_delete_column`
(a true or non-NULL value is a tombstone) or a full key scan every `full_scan_every`.
docs/sources-sql.md shows the URLs (DuckDB, PostgreSQL, Snowflake, BigQuery).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from connector.config.base import Secret, Strict

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _span(value: Any) -> Any:
    """'7d', '12h', '30m', '2w' as a timedelta; anything else is left for pydantic to refuse."""
    if isinstance(value, str):
        match = _SPAN.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a span like 30m, 12h, 7d or 2w")
        return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return value


#: A schedule span written as 30m, 12h, 7d or 2w.
Span = Annotated[timedelta, BeforeValidator(_span)]


class SqlEntity(Strict):
    """Where one entity's rows are: a table (optionally schema.table) or a SELECT."""

    table: str | None = Field(None, description="Table or view name, optionally schema-qualified (analytics.orders).")
    query: str | None = Field(
        None, description="A SELECT (or WITH ... SELECT) naming the columns; segsync wraps it as a subquery.")
    cursor_column: str | None = Field(
        None, description="A timestamp that grows whenever a row changes (updated_at): pulls read only rows after "
        "the last (cursor, key) seen. Without it, the entity is read whole each run.")
    soft_delete_column: str | None = Field(
        None, description="A row whose value here is true or non-NULL (deleted_at) is deleted in the mirror.")
    overlap_seconds: int = Field(
        0, ge=0, le=7 * 86_400, description="Re-read the rows changed this long before each scan started (the "
        "database's clock): catches rows committed late with an older cursor value (updated_at = now() taken at "
        "the start of a long transaction). 0: read strictly after the last row seen.")
    full_scan_every: Span | None = Field(
        None, description="Read every key this often (7d) and delete, in the mirror, the rows whose key is gone "
        "(hard deletes). Entities without cursor_column get this on every run.")

    @model_validator(mode="after")
    def _one_source(self) -> SqlEntity:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        if self.table is not None and not _IDENTIFIER.match(self.table):
            raise ValueError(f"table {self.table!r} is not a table name (letters, digits, _ and $, schema.table); "
                             "use query: for anything else")
        if self.query is not None:
            object.__setattr__(self, "query", _check_query(self.query))
        if self.full_scan_every is not None and self.full_scan_every <= timedelta(0):
            raise ValueError("full_scan_every must be a positive span like 7d")
        return self

    @property
    def key_column(self) -> str:
        """The column that identifies a row (each entity names it its own way)."""
        raise NotImplementedError

    def columns(self) -> dict[str, str]:
        """Canonical name -> source column, for the columns this entity reads (key first)."""
        raise NotImplementedError


def _check_query(query: str) -> str:
    text = query.strip().rstrip(";").strip()
    if not re.match(r"(?is)^(select|with)\b", text):
        raise ValueError("query must be one SELECT (or WITH ... SELECT) statement")
    if ";" in text:
        raise ValueError("query must be one statement: remove the ';' inside it")
    return text


class SqlCustomers(SqlEntity):
    customer_id_column: str = "customer_id"
    email_column: str | None = Field(None, description="Joins the same person across sources (identity.match_on).")
    created_at_column: str | None = None
    attribute_columns: list[str] = Field(default_factory=list)

    @property
    def key_column(self) -> str:
        return self.customer_id_column

    def columns(self) -> dict[str, str]:
        named = {"source_id": self.customer_id_column, "email": self.email_column, "created_at": self.created_at_column}
        out = {k: v for k, v in named.items() if v}
        out.update({f"attr:{c}": c for c in self.attribute_columns})
        return out


class SqlTransactions(SqlEntity):
    transaction_id_column: str = Field("id", description="The purchase's unique key.")
    customer_id_column: str = "customer_id"
    amount_column: str = "amount"
    date_column: str = "occurred_at"

    @property
    def key_column(self) -> str:
        return self.transaction_id_column

    def columns(self) -> dict[str, str]:
        return {"source_id": self.transaction_id_column, "customer_source_id": self.customer_id_column,
                "amount": self.amount_column, "occurred_at": self.date_column}


class SqlLineItems(SqlEntity):
    """Product lines of the purchases; who bought and when come from the parent purchase (transactions)."""

    line_id_column: str = Field("id", description="The line's unique key.")
    transaction_id_column: str = Field("transaction_id", description="The parent purchase's key (transactions).")
    product_column: str = "product_id"
    product_name_column: str | None = None
    category_column: str | None = None
    quantity_column: str | None = Field(None, description="Units on the line; 1 when unset.")
    unit_price_column: str | None = None

    @property
    def key_column(self) -> str:
        return self.line_id_column

    def columns(self) -> dict[str, str]:
        named = {"source_id": self.line_id_column, "transaction_source_id": self.transaction_id_column,
                 "product_id": self.product_column, "product_name": self.product_name_column,
                 "category": self.category_column, "quantity": self.quantity_column,
                 "unit_price": self.unit_price_column}
        return {k: v for k, v in named.items() if v}


class SqlEvents(SqlEntity):
    """Usage events (logins, features used, tickets), mirrored like purchases: incremental with a
    cursor_column, read whole each run without one."""

    event_id_column: str = Field("id", description="The event's unique key.")
    customer_id_column: str = "customer_id"
    type_column: str = "type"
    date_column: str = "occurred_at"
    value_column: str | None = None
    feature_column: str | None = Field(None, description="The product feature an event used (features adopted).")
    properties_column: str | None = Field(None, description="A JSON object (or its text) of extra properties.")

    @property
    def key_column(self) -> str:
        return self.event_id_column

    def columns(self) -> dict[str, str]:
        named = {"source_id": self.event_id_column, "customer_id": self.customer_id_column, "type": self.type_column,
                 "occurred_at": self.date_column, "value": self.value_column, "feature": self.feature_column,
                 "properties": self.properties_column}
        return {k: v for k, v in named.items() if v}


class SqlSource(Strict):
    """A warehouse or database (any SQLAlchemy URL); DuckDB reads a folder of Parquet/CSV with no server."""

    url: str = Field(..., description="SQLAlchemy URL: duckdb:///warehouse.duckdb, postgresql+psycopg://user@host/db, "
                     "snowflake://..., bigquery://... A password in the URL is moved to `password`.")
    password: Secret | None = Field(None, description="The database password (from ${PGPASSWORD}); never logged.")
    files: Path | None = Field(
        None, description="DuckDB only: each .parquet / .csv in this folder is a view named after the file "
        "(orders.parquet -> orders).")
    customers: SqlCustomers | None = None
    transactions: SqlTransactions | None = None
    line_items: SqlLineItems | None = None
    events: SqlEvents | None = None
    chunk_size: int = Field(10_000, ge=1, le=1_000_000, description="Rows fetched and stored per page.")
    statement_timeout_seconds: float = Field(
        300.0, gt=0, le=86_400, description="Longest one query may run (PostgreSQL; DuckDB has no such setting).")

    @model_validator(mode="before")
    @classmethod
    def _password_out_of_url(cls, data: Any) -> Any:
        """Keep the password apart from the URL, so it is a secret (masked in every log) and the URL is not."""
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            return data
        try:
            from sqlalchemy.engine import URL, make_url
            from sqlalchemy.exc import ArgumentError
        except ImportError:
            raise ValueError("sources.sql needs SQLAlchemy: pip install 'segsync[sql]'") from None

        try:
            url = make_url(data["url"])
        except ArgumentError:
            raise ValueError("url is not a SQLAlchemy URL (dialect+driver://user:password@host/db)") from None
        if url.password is None:
            return data
        if data.get("password") is not None:
            raise ValueError("give the password in url or in password, not both")
        bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)
        return {**data, "url": bare.render_as_string(hide_password=False),
                "password": str(url.password)}

    @model_validator(mode="after")
    def _entities(self) -> SqlSource:
        if not any((self.customers, self.transactions, self.line_items, self.events)):
            raise ValueError("name at least one entity: customers, transactions, line_items or events")
        if self.files is not None and not self.url.startswith("duckdb"):
            raise ValueError("files: works with a duckdb:// url only")
        return self

    def entities(self) -> dict[str, SqlEntity]:
        """The configured entities by name, in pull order."""
        named = {"customers": self.customers, "transactions": self.transactions,
                 "line_items": self.line_items, "events": self.events}
        return {k: v for k, v in named.items() if v is not None}
