"""Contacts' phone numbers in the API: for the people who call them, never for technicians."""

from __future__ import annotations

from tests.console.conftest import Site

PHONES = "record,code,parent,name,role,channels,phone\n" \
         "contact,c-gw2,gr-02,Li Lei,grid_worker,wecombot://KEYGW2,138-0000-9002\n" \
         "contact,c-fam3,hh-0003,Zhou Min,family,feishu://TOKF3,13900000003\n"


def test_phone_numbers_reach_staff_and_family_but_not_technicians(sqlite_site: Site) -> None:
    site = sqlite_site
    r = site.client.post("/api/registry/import", headers=site.as_("admin"), json={"csv": PHONES})
    assert r.status_code == 200, r.text
    aid = site.ids["battery3"]  # a device-health alert at hh-0003: technicians see it too

    def contacts(user: str) -> dict[str, str | None]:
        r = site.client.get(f"/api/alerts/{aid}", headers=site.as_(user))
        assert r.status_code == 200, r.text
        return {x["code"]: x["phone"] for x in r.json()["contacts"]}

    assert contacts("staff") == {"c-fam3": "13900000003", "c-gw2": "13800009002"}
    assert contacts("gw2") == {"c-fam3": "13900000003", "c-gw2": "13800009002"}
    tech = site.client.get(f"/api/alerts/{aid}", headers=site.as_("tech"))
    assert [x["code"] for x in tech.json()["contacts"]] == ["c-gw2"]  # whom to ask, not how to reach them
    assert "13800009002" not in tech.text and "13900000003" not in tech.text
    # a contact without a number says so (null), not ""
    press = site.client.get(f"/api/alerts/{site.ids['press1']}", headers=site.as_("staff")).json()
    assert {x["code"]: x["phone"] for x in press["contacts"]} == {"c-fam1": None, "c-gw1": None}
    home = site.client.get("/api/households/hh-0003", headers=site.as_("gw2")).json()
    assert {x["code"]: x["phone"] for x in home["contacts"]} == {"c-fam3": "13900000003", "c-gw2": "13800009002"}
