"""Check-in answer links (notify/links.py CheckinLinks, console/checkin_pages.py): each answer only with its own
signed link, once, only by the household's family; the page in the contact's language; refusals audited."""

from __future__ import annotations

from alerts.manager import AlertManager
from alerts.notifier import MemoryNotifier
from alerts.types import CheckIn, Raise, Rule, Severity
from notify.links import AckLinks, CheckinAnswer, CheckinLinks
from registry.model import load_snapshot
from tests.console.conftest import Site

OK, UNREACHABLE = CheckinAnswer.OK, CheckinAnswer.UNREACHABLE


def links(site: Site, ttl_ms: int = 3_600_000) -> CheckinLinks:
    return CheckinLinks(site.cfg.api.secret_key.get_secret_value(), site.cfg.api.base_url, ttl_ms)


def inactivity(site: Site, household: str = "hh-0001") -> int:
    """A water-inactivity alert opened as the engine opens it, asking the family (night switched off)."""
    cfg = site.cfg.alerts.model_copy(update={"checkin": site.cfg.alerts.checkin.model_copy(update={"night": ""})})
    reg = load_snapshot(site.db)
    now = site.client.app.state.ctx.now()
    mgr = AlertManager(site.client.app.state.ctx.store, lambda: reg, MemoryNotifier(), cfg)
    [ch] = mgr.apply([Raise.of(Rule.WATER_INACTIVITY, household, Severity.MAJOR, household, f"s-{now}", now,
                               reason="window", hours=7.0, window_h=7)], now)
    assert ch.alert.checkin is CheckIn.ASKING
    return ch.alert.id


def state(site: Site, aid: int) -> dict:
    return site.client.get(f"/api/alerts/{aid}", headers=site.as_("staff")).json()["alert"]


def test_fine_closes_once_and_the_other_answer_then_has_nothing_to_do(sqlite_site: Site) -> None:
    site, c = sqlite_site, sqlite_site.client
    aid = inactivity(site)
    now = c.app.state.ctx.now()
    ok, unreachable = links(site).token(OK, aid, "c-fam1", now), links(site).token(UNREACHABLE, aid, "c-fam1", now)
    page = c.get(f"/checkin/ok/{ok}")
    assert page.status_code == 200 and "她/他没事" in page.text and 'method="post"' in page.text
    assert "正在询问家属" in page.text  # the state as the board reads it
    assert state(site, aid)["state"] == "open"  # a GET (a chat app's preview) changes nothing
    done = c.post(f"/checkin/ok/{ok}")
    assert done.status_code == 200 and "告警已关闭" in done.text
    a = state(site, aid)
    assert (a["state"], a["outcome"]) == ("closed", "no_emergency") and "家属确认平安" in a["state_word"]
    assert c.post(f"/checkin/ok/{ok}").status_code == 409  # once
    late = c.post(f"/checkin/unreachable/{unreachable}")
    assert late.status_code == 200 and "已结束" in late.text
    log = c.get("/api/audit", headers=site.as_("admin")).json()
    assert [(x["action"], x["actor"], x["detail"]) for x in log if x["action"].startswith("alert.checkin")] == \
        [("alert.checkin_link", "c-fam1", "unreachable: already_handled"),
         ("alert.checkin_link", "c-fam1", "ok: already_used"), ("alert.checkin_ok", "c-fam1", "ok_family")]


def test_unreachable_makes_staff_due_now_in_english_for_an_english_contact(sqlite_site: Site) -> None:
    site, c = sqlite_site, sqlite_site.client
    aid = inactivity(site, "hh-0002")  # c-fam2 reads English
    token = links(site).token(UNREACHABLE, aid, "c-fam2", c.app.state.ctx.now())
    page = c.get(f"/checkin/unreachable/{token}")
    assert "I cannot reach them" in page.text
    done = c.post(f"/checkin/unreachable/{token}")
    assert done.status_code == 200 and "grid worker" in done.text
    view = c.app.state.ctx.store.get(aid)
    assert view.checkin is CheckIn.UNREACHABLE and view.next_escalation_at == view.checkin_at  # due: the engine pushes


def test_links_of_another_purpose_household_or_key_and_expired_ones_are_refused(sqlite_site: Site) -> None:
    site, c = sqlite_site, sqlite_site.client
    aid = inactivity(site)
    now = c.app.state.ctx.now()
    ack = AckLinks(site.cfg.api.secret_key.get_secret_value(), site.cfg.api.base_url, 3_600_000).token(aid, "c-fam1",
                                                                                                        now)
    ok = links(site).token(OK, aid, "c-fam1", now)
    for path in (f"/checkin/ok/{ack}", f"/checkin/unreachable/{ok}", f"/checkin/maybe/{ok}", "/checkin/ok/garbage"):
        r = c.post(path)
        assert r.status_code == 404 and "链接无效" in r.text, path
    assert c.post(f"/ack/{ok}").status_code == 404  # nor an answer an acknowledgement
    old = links(site, ttl_ms=1).token(OK, aid, "c-fam1", now - 10_000)
    assert c.post(f"/checkin/ok/{old}").status_code == 410
    neighbour = links(site).token(OK, aid, "c-fam2", now)  # genuine, but not this household's family
    assert c.post(f"/checkin/ok/{neighbour}").status_code == 403
    staff = links(site).token(UNREACHABLE, aid, "c-gw1", now)  # a grid worker is not asked
    assert c.post(f"/checkin/unreachable/{staff}").status_code == 403
    assert state(site, aid)["state"] == "open" and c.app.state.ctx.store.get(aid).checkin is CheckIn.ASKING
