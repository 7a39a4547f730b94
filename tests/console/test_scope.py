"""Every endpoint answers only inside the caller's part of the grid hierarchy."""

from __future__ import annotations

import pytest

from tests.console.conftest import ALERTS, SEES, USERS, Site

STAFFLIKE = ("admin", "staff", "gw1", "gw2", "tech")


@pytest.mark.parametrize("user", list(USERS))
def test_alert_reads_are_scoped(site: Site, user: str) -> None:
    h = site.as_(user)
    name_of = {v: k for k, v in site.ids.items()}
    listed = site.client.get("/api/alerts", headers=h, params={"limit": 500}).json()
    assert {name_of[a["id"]] for a in listed["items"]} == SEES[user]
    assert listed["count"] == len(SEES[user])
    for name, aid in site.ids.items():
        r = site.client.get(f"/api/alerts/{aid}", headers=h)
        assert r.status_code == (200 if name in SEES[user] else 404), (user, name)
    stats = site.client.get("/api/stats", headers=h, params={"days": 3650}).json()
    assert sum(r["alerts"] for r in stats["rules"]) == len(SEES[user])
    if user.startswith("fam"):
        d = site.client.get(f"/api/alerts/{site.ids['press' + user[-1]]}", headers=h).json()
        assert d["deliveries"] == [] and d["actions"] == ["acknowledge"]


@pytest.mark.parametrize("user", list(USERS))
def test_nobody_acts_outside_their_area(sqlite_site: Site, user: str) -> None:
    site = sqlite_site
    h = site.as_(user)
    for name, aid in site.ids.items():
        if name in SEES[user]:
            continue
        for act, body in (("acknowledge", {}), ("dispatch", {"to": "c-gw1"}), ("resolve", {}),
                          ("close", {"feedback": "x"})):
            r = site.client.post(f"/api/alerts/{aid}/{act}", headers=h, json=body)
            assert r.status_code == 404, (user, name, act, r.text)
    # nothing changed for the alerts they cannot see
    admin = site.as_("admin")
    for name, aid in site.ids.items():
        if name not in SEES[user]:
            assert site.client.get(f"/api/alerts/{aid}", headers=admin).json()["alert"]["state"] == "open"


def test_grid_worker_a_cannot_touch_grid_b_but_handles_own(sqlite_site: Site) -> None:
    site = sqlite_site
    h1 = site.as_("gw1")
    assert site.client.post(f"/api/alerts/{site.ids['press3']}/acknowledge", headers=h1, json={}).status_code == 404
    r = site.client.post(f"/api/alerts/{site.ids['press1']}/acknowledge", headers=h1, json={})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "gw1"


def test_family_may_only_acknowledge_their_own(sqlite_site: Site) -> None:
    site = sqlite_site
    h = site.as_("fam1")
    own = site.ids["press1"]
    for act, body in (("dispatch", {"to": "c-gw1"}), ("resolve", {}), ("close", {"feedback": "x"})):
        r = site.client.post(f"/api/alerts/{own}/{act}", headers=h, json=body)
        assert r.status_code == 403 and "family may not" in r.json()["detail"]
    assert site.client.post(f"/api/alerts/{own}/acknowledge", headers=h, json={}).json()["state"] == "acknowledged"
    assert site.client.get(f"/api/alerts/{site.ids['press2']}", headers=h).status_code == 404


def test_technician_handles_device_alerts_only(sqlite_site: Site) -> None:
    site = sqlite_site
    h = site.as_("tech")
    r = site.client.post(f"/api/alerts/{site.ids['battery3']}/dispatch", headers=h, json={"to": "c-gw2"})
    assert r.status_code == 403
    assert site.client.post(f"/api/alerts/{site.ids['battery3']}/resolve", headers=h, json={}).status_code == 200
    assert site.client.post(f"/api/alerts/{site.ids['press3']}/acknowledge", headers=h, json={}).status_code == 404


