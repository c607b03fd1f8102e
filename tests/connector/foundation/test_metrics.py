"""Prometheus metrics and /healthz on loopback; CRM requests counted by status code."""

from __future__ import annotations

import httpx

from connector.config import MetricsConfig
from connector.metrics import Metrics


def test_metrics_endpoint_serves_counters_and_health() -> None:
    m = Metrics(enabled=True)
    port = m.serve(MetricsConfig(enabled=True, host="127.0.0.1", port=0))
    try:
        m.run_finished("succeeded", 12.5)
        m.run_finished("failed", 3.0)
        m.crm_request("hubspot", 207)
        m.crm_request("hubspot", 207)
        m.crm_request("salesforce", 403)
        m.records_written("hubspot", "ok", 100)
        body = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'segsync_runs_total{status="succeeded"} 1.0' in body
        assert 'segsync_runs_total{status="failed"} 1.0' in body
        assert 'segsync_crm_requests_total{code="207",crm="hubspot"} 2.0' in body
        assert 'segsync_crm_requests_total{code="403",crm="salesforce"} 1.0' in body
        assert 'segsync_records_written_total{destination="hubspot",result="ok"} 100.0' in body
        assert "segsync_run_duration_seconds_count 2.0" in body
        assert "segsync_last_success_timestamp_seconds" in body
        health = httpx.get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        m.healthy = False
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 503
        assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404
    finally:
        m.stop()


def test_disabled_metrics_record_nothing_and_serve_nothing() -> None:
    m = Metrics.disabled()
    m.crm_request("hubspot", 200)
    m.run_finished("succeeded", 1.0)
    assert m.serve(MetricsConfig()) == 0
    assert m.last_success is not None
