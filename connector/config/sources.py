"""Where customers and purchases come from: Salesforce, HubSpot, files; identity; the HTTP transport's knobs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from connector.config.base import MultilineSecret, Secret, Strict, check_url
from connector.config.sql import SqlSource

# --------------------------------------------------------------------------- transport


class HttpConfig(Strict):
    """The one HTTP transport's knobs, per CRM."""

    connect_timeout: float = Field(10.0, gt=0, le=600)
    read_timeout: float = Field(60.0, gt=0, le=3600)
    max_attempts: int = Field(6, ge=1, le=20, description="Attempts per request, first one included.")
    max_wait_seconds: float = Field(300.0, gt=0, le=86_400, description="Cap on the total time spent waiting to retry one request.")
    backoff_base_seconds: float = Field(1.0, gt=0, le=600)
    backoff_max_seconds: float = Field(60.0, gt=0, le=3600)
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once during a push.")
    verify_tls: bool = Field(True, description="Leave on. Only the sandbox on loopback may turn it off.")


# --------------------------------------------------------------------------- sources


class SalesforceAuth(Strict):
    method: Literal["jwt", "client_credentials", "password"] = "jwt"
    client_id: str = Field(..., description="Consumer key of the External Client App.")
    client_secret: Secret | None = None
    username: str | None = Field(None, description="JWT subject / password-grant user.")
    private_key_file: Path | None = Field(None, description="PEM private key for the JWT bearer flow.")
    private_key: MultilineSecret | None = Field(None, description="PEM private key given inline (e.g. from ${SF_PRIVATE_KEY}).")
    password: Secret | None = Field(None, description="Password grant only (deprecated by Salesforce).")
    security_token: Secret | None = None

    @model_validator(mode="after")
    def _method_fields(self) -> SalesforceAuth:
        need: dict[str, tuple[str, ...]] = {
            "jwt": ("username",),
            "client_credentials": ("client_secret",),
            "password": ("username", "password", "client_secret"),
        }
        missing = [f for f in need[self.method] if getattr(self, f) is None]
        if self.method == "jwt" and self.private_key_file is None and self.private_key is None:
            missing.append("private_key_file or private_key")
        if missing:
            raise ValueError(f"method {self.method} needs {', '.join(missing)}")
        return self


class SalesforceCustomers(Strict):
    object: Literal["Contact", "Lead", "Account"] = "Contact"
    email_field: str = "Email"
    fields: list[str] = Field(default_factory=list, description="Extra fields to pull.")
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Canonical attribute name -> Salesforce field, e.g. country: MailingCountry."
    )
    where: str | None = Field(None, description="Extra SOQL condition (trusted: written by the admin).")


class SalesforceTransactions(Strict):
    object: str = "Opportunity"
    amount_field: str = "Amount"
    date_field: str = "CloseDate"
    customer_field: str = Field("ContactId", description="Lookup from the transaction to the customer.")
    where: str | None = Field("IsWon = true", description="SOQL condition for a completed purchase.")


class SalesforceLineItems(Strict):
    """OpportunityLineItem with its Product2, for offers. Lines are pulled whatever their
    opportunity's stage and count only under a purchase the transactions pull kept (a won
    Opportunity): winning an opportunity does not touch its lines' SystemModstamp, so a pull
    filtered on Opportunity.IsWon would never see the lines of a deal won after they were added."""

    enabled: bool = Field(False, description="Pull OpportunityLineItem (products per won Opportunity).")
    where: str | None = Field(None, description="Extra SOQL condition on OpportunityLineItem (trusted: written by the admin).")


class SalesforceEvents(Strict):
    """Usage and support activity as events (features.events): Tasks on a Contact (WhoId) and Cases
    (ContactId), read whole each run; each becomes customer, type and CreatedDate."""

    tasks: bool = Field(True, description="Pull Task records as events.")
    task_type_field: str = Field("Type", description="The Task field whose value is the event type (e.g. login).")
    task_feature_field: str | None = Field("Subject", description="The Task field naming the product feature used.")
    cases: bool = Field(True, description="Pull Case records as events.")
    case_type: str = Field("ticket", description="The event type a Case becomes.")