EXPECT_DEVICES = {
    "admin": {"btn-0001", "btn-0002", "btn-0003", "wm-0001", "rg-01"},
    "staff": {"btn-0001", "btn-0002", "btn-0003", "wm-0001", "rg-01"},
    "tech": {"btn-0001", "btn-0002", "btn-0003", "wm-0001", "rg-01"},
    "gw1": {"btn-0001", "btn-0002", "wm-0001", "rg-01"},
    "gw2": {"btn-0003", "rg-01"},
}
EXPECT_HOUSEHOLDS = {"admin": {"hh-0001", "hh-0002", "hh-0003"}, "staff": {"hh-0001", "hh-0002", "hh-0003"},
                     "tech": {"hh-0001", "hh-0002", "hh-0003"}, "gw1": {"hh-0001", "hh-0002"}, "gw2": {"hh-0003"},
                     "fam1": {"hh-0001"}, "fam2": {"hh-0002"}}


@pytest.mark.parametrize("user", list(USERS))
def test_devices_stations_households_and_registry_are_scoped(sqlite_site: Site, user: str) -> None:
    site = sqlite_site
    h = site.as_(user)
    c = site.client
    if user in STAFFLIKE:
        assert {d["id"] for d in c.get("/api/devices", headers=h).json()["items"]} == EXPECT_DEVICES[user]
        gws = {g["id"]: g["devices"] for g in c.get("/api/gateways", headers=h).json()["items"]}
        assert sum(gws.values()) == len(EXPECT_DEVICES[user])
        assert [s["code"] for s in c.get("/api/stations", headers=h).json()["items"]] == ["rs-01"]
        assert c.get("/api/stations/rs-01/levels", headers=h).status_code == 200
        nodes = {n["code"] for n in c.get("/api/registry/nodes", headers=h).json()}
        assert {x for x in nodes if x.startswith("hh-")} == EXPECT_HOUSEHOLDS[user]
    else:
        for path in ("/api/devices", "/api/gateways", "/api/stations", "/api/stations/rs-01/levels",
                     "/api/registry/nodes"):
            r = c.get(path, headers=h)
            assert r.status_code == 403 and r.json()["detail"] == "staff only", path
    for hh in ("hh-0001", "hh-0002", "hh-0003"):
        r = c.get(f"/api/households/{hh}", headers=h)
        # a technician sees devices, not the people of households (tests/console/test_authz.py)
        expect = 403 if user == "tech" else 200 if hh in EXPECT_HOUSEHOLDS[user] else 404
        assert r.status_code == expect, (user, hh)
        if user.startswith("fam") and r.status_code == 200:
            # a family member sees their household's contacts, never a neighbour's
            assert {x["place"] for x in r.json()["contacts"]} <= {hh, "gr-01"}
        r = c.put(f"/api/registry/households/{hh}/away", headers=h, json={"until": None})
        expect = 403 if user.startswith("fam") or user == "tech" else 204 if hh in EXPECT_HOUSEHOLDS[user] else 404
        assert r.status_code == expect, (user, hh, r.text)
    for method, path, body in (("GET", "/api/users", None), ("GET", "/api/audit", None),
                               ("POST", "/api/users", {"username": "zz", "password": "x" * 10, "role": "family",
                                                       "scopes": ["hh-0001"]}),
                               ("POST", "/api/registry/import", {"csv": "record,code\n"}),
                               ("POST", "/api/users/1/deactivate", None)):
        r = c.request(method, path, headers=h, json=body)
        if user != "admin":
            assert r.status_code == 403 and r.json()["detail"] == "street administrators only", (user, path)
        else:
            assert r.status_code < 500, (path, r.text)


def test_stream_filter_follows_the_scope(sqlite_site: Site) -> None:
    from console.auth import session_user

    site = sqlite_site
    for user in USERS:
        token = site.as_(user)["Authorization"].split()[1]
        u = session_user(site.db, token, 0)
        scope = site.client.app.state.ctx.registry.scope(u)
        for name, (rule, subject, _sev, place, grid) in ALERTS.items():
            payload = {"id": 1, "rule": rule.value, "place": place, "grid": grid}
            assert scope.sees_payload(payload) == (name in SEES[user]), (user, name)
