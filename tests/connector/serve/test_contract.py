"""Contract tests generated from the API's own /openapi.json (schemathesis): every route, any input.

Every operation is exercised with a full-scope key; the checks are schemathesis's defaults
(no 5xx, documented status codes and content types, bodies that match the response
schemas, invalid data rejected) except "schema-valid data accepted": some rules are not
JSON Schema (an event's time may not be in the future, a purchase needs its amount, a
score request needs a customer_id or an email), and their 422s name the field instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from connector.serve.access import KeyRing, RateLimiter  # noqa: E402
from connector.serve.app import create_app  # noqa: E402
from connector.serve.metrics import ServeMetrics  # noqa: E402
from connector.serve.service import ServeService  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.connector.serve.conftest import Shop  # noqa: E402


@pytest.fixture
def contract_app(shop: Shop) -> Iterator[tuple[object, str]]:
    cfg = shop.config
    store = StateStore(cfg.resolve(cfg.state.path))
    service = ServeService(cfg, store)
    service.reload()
    token = store.api_keys.create(frozenset({"read", "score", "events"}), name="contract")[1]
    yield create_app(service, KeyRing(store, 0.0), RateLimiter(1e9, 10**9), ServeMetrics()), token
    service.close()
    store.close()


def test_every_route_holds_its_contract(contract_app: tuple[object, str]) -> None:
    app, token = contract_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) == 8
    seen: dict[str, set[int]] = defaultdict(set)
    for operation in operations:
        headers = {"Authorization": f"Bearer {token}"} if operation.path.startswith("/v1/") else {}
        _checker(operation, headers, seen[f"{operation.method.upper()} {operation.path}"])()
    assert len(seen) == 8
    assert all(code < 500 or code == 503 for codes in seen.values() for code in codes), seen


def _checker(operation, headers: dict[str, str], codes: set[int]):  # type: ignore[no-untyped-def]
    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        codes.add(case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance]).status_code)

    return check


def test_the_document_lists_every_route(shop: Shop) -> None:
    cfg = shop.config
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        app = create_app(ServeService(cfg, store), KeyRing(store), RateLimiter(1, 1), ServeMetrics())
        from starlette.testclient import TestClient

        doc = TestClient(app).get("/openapi.json").json()
    assert set(doc["paths"]) == {"/healthz", "/readyz", "/metrics", "/v1/ping", "/v1/customers/{key}",
                                 "/v1/customers:batchGet", "/v1/score", "/v1/events"}
    customer = doc["components"]["schemas"]["Customer"]
    assert {"customer_id", "segment_id", "segment_name", "scores", "offers", "arms", "run_id"} <= set(customer["required"])
