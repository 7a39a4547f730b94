"""Acknowledgement links: the page, the one-time POST as that contact, expiry, forgery, scope."""

from __future__ import annotations

import re

from notify.links import AckLinks
from tests.console.conftest import Site


def links(site: Site, ttl_ms: int = 3_600_000) -> AckLinks:
    return AckLinks(site.cfg.api.secret_key.get_secret_value(), site.cfg.api.base_url, ttl_ms)


def test_family_link_acknowledges_once_as_that_contact(site: Site) -> None:
    aid = site.ids["press1"]
    now = site.client.app.state.ctx.now()
    token = links(site).token(aid, "c-fam1", now)
    c = site.client
    page = c.get(f"/ack/{token}")
    # opening the link (as a chat app's preview would) changes nothing
    assert page.status_code == 200 and "我来处理" in page.text and 'method="post"' in page.text
    assert "Room 301" in page.text
    staff = site.as_("staff")
    assert c.get(f"/api/alerts/{aid}", headers=staff).json()["alert"]["state"] == "open"
    done = c.post(f"/ack/{token}")
    assert done.status_code == 200 and "已确认" in done.text
    alert = c.get(f"/api/alerts/{aid}", headers=staff).json()
    assert alert["alert"]["state"] == "acknowledged" and alert["alert"]["acknowledged_by"] == "c-fam1"
    assert alert["timeline"][-1]["channel"] == "ack_link"
    again = c.post(f"/ack/{token}")
    assert again.status_code == 409 and "已使用" in again.text
    log = c.get("/api/audit", headers=site.as_("admin")).json()
    assert [(x["actor"], x["detail"]) for x in log if x["action"] == "alert.acknowledge_link"] == \
        [("c-fam1", "already_used"), ("c-fam1", "acknowledged")]


def test_english_contact_gets_english_page_and_a_second_link_after_someone_acked(site: Site) -> None:
    aid = site.ids["press2"]
    now = site.client.app.state.ctx.now()
    first, second = links(site).token(aid, "c-fam2", now), links(site).token(aid, "c-gw1", now)
    page = site.client.get(f"/ack/{first}")
    assert "I&#39;m on it" in page.text or "I'm on it" in page.text
    assert site.client.post(f"/ack/{first}").status_code == 200
    r = site.client.post(f"/ack/{second}")
    assert r.status_code == 200 and "已有人在处理" in r.text  # c-gw1 reads Chinese


def test_expired_forged_and_foreign_links_are_refused(site: Site) -> None:
    aid = site.ids["press1"]
    now = site.client.app.state.ctx.now()
    old = links(site, ttl_ms=1).token(aid, "c-fam1", now - 10_000)
    r = site.client.post(f"/ack/{old}")
    assert r.status_code == 410 and "过期" in r.text
    good = links(site).token(aid, "c-fam1", now)
    payload, sig = good.split(".")
    forged_payload = links(site).token(site.ids["press2"], "c-fam1", now).split(".")[0]
    for bad in (f"{forged_payload}.{sig}", f"{payload}.AAAA", "garbage", "a.b.c", "%00"):
        r = site.client.post(f"/ack/{bad}")
        assert r.status_code == 404 and "链接无效" in r.text, bad
    other_key = AckLinks("x" * 40, "http://x", 3_600_000).token(aid, "c-fam1", now)
    assert site.client.get(f"/ack/{other_key}").status_code == 404
    # a genuine link for a contact who does not belong to the alert's household
    neighbour = links(site).token(aid, "c-fam2", now)
    r = site.client.post(f"/ack/{neighbour}")
    assert r.status_code == 403
    staff = site.as_("staff")
    assert site.client.get(f"/api/alerts/{aid}", headers=staff).json()["alert"]["state"] == "open"
    assert re.search(r"Room 30[12]", site.client.get(f"/ack/{good}").text)


#: registry contact codes may hold '.', '_' and '-' anywhere after the first character (registry/csvio.py CODE_RE)
ODD_CODES = ["c.fam.1", "Chen.Jie_1-a", "a.", "9..z", "A-._", "x" + ".y" * 31 + "z"]


def test_links_work_for_every_valid_contact_code(site: Site) -> None:
    from registry.csvio import import_rows
    from tests.notify.fixtures import HEADER

    rows = [f"contact,{code},hh-0001,Odd {i},,,,,,,,,,,,,,family,ntfy://127.0.0.1:9/odd{i},zh,"
            for i, code in enumerate(ODD_CODES)]
    assert import_rows(site.db, HEADER + "\n" + "\n".join(rows) + "\n").errors == []
    site.client.app.state.ctx.registry.reload()
    aid = site.ids["press1"]
    now = site.client.app.state.ctx.now()
    tokens = {}
    for code in ODD_CODES:
        tokens[code] = links(site).token(aid, code, now)
        claim = links(site).verify(tokens[code], now)
        assert (claim.alert_id, claim.contact) == (aid, code)
        page = site.client.get(f"/ack/{tokens[code]}")
        assert page.status_code == 200 and "我来处理" in page.text, (code, page.text[:300])
    done = site.client.post(f"/ack/{tokens['c.fam.1']}")
    assert done.status_code == 200 and "已确认" in done.text
    alert = site.client.get(f"/api/alerts/{aid}", headers=site.as_("staff")).json()["alert"]
    assert alert["state"] == "acknowledged" and alert["acknowledged_by"] == "c.fam.1"
    r = site.client.post(f"/ack/{tokens['9..z']}")
    assert r.status_code == 200 and "已有人在处理" in r.text
