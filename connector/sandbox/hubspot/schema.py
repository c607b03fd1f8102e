"""Property definitions per object type and the validation HubSpot applies to values.

Values are stored and returned as strings (reference §B2 "Values are strings"). What a
write may contain is checked against the definition: unknown names -> PROPERTY_DOESNT_EXIST,
read-only ones -> READ_ONLY_VALUE, bad emails -> INVALID_EMAIL, unknown options ->
INVALID_OPTION, `date` values not at midnight UTC -> INVALID_DATE "... not midnight!"
(fs `not midnight!`, reference §B2).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

PROPERTY_TYPES = {
    "string": {"text", "textarea", "phonenumber", "html", "file", "select", "radio"},
    "number": {"number", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Computed on read, never stored: the store derives them from the record itself.
COMPUTED = {
    "contacts": ("hs_object_id", "createdate", "lastmodifieddate"),
    "companies": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
    "deals": ("hs_object_id", "createdate", "hs_lastmodifieddate", "hs_is_closed_won", "hs_is_closed"),
    "products": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
    "line_items": ("hs_object_id", "createdate", "hs_lastmodifieddate", "amount"),
    "tickets": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
}
# Returned when a read names no properties (what the real API returns by default).
DEFAULT_READ = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": ("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
              "hs_object_id", "pipeline"),
    "products": ("createdate", "description", "hs_lastmodifieddate", "hs_object_id", "name", "price"),
    "line_items": ("amount", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_product_id", "name",
                   "price", "quantity"),
    "tickets": ("content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline", "hs_pipeline_stage",
                "hs_ticket_priority", "subject"),
}
# Always returned with any explicit property list.
ALWAYS_READ = {
    "contacts": ("createdate", "hs_object_id", "lastmodifieddate"),
    "companies": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "deals": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "products": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "line_items": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
    "tickets": ("createdate", "hs_lastmodifieddate", "hs_object_id"),
}
BUILTIN_GROUPS = {"contacts": ("contactinformation", "Contact information"),
                  "companies": ("companyinformation", "Company information"),
                  "deals": ("dealinformation", "Deal information"),
                  "products": ("productinformation", "Product information"),
                  "line_items": ("lineiteminformation", "Line item information"),
                  "tickets": ("ticketinformation", "Ticket information")}
LAST_MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate",
                 "companies": "hs_lastmodifieddate", "products": "hs_lastmodifieddate",
                 "line_items": "hs_lastmodifieddate", "tickets": "hs_lastmodifieddate"}
PRODUCT_TYPES = ("inventory", "non_inventory", "service")
DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
               "decisionmakerboughtin", "contractsent", "closedwon", "closedlost")
LEAD_STATUS = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
               "CONNECTED", "BAD_TIMING")
INDUSTRIES = ("ACCOUNTING", "AIRLINES_AVIATION", "APPAREL_FASHION", "BANKING", "COMPUTER_SOFTWARE",
              "CONSUMER_GOODS", "CONSUMER_SERVICES", "E_LEARNING", "FINANCIAL_SERVICES",
              "FOOD_BEVERAGES", "HOSPITAL_HEALTH_CARE", "INFORMATION_TECHNOLOGY_AND_SERVICES",
              "INTERNET", "MARKETING_AND_ADVERTISING", "RETAIL", "SPORTING_GOODS", "WHOLESALE")
# Text properties every portal has on contacts, beyond the ones with their own rules below
# [HubSpot Knowledge Base, "HubSpot's default contact properties"].
CONTACT_TEXT = (("address", "Street Address", "text"), ("city", "City", "text"),
                ("state", "State/Region", "text"), ("zip", "Postal Code", "text"),
                ("jobtitle", "Job Title", "text"), ("mobilephone", "Mobile Phone Number", "phonenumber"),
                ("website", "Website URL", "text"), ("industry", "Industry", "text"))
COMPANY_TEXT = (("name", "Company name", "text"), ("domain", "Company Domain Name", "text"),
                ("city", "City", "text"), ("state", "State/Region", "text"),
                ("country", "Country/Region", "text"), ("phone", "Phone Number", "phonenumber"),
                ("website", "Website URL", "text"))
LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
             "customer", "evangelist", "other")


@lru_cache(maxsize=1 << 16)
def format_ms(ms: int) -> str:
    """Epoch milliseconds -> `2026-01-15T10:00:00.000Z` (HubSpot's timestamp format).
    Cached: records written in one batch share a timestamp, and strftime dominated reads."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def parse_instant(value: Any) -> int | None:
    """Epoch ms (int or digit string), an ISO 8601 instant or a `YYYY-MM-DD` day -> epoch ms."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return to_ms(parsed)


def option_list(values: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)]


def definition(name: str, label: str, type_: str, field_type: str, group: str, *,
               options: list[dict[str, Any]] | None = None, read_only: bool = False,
               hubspot_defined: bool = True, created_at: str = "") -> dict[str, Any]:
    prop: dict[str, Any] = {
        "name": name, "label": label, "type": type_, "fieldType": field_type, "description": "",
        "groupName": group, "options": options or [], "displayOrder": -1, "calculated": False,
        "externalOptions": False, "hasUniqueValue": False, "hidden": False, "formField": not read_only,
        "archived": False, "createdAt": created_at, "updatedAt": created_at,
        "modificationMetadata": {"archivable": not hubspot_defined, "readOnlyDefinition": hubspot_defined,
                                 "readOnlyValue": read_only},
    }
    if hubspot_defined:
        prop["hubspotDefined"] = True
    return prop


def builtin_properties(object_type: str, created_at: str) -> dict[str, dict[str, Any]]:
    d = definition
    common = [
        d("hs_object_id", "Record ID", "number", "number", "", read_only=True, created_at=created_at),
        d("createdate", "Create Date", "datetime", "date", "", read_only=True, created_at=created_at),
    ]
    if object_type in ("products", "line_items"):
        props = common + commerce_properties(object_type, created_at)
    elif object_type == "tickets":
        props = common + ticket_properties(created_at)
    elif object_type == "contacts":
        group = "contactinformation"
        props = common + [
            d("lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True, created_at=created_at),
            d("email", "Email", "string", "text", group, created_at=created_at),
            d("firstname", "First Name", "string", "text", group, created_at=created_at),
            d("lastname", "Last Name", "string", "text", group, created_at=created_at),
            d("phone", "Phone Number", "string", "phonenumber", group, created_at=created_at),
            d("company", "Company Name", "string", "text", group, created_at=created_at),
            d("country", "Country/Region", "string", "text", group, created_at=created_at),
            d("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", group,
              options=option_list(LIFECYCLE), created_at=created_at),
            d("hs_lead_status", "Lead Status", "enumeration", "radio", group,
              options=option_list(LEAD_STATUS), created_at=created_at),
            *(d(n, label, "string", ft, group, created_at=created_at) for n, label, ft in CONTACT_TEXT),
        ]
    elif object_type == "companies":
        group = "companyinformation"
        props = common + [
            d("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True,
              created_at=created_at),
            *(d(n, label, "string", ft, group, created_at=created_at) for n, label, ft in COMPANY_TEXT),
            d("industry", "Industry", "enumeration", "select", group,
              options=option_list(INDUSTRIES), created_at=created_at),
            d("numberofemployees", "Number of Employees", "number", "number", group,
              created_at=created_at),
            d("annualrevenue", "Annual Revenue", "number", "number", group, created_at=created_at),
        ]
    else:
        group = "dealinformation"
        props = common + [
            d("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", group, read_only=True, created_at=created_at),
            d("dealname", "Deal Name", "string", "text", group, created_at=created_at),
            d("amount", "Amount", "number", "number", group, created_at=created_at),
            d("closedate", "Close Date", "datetime", "date", group, created_at=created_at),
            d("dealstage", "Deal Stage", "enumeration", "radio", group,
              options=option_list(DEAL_STAGES), created_at=created_at),
            d("pipeline", "Pipeline", "enumeration", "select", group,
              options=option_list(("default",)), created_at=created_at),
            d("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", group, read_only=True, created_at=created_at,
              options=[{"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                       {"label": "False", "value": "false", "displayOrder": 1, "hidden": False}]),
            d("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", group, read_only=True, created_at=created_at),
        ]
    return {p["name"]: p for p in props}


def ticket_properties(created_at: str) -> list[dict[str, Any]]:
    """Support tickets [HubSpot docs, Tickets API: default ticket properties]; the sandbox has the
    default pipeline only ("0", stages 1-4: new, waiting on contact, waiting on us, closed)."""
    group = BUILTIN_GROUPS["tickets"][0]

    def d(name: str, label: str, type_: str, field_type: str, **kw: Any) -> dict[str, Any]:
        return definition(name, label, type_, field_type, group, created_at=created_at, **kw)

    return [
        d("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        d("subject", "Ticket name", "string", "text"),
        d("content", "Ticket description", "string", "textarea"),
        d("hs_pipeline", "Pipeline", "enumeration", "select", options=option_list(("0",))),
        d("hs_pipeline_stage", "Ticket status", "enumeration", "select", options=option_list(("1", "2", "3", "4"))),
        d("hs_ticket_priority", "Priority", "enumeration", "select", options=option_list(("LOW", "MEDIUM", "HIGH"))),
        d("hs_ticket_category", "Category", "enumeration", "select",
          options=option_list(("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"))),
    ]


def commerce_properties(object_type: str, created_at: str) -> list[dict[str, Any]]:
    """Products and line items share the product's fields; a line item adds its quantity, the
    product it came from (hs_product_id) and the amount HubSpot calculates [HubSpot docs,
    Products and Line items APIs; crm-apis.md "Line items and products"]."""
    group = BUILTIN_GROUPS[object_type][0]

    def d(name: str, label: str, type_: str, field_type: str, **kw: Any) -> dict[str, Any]:
        return definition(name, label, type_, field_type, group, created_at=created_at, **kw)

    props = [
        d("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        d("name", "Name", "string", "text"),
        d("description", "Description", "string", "textarea"),
        d("price", "Unit price", "number", "number"),
        d("hs_sku", "SKU", "string", "text"),
        d("hs_cost_of_goods_sold", "Unit cost", "number", "number"),
        d("hs_recurring_billing_period", "Term", "string", "text"),
    ]
    if object_type == "products":
        return [*props, d("hs_product_type", "Product type", "enumeration", "select", options=option_list(PRODUCT_TYPES))]
    return [
        *props,
        d("quantity", "Quantity", "number", "number"),
        d("hs_product_id", "Product ID", "number", "number"),
        d("amount", "Net price", "number", "calculation_equation", read_only=True),
    ]


def normalize_value(prop: dict[str, Any], raw: Any) -> tuple[str | None, tuple[str, str] | None]:
    """(stored string, None) or (None, (error code, message)) for one written value."""
    if raw is None or raw == "":
        return "", None  # "" clears a value (reference §B2)
    type_ = prop["type"]
    if isinstance(raw, bool):
        text = "true" if raw else "false"
    elif isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    else:
        text = str(raw)
    if type_ == "number":
        try:
            float(text)
        except ValueError:
            return None, ("INVALID_DECIMAL", f"{text} was not a valid number.")  # code unverified
        return text, None
    if type_ == "bool":
        if text.lower() not in ("true", "false"):
            return None, ("INVALID_BOOLEAN", f"{text} was not a valid boolean value.")
        return text.lower(), None
    if type_ == "enumeration":
        return _normalize_option(prop, text)
    if type_ == "date":
        return _normalize_date(text)
    if type_ == "datetime":
        ms = parse_instant(text)
        if ms is None:
            return None, ("INVALID_DATETIME", f"{text} was not a valid date/time.")
        return format_ms(ms), None
    if prop["name"] == "email" and not _EMAIL.match(text):
        return None, ("INVALID_EMAIL", f"Email address {text} is invalid")
    return text, None


def _normalize_option(prop: dict[str, Any], text: str) -> tuple[str | None, tuple[str, str] | None]:
    allowed = [o["value"] for o in prop.get("options", [])]
    chosen = text.split(";") if prop["fieldType"] == "checkbox" else [text]
    for value in chosen:
        if value not in allowed:
            listed = ", ".join(o["label"] for o in prop.get("options", []))
            return None, ("INVALID_OPTION", f"{value} was not one of the allowed options: [{listed}]")
    return text, None


def _normalize_date(text: str) -> tuple[str | None, tuple[str, str] | None]:
    if _DAY.match(text):
        return text, None
    ms = parse_instant(text)
    if ms is None:
        return None, ("INVALID_DATE", f"{text} was not a valid date.")
    if ms % 86_400_000:
        at = datetime.fromtimestamp(ms / 1000, UTC)
        clock = at.strftime("%H:%M:%S.") + f"{ms % 1000:03d}"
        return None, ("INVALID_DATE", f"{text} is at {clock} UTC, not midnight!")
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d"), None


def validate_properties(schema: dict[str, dict[str, Any]], values: dict[str, Any]
                        ) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Normalise a write; returns (normalised values, problems for invalid_values())."""
    clean: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for name, raw in values.items():
        prop = schema.get(name)
        if prop is None or prop.get("archived"):
            problems.append({"name": name, "error": "PROPERTY_DOESNT_EXIST",
                             "message": f'Property "{name}" does not exist'})
            continue
        if prop["modificationMetadata"]["readOnlyValue"]:
            problems.append({"name": name, "error": "READ_ONLY_VALUE",
                             "message": f"{name} is a read only property; its value cannot be set."})
            continue
        value, problem = normalize_value(prop, raw)
        if problem is not None:
            problems.append({"name": name, "error": problem[0], "message": problem[1]})
        else:
            clean[name] = value  # type: ignore[assignment]
    return clean, problems