class SalesforceSource(Strict):
    instance_url: str = Field(..., description="https://<MyDomain>.my.salesforce.com")
    login_url: str = Field("https://login.salesforce.com", description="Token endpoint host (test. for sandboxes).")
    api_version: str = Field("66.0", pattern=r"^\d{2,3}\.0$")
    auth: SalesforceAuth
    customers: SalesforceCustomers = Field(default_factory=SalesforceCustomers)
    transactions: SalesforceTransactions = Field(default_factory=SalesforceTransactions)
    line_items: SalesforceLineItems = Field(default_factory=SalesforceLineItems)
    events: SalesforceEvents | None = Field(None, description="Tasks and Cases as usage events; off when unset.")
    bulk_query_threshold: int = Field(10_000, ge=0, le=100_000_000, description="Use Bulk API 2.0 query above this many records.")
    page_size: int = Field(2000, ge=200, le=2000)
    quota_stop_share: float = Field(
        0.8, gt=0, le=1, description="Stop the run cleanly once this share of the daily API limit is used."
    )
    http: HttpConfig = Field(default_factory=HttpConfig)

    @model_validator(mode="after")
    def _urls(self) -> SalesforceSource:
        for name in ("instance_url", "login_url"):
            try:
                check_url(getattr(self, name), verify_tls=self.http.verify_tls)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        if self.line_items.enabled and self.transactions.object != "Opportunity":
            raise ValueError(f"line_items: OpportunityLineItem belongs to Opportunity, but transactions.object is "
                             f"{self.transactions.object}")
        return self


class HubSpotLineItems(Strict):
    """Line items associated with deals, for offers; a line counts only under a deal the
    transactions pull kept (closed won), whatever changed last, the line or its deal."""

    enabled: bool = Field(False, description="Pull line items (products per closed-won deal).")
    category_property: str | None = Field(
        None, description="Line item property holding the product's category (HubSpot products have none built in)."
    )


class HubSpotAuth(Strict):
    method: Literal["token", "oauth"] = "token"
    token: Secret | None = Field(None, description="Service key or private-app token (Bearer).")
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    token_path: Literal["2026-03", "v1"] = Field("2026-03", description="OAuth token endpoint version.")

    @model_validator(mode="after")
    def _method_fields(self) -> HubSpotAuth:
        need = {"token": ("token",), "oauth": ("client_id", "client_secret", "refresh_token")}
        missing = [f for f in need[self.method] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"method {self.method} needs {', '.join(missing)}")
        return self


class HubSpotEvents(Strict):
    """Support tickets as usage events (features.events): each ticket associated with a contact
    becomes one event of that contact at its createdate, read whole each run."""

    tickets: bool = Field(True, description="Read tickets (crm.objects.tickets.read) as events.")
    ticket_type: str = Field("ticket", description="The event type a ticket becomes.")


class HubSpotSource(Strict):
    base_url: str = "https://api.hubapi.com"
    api_version: Literal["2026-03", "v3"] = Field("2026-03", description="Date-versioned CRM paths, or legacy /crm/v3.")
    auth: HubSpotAuth
    tier_requests_per_10s: Literal[100, 110, 190, 250] = Field(
        100, description="Burst limit of the account: 100 (Free/Starter), 190 (Pro/Enterprise), 250 (capacity pack), 110 (OAuth app)."
    )
    search_requests_per_second: float = Field(4.0, gt=0, le=10)
    contact_properties: list[str] = Field(default_factory=lambda: ["email", "firstname", "lastname", "createdate"])
    attributes: dict[str, str] = Field(default_factory=dict, description="Canonical attribute name -> HubSpot property.")
    search_overlap_minutes: int = Field(
        60, ge=0, le=10_080, description="Incremental pulls re-read this window: longer than HubSpot's search indexing lag plus "
        "clock skew (search is eventually consistent). See connector/cursor.py.")
    events: HubSpotEvents | None = Field(None, description="Tickets as usage events; off when unset.")
    track_deletions: bool = Field(
        True, description="Incremental pulls also list archived records (one call per 100 archived) to report deletions."
    )
    line_items: HubSpotLineItems = Field(default_factory=HubSpotLineItems)
    http: HttpConfig = Field(default_factory=HttpConfig)

    @model_validator(mode="after")
    def _urls(self) -> HubSpotSource:
        try:
            check_url(self.base_url, verify_tls=self.http.verify_tls)
        except ValueError as exc:
            raise ValueError(f"base_url: {exc}") from None
        return self


