"""State: snapshots (a demo can stop and resume) and concurrent writers losing nothing."""

from __future__ import annotations

import threading

import httpx

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.server import SandboxServer
from tests.sandbox.hubspot_fixtures import client_for, make_sandbox, seed_contacts


def test_snapshot_round_trip(tmp_path):
    hs = make_sandbox(seed=5)
    ids = seed_contacts(hs, 3)
    (deal,) = hs.store.create("deals", [{"dealname": "d", "amount": "10"}])
    hs.store.associate("contacts", ids[0], "deals", deal)
    hs.store.define_property("contacts", "seg", "string", "text")
    hs.store.update("contacts", ids[1], {"seg": "A"})
    hs.store.archive("contacts", ids[2])
    with client_for(hs) as api:
        list_id = api.post("/crm/v3/lists", json={"name": "L", "objectTypeId": "0-1",
                                                 "processingType": "MANUAL"}).json()["list"]["listId"]
        api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=ids[:2])
    hs.clock.advance(days=2)
    path = tmp_path / "hubspot.json.gz"
    hs.snapshot(path)

    back = HubSpotSandbox.restore(path, rate_limits=False)
    assert back.credentials == hs.credentials  # same seed, same dummy credentials
    assert back.clock.now() == hs.clock.now()
    assert list(back.store.records("contacts")) == list(hs.store.records("contacts"))
    assert back.store.get("deals", deal) == hs.store.get("deals", deal)
    assert back.store.list_members(list_id) == {ids[0], ids[1]}
    with client_for(back) as api:
        assoc = api.post("/crm/v4/associations/deals/contacts/batch/read", json={"inputs": [{"id": deal}]}).json()
        assert assoc["results"][0]["to"][0]["toObjectId"] == int(ids[0])
        dup = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "user0@example.com"}})
        assert dup.status_code == 409  # the email index came back too
        since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "2026-06-01T12:00:00Z"}
        found = api.post("/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": [since]}]}).json()
        assert [r["id"] for r in found["results"]] == ids[:2]  # the modified-since index was rebuilt
        (new,) = back.store.create("contacts", [{"email": "later@x.com"}])
        assert int(new) == int(ids[-1]) + 1


def test_concurrent_writers_on_a_loopback_server_lose_nothing():
    hs = make_sandbox()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {hs.credentials['token']}"}) as api:
                for b in range(5):
                    inputs = [{"properties": {"email": f"w{w}b{b}i{i}@x.com"}} for i in range(20)]
                    assert api.post("/crm/v3/objects/contacts/batch/create", json={"inputs": inputs}).status_code == 201
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    with SandboxServer(hs.app) as server:
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    records = list(hs.store.records("contacts"))
    assert len(records) == 400 and len({r["id"] for r in records}) == 400
    assert len({r["properties"]["email"] for r in records}) == 400 == len(hs.store.emails)
