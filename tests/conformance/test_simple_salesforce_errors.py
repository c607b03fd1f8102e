"""simple-salesforce's exception classes against the sandbox's real error answers, its
other login modes, session refresh, and the TLS loopback server."""

from __future__ import annotations

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

import requests  # noqa: E402
from simple_salesforce import Salesforce  # noqa: E402
from simple_salesforce.exceptions import (  # noqa: E402
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.sandbox.faults import FaultConfig  # noqa: E402
from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from connector.sandbox.server import SandboxServer  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance


def jwt_client(sb: SalesforceSandbox) -> Salesforce:
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"],
                      privatekey=c["private_key"], version="66.0", session=mounted_session(sb.app))


def token_for(sb: SalesforceSandbox) -> str:
    c = sb.credentials
    r = mounted_session(sb.app).post("https://login.salesforce.com/services/oauth2/token", data={
        "grant_type": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
        "username": c["username"], "password": c["password"] + c["security_token"]})
    return r.json()["access_token"]


def test_400_malformed_query(clock):
    sf = jwt_client(SalesforceSandbox(clock=clock))
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query("SELECT Id FROM Contact WHERE")
    assert caught.value.status == 400
    [err] = caught.value.content
    assert err["errorCode"] == "MALFORMED_QUERY"
    assert err["message"].endswith("ERROR at Row:1:Column:29\nunexpected token: <EOF>")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "x", "Nope__c": 1})
    assert caught.value.content == [{"message": "No such column 'Nope__c' on sobject of type Contact",
                                     "errorCode": "INVALID_FIELD", "fields": ["Nope__c"]}]


def test_401_expired_session_without_own_login(clock):
    sb = SalesforceSandbox(clock=clock, session_seconds=600)
    sf = Salesforce(session_id=token_for(sb), instance_url="https://sandbox.my.salesforce.com",
                    version="66.0", session=mounted_session(sb.app))
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    clock.advance(seconds=601)
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 401
    assert caught.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_401_triggers_relogin_when_the_client_logged_in(clock):
    sb = SalesforceSandbox(clock=clock)
    sf = jwt_client(sb)
    sb.expire_sessions()
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    assert sb.request_count[("query", 401)] == 1 and sb.request_count[("oauth", 200)] == 2


def test_403_daily_limit_refused(clock):
    sb = SalesforceSandbox(clock=clock, daily_api_limit=2)
    sf = jwt_client(sb)
    sf.query("SELECT Id FROM Contact")
    sf.query("SELECT Id FROM Contact")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 403
    assert caught.value.content == [{"message": "TotalRequests Limit exceeded.",
                                     "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_404_and_300(clock):
    sb = SalesforceSandbox(clock=clock, custom_fields={"Contact": [{"name": "Legacy__c", "externalId": True}]})
    sb.store.insert("Contact", [{"LastName": "A", "Legacy__c": "L"}, {"LastName": "B", "Legacy__c": "L"}])
    sf = jwt_client(sb)
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.get("003000000000000AAA")
    assert caught.value.content == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Contact.get_by_custom_id("Legacy__c", "L")
    assert len(caught.value.content) == 2


def test_client_credentials_and_password_logins(clock):
    sb = SalesforceSandbox(clock=clock)
    c = sb.credentials
    cc = Salesforce(consumer_key=c["client_id"], consumer_secret=c["client_secret"],
                    domain="segsync-sandbox.my", session=mounted_session(sb.app))
    assert cc.sf_instance == "segsync-sandbox.my.salesforce.com"
    pw = Salesforce(username=c["username"], password=c["password"] + c["security_token"],
                    consumer_key=c["client_id"], consumer_secret=c["client_secret"],
                    session=mounted_session(sb.app))
    assert pw.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    assert sb.request_count[("oauth", 200)] == 2
    # SOAP login() (retiring; absent from v65) is not emulated: the client's SOAP mode fails.
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username=c["username"], password=c["password"],
                   security_token=c["security_token"], session=mounted_session(sb.app))


def test_query_all_over_tls_on_loopback(clock):
    sb = SalesforceSandbox(clock=clock)
    sb.store.insert("Contact", [{"LastName": f"L{i}"} for i in range(2100)])
    with SandboxServer(sb.app, tls=True) as srv:
        session = requests.Session()
        session.verify = str(srv.cert_path)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE silently overrides Session.verify
        c = sb.credentials
        r = session.post(f"{srv.url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": c["client_id"], "client_secret": c["client_secret"],
            "username": c["username"], "password": c["password"] + c["security_token"]})
        assert r.json()["instance_url"] == srv.url
        sf = Salesforce(session_id=r.json()["access_token"], instance_url=srv.url, session=session)
        res = sf.query_all("SELECT Id, LastName FROM Contact")
    assert res["totalSize"] == 2100 and len(res["records"]) == 2100


def test_injected_faults_reach_the_client_as_its_errors(clock):
    sb = SalesforceSandbox(clock=clock, faults=FaultConfig(p_503=1.0, exempt_paths=("/services/oauth2",)))
    sf = jwt_client(sb)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Contact")
    assert caught.value.status == 503
    dropped = SalesforceSandbox(clock=clock, faults=FaultConfig(p_drop=1.0, only_paths=("/services/data",)))
    with pytest.raises(requests.exceptions.ConnectionError):
        jwt_client(dropped).query("SELECT Id FROM Contact")
