"""The API's own operations surface: Prometheus metrics by route template, its heartbeat, the services banner."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ground.heartbeat import read_beats
from tests.helpers import wait_for


def test_metrics_by_route_template_only_from_loopback(sqlite_site) -> None:
    c = sqlite_site.client
    auth = sqlite_site.as_("gw1")
    alert_id = sqlite_site.ids["press1"]
    assert c.get(f"/api/alerts/{alert_id}", headers=auth).status_code == 200
    assert c.get("/api/alerts/999999", headers=auth).status_code == 404
    assert c.get("/metrics").status_code == 403  # the test client's peer is not loopback
    local = TestClient(c.app, client=("127.0.0.1", 50000))
    text = local.get("/metrics").text
    assert 'api_request_seconds_count{method="GET",route="/api/alerts/{alert_id}",status="200"} 1.0' in text
    assert 'route="/api/alerts/{alert_id}",status="404"} 1.0' in text
    assert "999999" not in text and f"/{alert_id}" not in text  # templates, never ids


def test_heartbeat_and_the_services_banner(sqlite_site) -> None:
    cfg = sqlite_site.cfg
    beat = wait_for(lambda: read_beats(cfg.state_path).get("api"), timeout=10, what="the API's beat file")
    assert beat.alive
    body = sqlite_site.client.get("/api/services", headers=sqlite_site.as_("staff")).json()
    assert {(p["service"], p["trouble"]) for p in body["problems"]} == {("ingest", "not_running"),
                                                                         ("alerts", "not_running")}
    assert sqlite_site.client.get("/api/services").status_code == 401
