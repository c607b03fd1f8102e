"""Preflight of a Salesforce org: reachability, login, identity, object/field access, Campaign
rights, Tooling, the External ID field and the daily API allowance. Reads only.

Identity comes from the token reply's `id` (…/id/<org id>/<user id>), the User record
(`UserPermissionsMarketingUser` is the Marketing User checkbox Campaigns need) and the
Organization record (`IsSandbox`). Field access comes from describe: a field the
integration user cannot see (field-level security) is missing from it, exactly as the pull and
push would meet it (reference crm-apis.md §A7 [36][37]).
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from connector.check.result import Check, Findings, answered, check_tls
from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.errors import (
    AuthenticationError,
    ConfigurationError,
    CRMError,
    QuotaExceededError,
)
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.records import CustomerMapping, LineItemMapping, TransactionMapping
from connector.crm.salesforce.soql import quote, select

SETUP_DOC = "docs/setup-salesforce.md"
_LOGIN_FIX = {
    "jwt": "in the External Client App: upload the certificate that matches the private key "
    "(OAuth Settings > Use digital signatures), set 'Admin approved users are pre-authorized' and "
    "assign the app's permission set to the user named in auth.username; see " + SETUP_DOC,
    "client_credentials": "in the External Client App's policies: enable the Client Credentials "
    "Flow and set its Run As user; check client_id/client_secret; see " + SETUP_DOC,
    "password": "check username, password, security_token and the app's client_id/secret "
    "(the password flow is blocked by default in new orgs: prefer jwt); see " + SETUP_DOC,
}


def check_salesforce(
    source: SalesforceSource,
    destination: SalesforceDestination | None,
    *,
    planned_calls: int | None,
    transport: httpx.BaseTransport | None = None,
) -> list[Check]:
    """Every Salesforce check for this config, in order; stops early when login fails."""
    role = "source and destination" if destination is not None and destination.enabled else "source"
    found = Findings(f"salesforce {role} ({source.instance_url})")
    client = SalesforceClient(_quick(source), transport=transport)
    try:
        if _login(client, found, source):
            user = _identity(client, found, source)
            if user is not None:
                _source_access(client, found, source)
                if destination is not None and destination.enabled:
                    _destination_access(client, found, destination, user)
                _allowance(client, found, source, destination, planned_calls)
    finally:
        client.close()
    return found.items


def _quick(source: SalesforceSource) -> SalesforceSource:
    """The same source with retries cut short: a preflight reports, it does not wait out outages."""
    http = source.http.model_copy(update={"max_attempts": 1})
    # quota_stop_share 1.0: the preflight reads the allowance itself and reports it rather
    # than stopping at the first reply that shows the configured share used.
    return source.model_copy(update={"http": http, "quota_stop_share": 1.0})


def _login(client: SalesforceClient, found: Findings, source: SalesforceSource) -> bool:
    method = source.auth.method
    try:
        client.authenticator.headers(client.http)
    except AuthenticationError as exc:
        found.ok("login host reachable", answered(source.login_url, source.http.verify_tls))
        found.fail(f"login ({method})", f"refused: {exc}", _LOGIN_FIX[method])
        return False
    except ConfigurationError as exc:
        found.fail(f"login ({method})", str(exc), "fix the credential named above; see " + SETUP_DOC)
        return False
    except CRMError as exc:
        _unreachable(found, "login host reachable", source.login_url, exc)
        return False
    found.ok("login host reachable", answered(source.login_url, source.http.verify_tls))
    check_tls(found, source.instance_url, source.http.verify_tls)
    found.ok(f"login ({method})", f"token issued for client {source.auth.client_id[:6]}…")
    return True


def _unreachable(found: Findings, name: str, url: str, exc: CRMError) -> None:
    text = str(exc)
    if "SSL" in text or "CERTIFICATE" in text.upper():
        found.fail(name, f"{url}: TLS verification failed: {text}",
                   "the certificate is not trusted by this machine: install your proxy's CA "
                   "(SSL_CERT_FILE) rather than turning verify_tls off")
    else:
        found.fail(name, f"{url}: {text}",
                   "check the URL, DNS and any proxy or firewall between this machine and Salesforce")


def _identity(client: SalesforceClient, found: Findings, source: SalesforceSource) -> dict[str, Any] | None:
    token = getattr(client.authenticator, "token", None)
    identity_url = str((token.extra if token else {}).get("id") or "")
    org_id, _, user_id = identity_url.rstrip("/").rpartition("/id/")[2].partition("/")
    try:
        users = list(client.query_records(select(
            ["Id", "Username", "IsActive", "UserPermissionsMarketingUser"], "User",
            [f"Id = {quote(user_id or '')}"]), kind="check"))
    except QuotaExceededError as exc:
        found.fail("daily API allowance", f"exhausted: {exc}", "wait for the rolling 24-hour window to free "
                   "calls, or buy more; other integrations share this allowance")
        return None
    except CRMError as exc:
        if exc.code in ("API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"):
            found.fail("API enabled", str(exc), "give the integration user's profile or permission "
                       "set the 'API Enabled' system permission (and an edition with API access)")
        else:
            _unreachable(found, "instance reachable", source.instance_url, exc)
        return None
    found.ok("API enabled", f"REST API v{source.api_version} answered at {source.instance_url}")
    user = users[0] if users else {}
    kind = _org_kind(client, source)
    found.ok("identity", f"{user.get('Username', 'unknown user')} (user {user_id or '?'}, org {org_id or '?'}, {kind})")
    return user


def _org_kind(client: SalesforceClient, source: SalesforceSource) -> str:
    try:
        org = next(iter(client.query_records(select(["Id", "IsSandbox"], "Organization"), kind="check")), {})
        return "sandbox" if org.get("IsSandbox") else "production"
    except CRMError:  # Organization unreadable: fall back on the URLs
        urls = f"{source.login_url} {source.instance_url}".lower()
        sandbox = "test.salesforce.com" in urls or ".sandbox.my.salesforce.com" in urls
        return "sandbox (by its URL)" if sandbox else "production (by its URL)"


def _describe(client: SalesforceClient, sobject: str) -> dict[str, Any] | None:
    try:
        return client.json("GET", f"sobjects/{sobject}/describe", kind="check")
    except CRMError:
        return None


def _fields(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"].lower(): f for f in body.get("fields", [])}


def _readable(client: SalesforceClient, found: Findings, sobject: str, wanted: list[str]) -> None:
    body = _describe(client, sobject)
    if not found.expect(body is not None, f"{sobject} readable", "describe answered" if body else
                        "describe refused or object unknown",
                        f"give the permission set Read on {sobject} (Object Settings)"):
        return
    visible = _fields(body or {})
    # Relationship paths (Account.Name) are checked on their first hop only.
    missing = sorted({w for w in wanted if w.split(".")[0].lower() not in visible and "." not in w})
    found.expect(not missing, f"{sobject} fields readable",
                 f"{len(set(wanted))} fields visible" if not missing else f"not visible: {', '.join(missing)}",
                 f"grant Read on {', '.join(f'{sobject}.{m}' for m in missing)} in the permission set's "
                 "field permissions (field-level security), or correct the field name in the config")


def _source_access(client: SalesforceClient, found: Findings, source: SalesforceSource) -> None:
    customers, transactions = CustomerMapping(source.customers), TransactionMapping(source.transactions)
    _readable(client, found, customers.sobject, customers.fields())
    _readable(client, found, transactions.sobject, transactions.fields())
    if source.line_items.enabled:
        lines = LineItemMapping(source.line_items)
        _readable(client, found, lines.sobject, lines.fields())


def _destination_access(client: SalesforceClient, found: Findings, dest: SalesforceDestination,
                        user: dict[str, Any]) -> None:
    body = _describe(client, dest.object) or {}
    visible = _fields(body)
    wanted = sorted(set(dest.fields.values()) | ({dest.external_id_field} if dest.external_id_field else set()))
    missing = [f for f in wanted if f.lower() not in visible]
    locked = [f for f in wanted if f.lower() in visible and not visible[f.lower()].get("updateable")]
    if missing and dest.create_missing_fields:
        found.ok(f"{dest.object} fields to write", f"{', '.join(missing)} missing: the first run creates them")
        _tooling(client, found)
    else:
        found.expect(not missing, f"{dest.object} fields to write",
                     f"{len(wanted)} fields present" if not missing else f"missing or hidden: {', '.join(missing)}",
                     f"create {', '.join(missing)} on {dest.object} (or set create_missing_fields: true) and "
                     "grant Edit on them in the permission set's field permissions")
    found.expect(not locked, f"{dest.object} fields updateable",
                 "every mapped field is editable" if not locked else f"read-only for the user: {', '.join(locked)}",
                 f"grant Edit (not Read-Only) on {', '.join(locked)} in the permission set's field permissions")
    if dest.external_id_field:
        f = visible.get(dest.external_id_field.lower(), {})
        found.expect(bool(f.get("externalId") and f.get("unique")), "External ID field",
                     f"{dest.external_id_field}: externalId={bool(f.get('externalId'))}, unique={bool(f.get('unique'))}",
                     f"mark {dest.object}.{dest.external_id_field} as 'External ID' and 'Unique' in Setup")
    if dest.lists.enabled:
        campaign = _describe(client, "Campaign") or {}
        allowed = bool(user.get("UserPermissionsMarketingUser")) and bool(campaign.get("createable"))
        found.expect(allowed, "Campaign creation (Marketing User)",
                     "the user may create Campaigns" if allowed else "the user cannot create Campaigns",
                     "tick 'Marketing User' on the integration user's record (Setup > Users > Edit) and "
                     "give its permission set Create/Edit on Campaign and CampaignMember")


def _tooling(client: SalesforceClient, found: Findings) -> None:
    try:
        body = client.json("GET", "tooling/sobjects", kind="check") or {}
        names = {o.get("name") for o in body.get("sobjects", [])}
        found.expect("CustomField" in names, "Tooling API", "CustomField is available",
                     "give the user 'Customize Application' and 'View Setup and Configuration'")
    except CRMError as exc:
        found.fail("Tooling API", f"refused: {exc}",
                   "give the user 'Customize Application' and 'View Setup and Configuration', "
                   "or create the fields by hand and set create_missing_fields: false")


def _allowance(client: SalesforceClient, found: Findings, source: SalesforceSource,
               dest: SalesforceDestination | None, planned: int | None) -> None:
    try:
        limits = client.json("GET", "limits", kind="check") or {}
    except CRMError as exc:
        found.fail("daily API allowance", f"/limits refused: {exc}",
                   "give the user 'View Setup and Configuration' so the allowance can be read")
        return
    daily = limits.get("DailyApiRequests", {})
    cap, remaining = int(daily.get("Max", 0)), int(daily.get("Remaining", 0))
    usable = max(0, remaining - math.ceil(cap * (1 - source.quota_stop_share)))
    if planned is None:  # first run: a full pull, every record written once, lists
        planned = _first_run_estimate(client, source, dest)
    found.expect(planned <= usable, "daily API allowance",
                 f"{remaining:,} of {cap:,} left today, {usable:,} before quota_stop_share "
                 f"{source.quota_stop_share:.0%}; the next cycle needs about {planned:,}",
                 "wait for the rolling 24-hour window to free calls, raise quota_stop_share, or buy more "
                 "API calls; other integrations share this allowance")


def _first_run_estimate(client: SalesforceClient, source: SalesforceSource, dest: SalesforceDestination | None) -> int:
    total = 0
    counts = []
    for sobject in (source.customers.object, source.transactions.object):
        page = next(client.query_pages(select(["Id"], sobject), kind="check"), {})
        counts.append(int(page.get("totalSize", 0)))
        total += math.ceil(counts[-1] / source.page_size) + 1
    if dest is not None and dest.enabled:
        total += math.ceil(counts[0] / dest.batch_size) + 20  # writes, plus Campaign calls
    return total
