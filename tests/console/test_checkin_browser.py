"""The check-in step end to end: the engine's manager opens an inactivity alert and the real notifier sends the
family's message with both links to a local receiver; in headless Chromium the board shows the check-in in
Chinese, the family taps "她/他没事" (closed as no emergency) or "联系不上" (the running engine pushes the grid
worker); a gateway's real call-button cancel over MQTT answers a third check-in."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alerts.actions import Actor, AlertActions
from alerts.manager import AlertManager
from alerts.store import AlertStore
from alerts.types import CheckIn, Outcome, Raise, Rule, Severity
from notify.dispatch import ChannelNotifier
from ground.clock import SystemClock
from registry.model import load_snapshot
from storage.sql import Database
from tests.console.conftest import PHONE, LiveStack, login, shot
from tests.helpers import wait_for


@dataclass
class Opener:
    """Opens inactivity alerts as the engine does (AlertManager), through the real notifier, at any hour."""

    db: Database
    store: AlertStore
    manager: AlertManager
    notifier: ChannelNotifier
    live: LiveStack

    def open(self) -> tuple[int, dict]:
        """A water-inactivity alert at hh-0001; returns its id and the family's message as the receiver got it."""
        now = time.time_ns() // 1_000_000
        [ch] = self.manager.apply([Raise.of(Rule.WATER_INACTIVITY, "hh-0001", Severity.MAJOR, "hh-0001",
                                            f"since-{now}", now, reason="window", hours=7.0, window_h=7)], now)
        aid = ch.alert.id
        assert ch.alert.checkin is CheckIn.ASKING  # night is switched off for this test: the same at any hour
        msg = self.live.http.wait(lambda rs: [r.json() for r in rs if r.path == "/" and r.json().get("topic") == "fam1"
                                              and f"#{aid}" in r.json().get("message", "")], timeout=10)[-1]
        return aid, msg


@pytest.fixture
def opener(live: LiveStack) -> Iterator[Opener]:
    cfg = live.cfg.model_copy(update={"alerts": live.cfg.alerts.model_copy(
        update={"checkin": live.cfg.alerts.checkin.model_copy(update={"night": ""})})})
    db = Database.from_config(cfg)
    notifier = ChannelNotifier(db, cfg, resume=False)
    store = AlertStore(db)
    try:
        yield Opener(db, store, AlertManager(store, lambda: load_snapshot(db), notifier, cfg.alerts), notifier, live)
    finally:
        notifier.close()
        db.close()


def links(live: LiveStack, msg: dict) -> tuple[str, str]:
    found = [re.search(re.escape(live.url) + rf"/checkin/{a}/[A-Za-z0-9_.-]+", msg["message"]) for a in
             ("ok", "unreachable")]
    assert all(found), msg["message"]
    return found[0].group(0), found[1].group(0)


def gw1_messages(live: LiveStack, aid: int) -> list[dict]:
    return [r.json() for r in live.http.received if r.path == "/hook/c-gw1" and f"#{aid}" in r.json()["message"]]


def test_family_taps_fine_or_unreachable_and_the_resident_answers_with_the_button(
        browser, live: LiveStack, opener: Opener) -> None:  # noqa: ANN001
    aid, msg = opener.open()
    # the bytes the family's phone gets: Chinese, both one-tap answers, the place's name, no registry codes
    assert msg["title"].startswith("【请确认平安】") and "Room 301" in msg["title"]
    body = msg["message"]
    assert "她/他没事" in body and "联系不上" in body and "hh-0001" not in body and "取消" in body
    ok, unreachable = links(live, msg)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    try:  # the grid worker sees it on the board at once, in Chinese, with the check-in state
        login(page, live.url, "gw1")
        row = page.wait_for_selector(f'.alert-row[data-id="{aid}"]', timeout=5000)
        assert "正在询问家属" in row.inner_text() and "用水异常" in row.inner_text()
        shot(page, "board-checkin-asking")
    finally:
        ctx.close()
    phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = phone.new_page()
    try:
        page.goto(ok)
        assert "她/他没事" in page.inner_text("#checkin-button") and "Room 301" in page.inner_text("body")
        assert opener.store.get(aid).state.value == "open"  # opening the link changed nothing
        shot(page, "checkin-ok-confirm-phone")
        page.click("#checkin-button")
        page.wait_for_selector("#checkin-result")
        assert "告警已关闭" in page.inner_text("#checkin-result")
        a = opener.store.get(aid)
        assert a.state.value == "closed" and a.outcome is Outcome.NO_EMERGENCY and a.checkin is CheckIn.OK_FAMILY
        assert opener.store.events(aid)[-1]["actor"] == "c-fam1"
        page.goto(unreachable)  # the other answer of an answered check-in: nothing left to do
        page.click("#checkin-button")
        assert "已结束" in page.inner_text("#checkin-result")
        assert opener.store.get(aid).staff_pushed_at is None

        # a second alert: "联系不上" -> the running engine pushes the grid worker within its next look at the store
        bid, msg2 = opener.open()
        page.goto(links(live, msg2)[1])
        page.click("#checkin-button")
        page.wait_for_selector("#checkin-result")
        assert "网格员" in page.inner_text("#checkin-result")
        shot(page, "checkin-unreachable-done-phone")
        [pushed] = wait_for(lambda: gw1_messages(live, bid), timeout=20, what="the grid worker's push")
        assert pushed["title"].startswith("【家属联系不上】") and "Room 301" in pushed["title"]
        assert re.search(re.escape(live.url) + r"/ack/\S+", pushed["message"])  # they can take it on in one tap
        b = opener.store.get(bid)
        assert b.checkin is CheckIn.UNREACHABLE and b.staff_pushed_at is not None and b.state.value == "open"
    finally:
        phone.close()
    assert gw1_messages(live, aid) == []  # the first alert, answered "fine", never pushed the grid worker
    AlertActions(opener.store, SystemClock()).resolve(bid, Actor("gw1", "console"), "visited: she had fallen")

    # a third: the resident presses the cancel key of her call button; the gateway publishes it over MQTT
    cid, _ = opener.open()
    live.press("btn-0001", action="cancel")
    wait_for(lambda: opener.store.get(cid).state.value == "closed", timeout=20, what="the resident's answer")
    c = opener.store.get(cid)
    assert c.outcome is Outcome.NO_EMERGENCY and c.checkin is CheckIn.OK_RESIDENT
    assert [(e["actor"], e["channel"]) for e in opener.store.events(cid) if e["action"] == "checkin_ok"] == \
        [("resident", "device")]
    # the engine told the family that she answered (the staff were never pushed for this one)
    told = live.http.wait(lambda rs: [r.json() for r in rs if r.path == "/" and r.json().get("topic") == "fam1"
                                      and f"#{cid}" in r.json()["message"] and "已报平安" in r.json()["title"]])
    assert json.dumps(told[0], ensure_ascii=False).count("hh-0001") == 0
