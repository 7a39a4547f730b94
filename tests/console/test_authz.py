"""Authorization across streets and roles: registry import, audit log, households and away mode, dispatch."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from alerts.tables import AlertEvent
from registry.model import load_snapshot
from tests.console.conftest import USERS, Site, add_second_street
from tests.notify.fixtures import HEADER


def csv(*rows: str) -> str:
    return HEADER + "\n" + "\n".join(rows) + "\n"


def where(site: Site) -> dict[str, str]:
    """Place of every contact and device, and the channels of every contact, as stored now."""
    reg = load_snapshot(site.db)
    out = {f"contact {c.code}": f"{c.place} {' '.join(c.channels)}" for cs in reg.contacts.values() for c in cs}
    out.update({f"device {d.id}": d.place for d in reg.devices.values()})
    out.update({f"node {n.code}": str(n.parent) for n in reg.nodes.values()})
    return out


# --- 1. registry import: every row is checked against the entity's current place and its new one ---------------

GOOD = "household,hh-0009,bd-01,Room 309,,22:00-06:30,7,,,,,,,,,,,,,,"
STEAL = {
    # another street's family contact, re-homed into our household with the attacker's channel
    "contact": "contact,c-fam4,hh-0001,Wu Min,,,,,,,,,,,,,,family,json://attacker.example/steal,zh,",
    # another street's call button, re-homed into our household
    "device": "device,btn-0004,hh-0001,,,,,,gw-a,call_button,3600,,,,,,,,,,",
    # another street's household, moved under our building
    "household": "household,hh-0004,bd-01,Room 901,,22:00-06:30,7,,,,,,,,,,,,,,",
    # another street's grid worker, moved into our grid
    "grid worker": "contact,c-gw3,gr-01,Zheng Hao,,,,,,,,,,,,,,grid_worker,json://attacker.example/gw,zh,",
}


@pytest.mark.parametrize("kind", list(STEAL))
def test_import_cannot_take_another_streets_entities(site: Site, kind: str) -> None:
    add_second_street(site)
    before = where(site)
    r = site.client.post("/api/registry/import", headers=site.as_("admin"), json={"csv": csv(GOOD, STEAL[kind])})
    assert r.status_code == 403, r.text
    code = STEAL[kind].split(",")[1]
    assert f"row 3: {code}" in r.json()["detail"] and "another area" in r.json()["detail"], r.text
    # all or nothing: the good row was not written either
    assert where(site) == before


def test_import_cannot_hang_places_under_another_streets_node_through_a_device_of_the_same_code(site: Site) -> None:
    """Devices and places have separate codes: a device row named like a foreign building anchors nothing."""
    add_second_street(site)
    before = where(site)
    rows = csv("device,bd-03,hh-0001,,,,,,gw-a,call_button,3600,,,,,,,,,,",
               "household,hh-0666,bd-03,Room 666,,22:00-06:30,7,,,,,,,,,,,,,,")
    r = site.client.post("/api/registry/import", headers=site.as_("admin"), json={"csv": rows})
    assert r.status_code == 403 and "row 3: hh-0666" in r.json()["detail"], r.text
    assert where(site) == before


def test_import_refusals_name_every_bad_row(site: Site) -> None:
    add_second_street(site)
    r = site.client.post("/api/registry/import", headers=site.as_("admin"),
                         json={"csv": csv(STEAL["contact"], GOOD, STEAL["device"]), "dry_run": True})
    assert r.status_code == 403
    detail = r.json()["detail"]
    assert "row 2: c-fam4" in detail and "row 4: btn-0004" in detail and "hh-0009" not in detail


def test_import_still_updates_the_streets_own_entities(site: Site) -> None:
    add_second_street(site)
    rows = csv("contact,c-fam1,hh-0002,Chen Jie,,,,,,,,,,,,,,family,ntfy://127.0.0.1:9/new,zh,",
               "device,btn-0001,hh-0002,,,,,,gw-a,call_button,1800,,,,,,,,,,",
               "household,hh-0003,bd-01,Room 101,,22:00-06:30,7,,,,,,,,,,,,,,", GOOD)
    r = site.client.post("/api/registry/import", headers=site.as_("admin"), json={"csv": rows})
    assert r.status_code == 200 and r.json()["errors"] == [] and r.json()["updated"] == 3, r.text
    now = where(site)
    assert now["contact c-fam1"] == "hh-0002 ntfy://127.0.0.1:9/new" and now["device btn-0001"] == "hh-0002"
    assert now["node hh-0003"] == "bd-01" and now["node hh-0009"] == "bd-01"
    # and the other street's admin cannot take them back
    r = site.client.post("/api/registry/import", headers=site.as_("admin2"),
                         json={"csv": csv("device,btn-0001,hh-0004,,,,,,gw-c,call_button,3600,,,,,,,,,,")})
    assert r.status_code == 403 and "row 2: btn-0001" in r.json()["detail"]
    assert where(site)["device btn-0001"] == "hh-0002"


# --- 2. the audit log shows only the caller's area ---------------------------------------------------------------


def test_audit_log_is_scoped_to_the_callers_area(site: Site) -> None:
    press4 = add_second_street(site)
    c = site.client
    assert c.put("/api/registry/households/hh-0004/away", headers=site.as_("admin2"),
                 json={"until": "2030-01-01"}).status_code == 204
    assert c.post(f"/api/alerts/{press4}/acknowledge", headers=site.as_("gw3"), json={}).status_code == 200
    assert c.post(f"/api/alerts/{site.ids['press1']}/acknowledge", headers=site.as_("gw1"), json={}).status_code == 200
    assert c.put("/api/registry/households/hh-0002/away", headers=site.as_("admin"),
                 json={"until": "2030-01-01"}).status_code == 204
    assert c.post("/api/login", json={"username": "somebody-else", "password": "wrong"}).status_code == 401

    def seen(user: str) -> set[tuple[str, str, str]]:
        r = c.get("/api/audit", headers=site.as_(user), params={"limit": 1000})
        assert r.status_code == 200
        return {(x["actor"], x["action"], x["target"]) for x in r.json()}

    first, second = seen("admin"), seen("admin2")
    assert ("admin", "household.away", "household hh-0002") in first  # own action
    assert ("gw1", "alert.acknowledge", f"alert {site.ids['press1']}") in first  # an alert of the street
    assert ("gw1", "login", "user gw1") in first  # a user of the street
    assert not {x for x in first if x[0] in ("admin2", "gw3") or "hh-0004" in x[2] or x[2] == f"alert {press4}"}
    assert not {x for x in first if x[1] == "login.failed"}  # a name nobody has is nobody's business here
    assert ("admin2", "household.away", "household hh-0004") in second
    assert ("gw3", "alert.acknowledge", f"alert {press4}") in second
    assert not {x for x in second if x[0] in ("admin", "gw1") or x[2] in ("household hh-0002",
                                                                        f"alert {site.ids['press1']}")}


# --- 3. households and away mode by role ---------------------------------------------------------------------------

HOUSEHOLD_READ = {"admin": 200, "staff": 200, "gw1": 200, "gw2": 404, "tech": 403, "fam1": 200, "fam2": 404}
AWAY = {"admin": 204, "staff": 204, "gw1": 204, "gw2": 404, "tech": 403, "fam1": 403, "fam2": 403}


@pytest.mark.parametrize("user", list(USERS))
def test_household_personal_data_by_role(sqlite_site: Site, user: str) -> None:
    site = sqlite_site
    h = site.as_(user)
    r = site.client.get("/api/households/hh-0001", headers=h)
    assert r.status_code == HOUSEHOLD_READ[user], (user, r.text)
    if r.status_code == 200:
        body = r.json()
        assert body["flags"] == ["solitary_elderly"] and "c-fam1" in {x["code"] for x in body["contacts"]}
    else:
        assert "Chen Jie" not in r.text and "solitary" not in r.text
    if user == "tech":
        assert "devices" in r.json()["detail"]
        # a technician is refused the same way whether the household exists or not
        assert site.client.get("/api/households/hh-9999", headers=h).json() == r.json()


@pytest.mark.parametrize("user", list(USERS))
def test_away_mode_only_for_people_who_look_after_residents(sqlite_site: Site, user: str) -> None:
    site = sqlite_site
    r = site.client.put("/api/registry/households/hh-0001/away", headers=site.as_(user), json={"until": "2030-01-01"})
    assert r.status_code == AWAY[user], (user, r.text)
    away = load_snapshot(site.db).households["hh-0001"].away_until
    assert (away is not None) == (AWAY[user] == 204)


# --- 4. dispatch: only to people of the caller's area, and "unknown" looks like "not yours" -----------------------


def dispatched(site: Site, alert_id: int) -> list[str]:
    with site.db.session() as s:
        return [e.note for e in s.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert_id,
                                                                  AlertEvent.action == "dispatched"))]


def test_dispatch_outside_the_area_is_refused_like_an_unknown_name(site: Site) -> None:
    add_second_street(site)
    aid = site.ids["press1"]
    h = site.as_("gw1")
    answers = []
    for to in ("nobody-at-all", "c-fam4", "c-gw3", "admin2", "gw3", "c-gw2", "gw2"):
        r = site.client.post(f"/api/alerts/{aid}/dispatch", headers=h, json={"to": to, "note": "go"})
        answers.append((r.status_code, r.json()))
        assert r.status_code == 422 and to not in r.text, (to, r.text)
    assert all(a == answers[0] for a in answers), answers
    assert site.client.get(f"/api/alerts/{aid}", headers=h).json()["alert"]["state"] == "open"
    assert dispatched(site, aid) == []


@pytest.mark.parametrize("to", ["c-gw1", "c-fam1", "gw1", "c-cm", "staff", "c-st", "admin"])
def test_dispatch_to_the_area_and_the_duty_officers_above_it(sqlite_site: Site, to: str) -> None:
    site = sqlite_site
    aid = site.ids["press1"]
    r = site.client.post(f"/api/alerts/{aid}/dispatch", headers=site.as_("gw1"), json={"to": to})
    assert r.status_code == 200 and r.json()["dispatched_to"] == to, r.text
