"""The JSON API on SQLite and PostgreSQL: login, alerts, transitions, audit, clear 4xx answers."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from alerts.types import AlertState
from console.auth import AccountError, create_user
from console.scope import UserRole
from console.tables import AuditLog
from registry.model import load_snapshot
from tests.console.conftest import PASSWORD, Site


def audit_actions(site: Site) -> list[tuple[str, str, str]]:
    with site.db.session() as s:
        return [(r.actor, r.action, r.target) for r in s.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_login_token_cookie_and_logout(site: Site) -> None:
    c = site.client
    r = c.post("/api/login", json={"username": "staff", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["role"] == "community_staff" and body["user"]["scopes"] == ["cm-01"]
    assert "sw_session" in r.cookies and "httponly" in r.headers["set-cookie"].lower()
    # the cookie works for reads; writes with the cookie need the CSRF header
    assert c.get("/api/me").json()["username"] == "staff"
    aid = site.ids["press1"]
    r = c.post(f"/api/alerts/{aid}/acknowledge", json={})
    assert r.status_code == 403 and "X-Sw-Csrf" in r.json()["detail"]
    r = c.post(f"/api/alerts/{aid}/acknowledge", json={}, headers={"X-Sw-Csrf": "1"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    # the bearer token works without a cookie and without the header
    c.cookies.clear()
    auth = {"Authorization": f"Bearer {body['token']}"}
    assert c.get("/api/me", headers=auth).status_code == 200
    assert c.post("/api/logout", headers=auth).status_code == 204
    r = c.get("/api/me", headers=auth)
    assert r.status_code == 401 and "log" in r.json()["detail"]
    assert c.get("/api/alerts").status_code == 401


def test_passwords_are_argon2id_and_wrong_ones_are_refused(site: Site) -> None:
    from console.tables import UserAccount

    with site.db.session() as s:
        stored = s.scalar(select(UserAccount.password_hash).where(UserAccount.username == "gw1"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    r = site.client.post("/api/login", json={"username": "gw1", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    r = site.client.post("/api/login", json={"username": "nobody", "password": "wrong password"})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"


def test_login_is_rate_limited(site: Site) -> None:
    for _ in range(5):
        assert site.client.post("/api/login", json={"username": "gw2", "password": "nope"}).status_code == 401
    r = site.client.post("/api/login", json={"username": "gw2", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "too many failed logins" in r.json()["detail"]
    # other users from the same address are not locked out by it
    assert site.client.post("/api/login", json={"username": "gw1", "password": PASSWORD}).status_code == 200
    assert ("gw2", "login.throttled", "user gw2") in audit_actions(site)


def test_list_filter_detail_and_the_whole_loop(site: Site) -> None:
    h = site.as_("staff")
    c = site.client
    r = c.get("/api/alerts", headers=h, params={"severity": "critical", "active": "true"})
    assert r.status_code == 200
    assert {a["place"] for a in r.json()["items"]} == {"hh-0001", "hh-0002", "hh-0003"}
    assert r.json()["count"] == 3
    r = c.get("/api/alerts", headers=h, params={"rule": ["river_level", "gateway_offline"], "limit": 1})
    assert r.json()["count"] == 2 and len(r.json()["items"]) == 1
    aid = site.ids["press1"]
    d = c.get(f"/api/alerts/{aid}", headers=h).json()
    assert d["alert"]["location"].endswith("Grid 1 / Building 3 / Room 301")
    assert {x["code"] for x in d["contacts"]} == {"c-fam1", "c-gw1"}
    assert d["timeline"][0]["action"] == "opened" and d["actions"] == ["acknowledge", "dispatch", "resolve", "close"]
    # acknowledge -> dispatch -> resolve -> close with feedback and rating
    assert c.post(f"/api/alerts/{aid}/acknowledge", headers=h, json={"note": "calling"}).json()["state"] == \
        "acknowledged"
    r = c.post(f"/api/alerts/{aid}/dispatch", headers=h, json={"to": "c-gw1", "note": "go"})
    assert r.json()["state"] == "dispatched" and r.json()["dispatched_to"] == "c-gw1"
    assert c.post(f"/api/alerts/{aid}/resolve", headers=h, json={"note": "fell, helped up"}).json()["state"] == \
        "resolved"
    r = c.post(f"/api/alerts/{aid}/close", headers=h, json={"feedback": "resident fine", "rating": 5})
    assert r.status_code == 200 and r.json()["state"] == AlertState.CLOSED and r.json()["rating"] == 5
    d = c.get(f"/api/alerts/{aid}", headers=h).json()
    assert [e["action"] for e in d["timeline"]] == ["opened", "acknowledged", "dispatched", "resolved", "closed"]
    assert all(e["actor"] == "staff" for e in d["timeline"][1:]) and d["actions"] == []
    # every write is audited
    writes = [(a, t) for who, a, t in audit_actions(site) if who == "staff"]
    assert writes[1:] == [(f"alert.{x}", f"alert {aid}") for x in ("acknowledge", "dispatch", "resolve", "close")]
    stats = c.get("/api/stats", headers=h, params={"days": 3650}).json()
    press = next(r for r in stats["rules"] if r["rule"] == "call_button")
    assert press["alerts"] == 3 and press["acknowledged"] == 1 and press["resolved"] == 1


def test_bad_requests_get_clear_4xx(site: Site) -> None:
    h = site.as_("staff")
    c = site.client
    aid = site.ids["press2"]
    cases = [
        (c.get("/api/alerts", headers=h, params={"state": "burning"}), 422, "state"),
        (c.get("/api/alerts", headers=h, params={"limit": 0}), 422, "limit"),
        (c.get("/api/alerts/0", headers=h), 422, "alert_id"),
        (c.get("/api/alerts/99999999999", headers=h), 422, "alert_id"),
        (c.get("/api/alerts/123456", headers=h), 404, "no alert 123456"),
        (c.post(f"/api/alerts/{aid}/dispatch", headers=h, json={"to": "nobody-x"}), 422, "no contact or user"),
        (c.post(f"/api/alerts/{aid}/dispatch", headers=h, json={}), 422, "to"),
        (c.post(f"/api/alerts/{aid}/close", headers=h, json={"feedback": "ok", "rating": 9}), 422, "rating"),
        (c.post(f"/api/alerts/{aid}/close", headers=h, json={"feedback": "   "}), 422, "feedback"),
        (c.post(f"/api/alerts/{aid}/acknowledge", headers={**h, "Content-Type": "application/json"},
                content=b"{not json"), 422, "not valid JSON"),
        (c.post(f"/api/alerts/{aid}/acknowledge", headers=h, content=b"plain words"), 422, "JSON object"),
        (c.post(f"/api/alerts/{aid}/acknowledge", headers=h, json={"note": "x", "extra": 1}), 422, "extra"),
        (c.post("/api/login", json={"username": "", "password": "x"}), 422, "username"),
    ]
    for r, code, words in cases:
        assert r.status_code == code, (r.request.url, r.text)
        assert words.lower() in r.text.lower(), (r.request.url, r.text)
    # a transition the lifecycle does not allow is a 409 naming what is allowed
    assert c.post(f"/api/alerts/{aid}/resolve", headers=h, json={}).status_code == 200
    r = c.post(f"/api/alerts/{aid}/acknowledge", headers=h, json={})
    assert r.status_code == 409 and "it can go to closed" in r.json()["detail"]


def test_admin_manages_users_and_registry(site: Site) -> None:
    h = site.as_("admin")
    c = site.client
    r = c.post("/api/users", headers=h, json={"username": "gw1b", "password": "another secret", "role": "grid_worker",
                                              "scopes": ["gr-01"]})
    assert r.status_code == 201 and r.json()["scopes"] == ["gr-01"]
    assert c.post("/api/login", json={"username": "gw1b", "password": "another secret"}).status_code == 200
    r = c.post("/api/users", headers=h, json={"username": "gw1b", "password": "another secret",
                                              "role": "grid_worker", "scopes": ["gr-01"]})
    assert r.status_code == 409 and "taken" in r.json()["detail"]
    r = c.post("/api/users", headers=h, json={"username": "x1", "password": "another secret", "role": "grid_worker",
                                              "scopes": ["cm-01"]})
    assert r.status_code == 422 and "grid_worker is scoped to a grid" in r.json()["detail"]
    uid = r.json() if False else next(u["id"] for u in c.get("/api/users", headers=h).json() if u["username"] == "gw1b")
    assert c.post(f"/api/users/{uid}/deactivate", headers=h).json()["active"] is False
    assert c.post("/api/login", json={"username": "gw1b", "password": "another secret"}).status_code == 401
    # registry: a new household with its family contact under an existing building
    csv = ("record,code,parent,name,flags,sleep,window_h,away_until,gateway,kind,interval_s,step_l,warning_m,"
           "guaranteed_m,rise_m_per_h,schedule,types,role,channels,language,quiet_hours\n"
           "household,hh-0009,bd-02,Room 109,solitary_elderly,22:00-06:30,7,,,,,,,,,,,,,,\n"
           "contact,c-fam9,hh-0009,Ma Li,,,,,,,,,,,,,,family,ntfy://127.0.0.1:9/x,zh,\n")
    r = c.post("/api/registry/import", headers=h, json={"csv": csv})
    assert r.status_code == 200 and r.json()["created"] == 2 and r.json()["errors"] == []
    assert any(n["code"] == "hh-0009" for n in c.get("/api/registry/nodes", headers=h,
                                                      params={"level": "household"}).json())
    r = c.put("/api/registry/households/hh-0009/away", headers=h, json={"until": "2026-12-01"})
    assert r.status_code == 204
    assert c.get("/api/households/hh-0009", headers=h).json()["away_until"] == "2026-12-01"
    r = c.post("/api/registry/import", headers=h, json={"csv": csv.replace("bd-02", "bd-99")})
    assert r.status_code == 403 and "not under a place of your area" in r.json()["detail"]
    actions = [a for who, a, _ in audit_actions(site) if who == "admin"]
    assert {"user.create", "user.deactivate", "registry.import", "household.away"} <= set(actions)
    log = c.get("/api/audit", headers=h).json()
    assert log[0]["actor"] == "admin"


def test_usernames_with_a_final_newline_are_refused(site: Site) -> None:
    """Python's `$` matches before a final newline; a username must not carry one into logs and the audit."""
    with pytest.raises(AccountError, match="username"):
        create_user(site.db, load_snapshot(site.db), "staff2\n", PASSWORD, UserRole.TECHNICIAN, [], now=0)


def test_names_typed_at_login_are_kept_in_clear_only_for_accounts(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    """A person's name, a phone number or a password typed as username stays out of the audit and the log."""
    caplog.set_level(logging.DEBUG)
    typed = "张伟 13800138000"
    for _ in range(5):
        assert site.client.post("/api/login", json={"username": typed, "password": "wrong"}).status_code == 401
    assert site.client.post("/api/login", json={"username": typed, "password": "wrong"}).status_code == 429
    assert site.client.post("/api/login", json={"username": "gw2", "password": "wrong"}).status_code == 401
    with site.db.session() as s:
        rows = [(r.actor, r.action, r.target, r.detail) for r in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert "13800138000" not in repr(rows) and "张伟" not in repr(rows)
    assert "13800138000" not in caplog.text
    unknown = {(actor, action, target) for actor, action, target, _ in rows if actor.startswith("unknown-")}
    # one pseudonym for the one name: repeated tries can still be told apart and counted
    assert len({a for a, _, _ in unknown}) == 1 and {x for _, x, _ in unknown} == {"login.failed", "login.throttled"}
    assert all(target == f"user {actor}" for actor, _, target in unknown)
    assert ("gw2", "login.failed", "user gw2") in [r[:3] for r in rows]  # an account's name stays readable
