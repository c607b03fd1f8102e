"""The permission failures `segsync check` reports, as the official clients meet them in the
sandbox: HubSpot's token info and 403 MISSING_SCOPES (hubspot-api-client), Salesforce's User
record, hidden fields and a user who is not a Marketing User (simple-salesforce)."""

from __future__ import annotations

import json

import pytest

hubspot = pytest.importorskip("hubspot")
simple_salesforce = pytest.importorskip("simple_salesforce")

from hubspot import HubSpot  # noqa: E402
from hubspot.crm.deals import ApiException as DealsApiException  # noqa: E402
from simple_salesforce import Salesforce, SalesforceMalformedRequest  # noqa: E402

from connector.sandbox.hubspot import HubSpotSandbox  # noqa: E402
from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from connector.sandbox.server import SandboxServer  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance


@pytest.fixture
def hs_served(clock):
    hs = HubSpotSandbox(clock, seed=3, rate_limits=False)
    with SandboxServer(hs.app) as server:
        yield hs, server.url


def test_hubspot_token_info_and_missing_scopes(hs_served):
    hs, url = hs_served
    client = HubSpot(access_token=hs.credentials["token"], host=url)
    info = client.oauth.refresh_tokens_api.get(hs.credentials["refresh_token"])
    assert info.hub_id == hs.portal_id and "crm.objects.deals.read" in info.scopes
    access = hs.auth.issue()
    assert client.oauth.access_tokens_api.get(access).expires_in == 1800

    hs.scopes.revoke("crm.objects.deals.read")
    assert "crm.objects.deals.read" not in client.oauth.refresh_tokens_api.get(hs.credentials["refresh_token"]).scopes
    with pytest.raises(DealsApiException) as refused:
        client.crm.deals.basic_api.get_page(limit=1)
    body = json.loads(refused.value.body)
    assert refused.value.status == 403 and body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]
    client.crm.contacts.basic_api.get_page(limit=1)  # other scopes still work


@pytest.fixture
def sf(clock):
    sb = SalesforceSandbox(clock=clock)
    c = sb.credentials
    client = Salesforce(username=c["username"], consumer_key=c["client_id"], privatekey=c["private_key"],
                        domain="login", version="66.0", session=mounted_session(sb.app))
    return sb, client


def test_salesforce_user_marketing_flag_and_campaign_rights(sf):
    sb, client = sf
    user = client.query("SELECT Id, Username, UserPermissionsMarketingUser FROM User")["records"][0]
    assert user["UserPermissionsMarketingUser"] is True
    assert client.Campaign.describe()["createable"] is True
    client.Campaign.create({"Name": "allowed"})

    sb.set_marketing_user(False)
    assert client.query("SELECT UserPermissionsMarketingUser FROM User")["records"][0][
        "UserPermissionsMarketingUser"] is False
    assert client.Campaign.describe()["createable"] is False
    with pytest.raises(SalesforceMalformedRequest) as refused:
        client.Campaign.create({"Name": "refused"})
    assert refused.value.content[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"


def test_salesforce_field_hidden_by_fls(sf):
    sb, client = sf
    sb.hide_field("Contact", "Email")
    assert "Email" not in {f["name"] for f in client.Contact.describe()["fields"]}
    with pytest.raises(SalesforceMalformedRequest) as refused:
        client.query("SELECT Email FROM Contact")
    assert refused.value.content[0]["errorCode"] == "INVALID_FIELD"