class FilesEvents(Strict):
    """A CSV or Parquet of usage events, one row an event (features.events turns them into features)."""

    path: Path
    format: Literal["csv", "parquet", "auto"] = "auto"
    delimiter: str | None = Field(None, description="CSV delimiter, or 'whitespace'; sniffed when unset.")
    customer_id_column: str = "customer_id"
    type_column: str = "type"
    date_column: str = Field("occurred_at", description="When it happened (ISO 8601; UTC unless it says otherwise).")
    value_column: str | None = None
    feature_column: str | None = Field(None, description="The product feature a feature_used event names.")


class FilesSource(Strict):
    """A CSV or Parquet of transactions, for running without a CRM."""

    transactions: Path
    format: Literal["csv", "parquet", "auto"] = "auto"
    customer_id_column: str = "CustomerID"
    amount_column: str = "amount"
    date_column: str = "date"
    transaction_id_column: str | None = None
    date_format: str | None = Field(None, description="strftime format, e.g. %Y%m%d; parsed as ISO 8601 when unset.")
    attribute_columns: list[str] = Field(default_factory=list)
    delimiter: str | None = Field(None, description="CSV delimiter, or 'whitespace'; sniffed when unset.")
    product_column: str | None = Field(
        None, description="Each row is a line item of this product (offers need it); rows sharing transaction_id_column "
        "are one purchase."
    )
    product_name_column: str | None = Field(None, description="Product name (the code is used when unset).")
    category_column: str | None = Field(None, description="Product category (for offer rules and diversity).")
    quantity_column: str | None = Field(None, description="Units on the line; 1 when unset.")
    unit_price_column: str | None = Field(
        None, description="Price per unit; with quantity_column and no amount column, amount = quantity x unit price."
    )
    events: FilesEvents | None = Field(None, description="Usage events (logins, features used, tickets) of the same customers.")

    @model_validator(mode="after")
    def _line_columns(self) -> FilesSource:
        extra = ("product_name_column", "category_column", "quantity_column", "unit_price_column")
        named = [f for f in extra if getattr(self, f)]
        if named and not self.product_column:
            raise ValueError(f"{', '.join(named)} need product_column")
        return self


class QuarantineConfig(Strict):
    """Purchases no real data holds: quarantined with a reason instead of steering the run."""

    max_amount: float = Field(
        1e9, gt=0, le=1e12, allow_inf_nan=False, description="A larger purchase amount is quarantined."
    )
    future_days: int = Field(
        1, ge=0, le=366, description="A purchase dated more than this many days after now is quarantined."
    )
    earliest: date = Field(date(1970, 1, 1), description="A purchase dated before this day is quarantined.")


class SourcesConfig(Strict):
    salesforce: SalesforceSource | None = None
    hubspot: HubSpotSource | None = None
    files: FilesSource | None = None
    sql: SqlSource | None = Field(None, description="Any SQLAlchemy URL: DuckDB (embedded), PostgreSQL, warehouses.")
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Settings of source plugins other packages install (entry point group "
        "segsync.sources), by plugin name; each plugin checks its own.")


class IdentityConfig(Strict):
    match_on: Literal["email"] = Field("email", description="How one customer in both CRMs is recognised.")
    lowercase: bool = True
    strip_plus_tags: bool = Field(False, description="Treat a+tag@x.com as a@x.com.")
