"""The console on the demo community's registry, in Chromium, as a Chinese and an English reader would see it.

People and places come first (building and flat, the resident's and contacts' names, tap-to-call numbers);
every word a Chinese reader reads on the alert cards, the timeline, the roles and the river chart's axes is
Chinese; the devices page is cards on a phone. Screenshots of board, alert detail, devices and river at phone
(390x844) and desktop (1280x800) size go to test-artifacts/console/ for a person to look at.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from alerts.store import AlertFilter, AlertStore
from alerts.types import Raise, Rule, Severity
from console.auth import create_user, hash_password
from console.scope import UserRole
from registry.csvio import COLUMNS, import_rows
from registry.model import RegistrySnapshot, load_snapshot
from registry.types import Level
from storage.sql import Database
from tests.console.conftest import PASSWORD, PHONE, api_token, live_children, login, shot

DESKTOP = {"width": 1280, "height": 800}
#: registry codes that must not stand where the registry has a name (hh-0005, bld-03, worker-grid-02, cb-0002,
#: grid-01, demo-community, duty-..., family-hh-...)
CODE = re.compile(r"\b(hh-\d{3,}|bld-\d+|worker-grid-\d+|grid-\d+|cb-\d{4}|wm-\d{4}|rg-\d{4}|demo-community|duty-|"
                  r"family-hh)")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
USERS = {  # username: (role, language, display name)
    "zhstaff": (UserRole.COMMUNITY_STAFF, "zh", "值班员周晓"),
    "enstaff": (UserRole.COMMUNITY_STAFF, "en", "Duty officer Zhou"),
}


@dataclass
class Demo:
    url: str
    uid: str
    cfg: object  # shouwang.config.Config
    reg: RegistrySnapshot
    services: object
    press_alert: int = 0
    silent_alert: int = 0
    river_alert: int = 0
    camera_alert: int = 0
    water_used_at: int = 0

    def device(self, code: str) -> str:
        return f"{code}-{self.uid}"

    def token(self, user: str) -> str:
        return api_token(self.url, user)

    def alert(self, alert_id: int, user: str = "zhstaff") -> dict:
        r = httpx.get(f"{self.url}/api/alerts/{alert_id}", headers={"Authorization": f"Bearer {self.token(user)}"},
                      timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def demo_rows(uid: str, hook: str) -> str:
    """The demo scenario's registry (what `shouwang up` seeds), with this run's device ids, the test broker's
    gateways and every contact reaching the local receiver."""
    from firmware_sim.scenario import load_scenario
    from registry.scenario import registry_rows

    gateways: dict[str, str] = {}
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in registry_rows(load_scenario("demo")):
        if row["record"] == "device":
            row["code"] = f"{row['code']}-{uid}"
            row["gateway"] = gateways.setdefault(row["gateway"], ("gw-a", "gw-b")[len(gateways) % 2])
        if row["record"] == "contact":
            row["channels"] = f"json://{hook}/hook/{row['code']}"
        w.writerow(row)
    return buf.getvalue()


@pytest.fixture(scope="module")
def demo(services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The engine and the API as children on the demo registry; a press, a river above its warning line, a
    silent meter cleared by the engine."""
    from tests.notify.receivers import HttpReceiver

    uid = uuid.uuid4().hex[:6]
    tmp = tmp_path_factory.mktemp("demo-console")
    http = HttpReceiver().start()
    def seed_demo(db: Database) -> RegistrySnapshot:
        report = import_rows(db, demo_rows(uid, f"127.0.0.1:{http.port}"))
        assert report.errors == []
        reg = load_snapshot(db)
        community = next(n.code for n in reg.nodes.values() if n.level.value == "community")
        pw = hash_password(PASSWORD)
        for name, (role, language, display) in USERS.items():
            create_user(db, reg, name, PASSWORD, role, [community], display_name=display, language=language,
                        now=0, password_hash=pw)
        family = next(c for c in reg.contacts["hh-0002"] if c.role.value == "family")  # the pressed button's flat
        create_user(db, reg, "zhfamily", PASSWORD, UserRole.FAMILY, ["hh-0002"], contact=family.code,
                    display_name=family.name, language="zh", now=0, password_hash=pw)
        return reg

    try:
        with live_children(services, tmp, "demo", uid, "d" * 40, seed_demo) as c:
            d = Demo(c.url, uid, c.cfg, c.seeded, services)
            happen(d)
            yield d
    finally:
        http.stop()


def happen(d: Demo) -> None:
    """What the board shows: a call-button press and a river over its warning line through the engine, a day of
    river levels for the chart, and a meter that went silent and was cleared by the engine (written as the
    engine writes them)."""
    from wire import Message, encode
    from wire.models import Channel, Kind

    now = int(time.time() * 1000)
    button, gauge = d.device("cb-0002"), d.device("rg-0001")
    gauge_gw = d.reg.devices[gauge].gateway
    influx = d.services.influx
    influx.ensure_database()
    influx.write("\n".join(  # a day of levels rising towards the warning line (3.8 m)
        f"river_gauge,device={gauge},gateway={gauge_gw} level_m={2.6 + 1.1 * i / 95:.3f},seq={i}i "
        f"{(now - (96 - i) * 900_000) * 10**6}" for i in range(96)).encode(), precision="ns")
    influx.write("\n".join(  # the readings published below, as ingest would store them
        f"river_gauge,device={gauge},gateway={gauge_gw} level_m={3.95 + 0.01 * i:.3f},seq={100 + i}i "
        f"{(now - (2 - i) * 30_000) * 10**6}" for i in range(3)).encode(), precision="ns")
    meter = d.device("wm-0002")  # the pressed button's flat: water last used 3 h ago, read every 5 min since
    d.water_used_at = now - 3 * 3_600_000
    influx.write("\n".join(
        f"water_meter,device={meter},gateway={d.reg.devices[meter].gateway} total_l={100.0 if i == 0 else 112.0},"
        f"seq={i}i {(d.water_used_at + (i - 1) * 300_000) * 10**6}" for i in range(36)).encode(), precision="ns")
    msgs = [(d.reg.devices[button].gateway, Message(d.reg.devices[button].gateway, button, Channel.EVENT,
                                                    Kind.CALL_BUTTON, now, 1, {"action": "press"}))]
    msgs += [(gauge_gw, Message(gauge_gw, gauge, Channel.READING, Kind.RIVER_GAUGE, now - (2 - i) * 30_000, 100 + i,
                                {"level_m": 3.95 + 0.01 * i})) for i in range(3)]
    for gw_name in sorted({g for g, _ in msgs}):
        gw = d.services.gateway(gw_name)
        try:
            gw.wait_acked([gw.publish(*encode(m)) for g, m in msgs if g == gw_name])
        finally:
            gw.stop()
    db = Database.from_config(d.cfg)
    try:
        store = AlertStore(db)
        meter = d.device("wm-0005")
        ch = store.raise_alert(Raise(Rule.DEVICE_SILENT, meter, Severity.MAINTENANCE, "hh-0005", f"silent-{now}",
                                     f"device_silent {meter}",
                                     {"reason": "no_report", "device": meter, "kind": "water_meter", "minutes": 42,
                                      "limit_min": 30, "last_seen": now - 42 * 60_000}, now - 600_000),
                               grid="grid-02", now=now - 600_000, next_escalation_at=None)
        assert ch is not None
        d.silent_alert = ch.alert.id
        assert store.clear(Rule.DEVICE_SILENT, meter, "reporting_again", now - 60_000) is not None
        camera, zone = d.device("cam-0002"), "grid-02.riverside"  # the zone cameras call "riverside"
        assert d.reg.nodes[zone].name == "riverside" and d.reg.devices[camera].place == zone
        ch = store.raise_alert(Raise(Rule.CAMERA_INTRUSION, zone, Severity.MAJOR, zone, f"cam-{now}",
                                     f"camera_intrusion {zone}",
                                     {"reason": "intrusion", "type": "intrusion", "camera": camera, "zone": zone,
                                      "score": 0.91, "confirmed": True, "confirmed_by_zone": "grid-02.bridge"},
                                     now - 300_000), grid="grid-02", now=now - 300_000, next_escalation_at=None)
        assert ch is not None
        d.camera_alert = ch.alert.id
        # its grid worker's channel did not answer: the stored error is the channel library's own English line
        from alerts.store import DeliveryRecord
        from notify.channels import ChannelSender
        from notify.records import FAILED, Attempt, record_attempts
        from shouwang.procs import free_port

        sent = ChannelSender(timeout_s=2).send(f"json://127.0.0.1:{free_port()}/hook", "标题", "正文")
        assert not sent.ok and "Connection error" in sent.error
        [did] = store.record_deliveries(d.camera_alert, now - 299_000, [DeliveryRecord(
            "worker-grid-02", "grid_worker", 1, "zh", FAILED, "t", "b", "opened", 0)])
        record_attempts(db, [did], [Attempt(now - 299_000, 0, "json", False, sent.error, sent.duration_ms)], FAILED)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (d.press_alert and d.river_alert):
            for a in store.list(AlertFilter(active=True), limit=50):
                if a.rule is Rule.CALL_BUTTON and a.place == "hh-0002":
                    d.press_alert = a.id
                if a.rule is Rule.RIVER_LEVEL:
                    d.river_alert = a.id
            time.sleep(0.2)
    finally:
        db.close()
    assert d.press_alert, "the engine opened no alert for the press"
    assert d.river_alert, "the engine opened no alert for the river above its warning line"


# --- the browser ----------------------------------------------------------------------------------------------


def open_as(browser, demo: Demo, user: str, size: dict) -> tuple[object, object]:
    phone = size is PHONE
    ctx = browser.new_context(viewport=size, is_mobile=phone, has_touch=phone)
    page = ctx.new_page()
    login(page, demo.url, user)
    return ctx, page


def latin_words(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    return [w for w in LATIN_WORD.findall(text) if w not in allowed]


def assert_fits(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, f"{what} is {width}px wide in a {page.viewport_size['width']}px " \
                                                     "window"


#: whether an input shows its whole placeholder and is wide enough to type in
_READABLE = """sel => { const e = document.querySelector(sel); if (!e) return null;
  const cs = getComputedStyle(e), c = document.createElement("canvas").getContext("2d"); c.font = cs.font;
  const room = e.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return {room, text: c.measureText(e.placeholder || "").width, placeholder: e.placeholder}; }"""


def assert_inputs_readable(page) -> None:
    for sel in ("#dispatch-to", "#close-feedback", "#close-rating"):
        m = page.evaluate(_READABLE, sel)
        if m is None:
            continue
        assert m["text"] <= m["room"], f"{sel} cuts its placeholder {m['placeholder']!r}: {m}"
        assert m["room"] >= 40, f"{sel} has {m['room']}px to type in"


def wait_board(page, demo: Demo) -> None:
    for alert_id in (demo.press_alert, demo.silent_alert, demo.camera_alert):
        page.wait_for_selector(f'.alert-row[data-id="{alert_id}"]', timeout=5000)


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_chinese_reader_sees_chinese_names_and_places(browser, demo: Demo, size: dict) -> None:
    tag = "phone" if size is PHONE else "desktop"
    reg = demo.reg
    flat, resident = reg.address("hh-0002"), reg.households["hh-0002"].resident
    assert flat and resident and CJK.search(flat)  # the demo registry names its flats and people
    ctx, page = open_as(browser, demo, "zhstaff", size)
    try:
        # --- board: the card's main line is the flat and who lives there; its sentence is Chinese
        wait_board(page, demo)
        page.wait_for_function("document.querySelectorAll('.alert-row').length >= 4")
        rows = page.locator(".alert-row")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        for text in texts:
            assert latin_words(text) == [], f"English on a card of the Chinese board: {text!r}"
            assert not CODE.search(text), f"a registry code where a name exists: {text!r}"
        press = page.inner_text(f'.alert-row[data-id="{demo.press_alert}"]')
        assert f"{flat}" in page.inner_text(f'.alert-row[data-id="{demo.press_alert}"] .place')
        assert resident in press and "一键呼叫" in press and "按下" in press
        silent = page.inner_text(f'.alert-row[data-id="{demo.silent_alert}"]')
        assert "已自动解除" in silent and "已处置" not in silent  # the engine cleared it; nobody handled it
        camera = page.inner_text(f'.alert-row[data-id="{demo.camera_alert}"]')  # the zone by its display name
        assert "河岸" in page.inner_text(f'.alert-row[data-id="{demo.camera_alert}"] .place') and "桥头" in camera
        assert_fits(page, "the board")
        shot(page, f"zh-board-{tag}")
        # --- the sound toggle is words and an SVG, and stays as it was set on the next page
        assert "声音提醒" in page.inner_text("#sound") and page.locator("#sound svg").count() == 1
        page.click("#sound")
        assert "开" in page.inner_text("#sound-text") and page.get_attribute("#sound", "aria-pressed") == "true"
        page.reload()
        page.wait_for_selector("#sound.on")
        page.click("#sound")  # off again for the next test
        # --- detail: names, roles and phones; a timeline in Chinese; the resolve button is not the state's word
        page.goto(f"{demo.url}/alerts/{demo.press_alert}")
        assert page.inner_text("#place").startswith(flat) and resident in page.inner_text("#place")
        detail = {s: page.inner_text(s) for s in ("#place", "#sentence", "#contacts", "#timeline", ".bar")}
        for where, text in detail.items():
            assert latin_words(text) == [], f"English in {where} of the Chinese detail page: {text!r}"
            assert not CODE.search(text), f"a registry code in {where} where a name exists: {text!r}"
        family = next(c for c in reg.contacts["hh-0002"] if c.role.value == "family")
        worker = next(c for cs in reg.contacts.values() for c in cs if c.role.value == "grid_worker"
                      and c.place == reg.ancestor("hh-0002", Level.GRID))
        for person in (family, worker):
            assert person.name in detail["#contacts"]
            assert page.locator(f'#contacts a[href="tel:{person.phone}"]').count() == 1, person.name
        assert "家属" in detail["#contacts"] and "网格员" in detail["#contacts"]
        assert page.get_attribute("#resident-tel", "href") == f"tel:{reg.households['hh-0002'].phone}"
        assert "告警产生" in detail["#timeline"]
        page.wait_for_selector("#deliveries")
        heads = page.locator("#deliveries thead th").all_inner_texts()
        assert heads and all(h.strip() for h in heads), heads  # no empty column headings
        assert latin_words(page.inner_text("#deliveries tbody"), ("json",)) == []
        resolve = page.inner_text("#resolve") if page.locator("#resolve").count() else ""
        if not resolve:
            page.click('button[data-act="acknowledge"]')
            page.wait_for_selector("#resolve")
            resolve = page.inner_text("#resolve")
        assert resolve and resolve != "已处置"  # an action's word, not the state it leads to
        assert_inputs_readable(page)
        assert_fits(page, "the alert detail")
        shot(page, f"zh-alert-detail-{tag}")
        # --- a camera zone's detail: its display name and its grid's, the confirming zone by name too
        page.goto(f"{demo.url}/alerts/{demo.camera_alert}")
        place, sentence = page.inner_text("#place"), page.inner_text("#sentence")
        assert place.startswith("第二网格 · 河岸") and "桥头」" in sentence, (place, sentence)
        assert latin_words(place + sentence + page.inner_text("#timeline")) == [], (place, sentence)
        deliveries = page.inner_text("#deliveries tbody")  # a failed attempt in words, not the library's English
        assert "连接不上接收服务" in deliveries and latin_words(deliveries, ("json",)) == [], deliveries
        if tag == "phone":  # once: someone else resolved it while this page was open; acknowledging is refused
            assert page.locator('button[data-act="acknowledge"]').count() == 1
            db = Database.from_config(demo.cfg)
            try:
                AlertStore(db).resolve(demo.camera_alert, "zhstaff", "console", int(time.time() * 1000), "")
            finally:
                db.close()
            page.click('button[data-act="acknowledge"]')
            page.wait_for_selector("#act-error:not([hidden])", timeout=5000)
            error = page.inner_text("#act-error")
            assert error == f"出错了：告警 #{demo.camera_alert} 当前为「已处置」，不能再确认。请刷新页面查看最新情况。", error
            shot(page, "zh-alert-refused-phone", full=False)
        # --- devices: Chinese kinds, flats by name; cards on a phone
        page.goto(f"{demo.url}/devices")
        page.wait_for_selector("#devices tbody tr", timeout=5000)
        row = page.inner_text(f'#devices tr[data-id="{demo.device("wm-0005")}"]')
        assert "水表" in row and reg.address("hh-0005") in row and "bld-" not in row and "hh-0005" not in row
        row = page.inner_text(f'#devices tr[data-id="{demo.device("cam-0002")}"]')
        assert "摄像头" in row and "河岸" in row and "riverside" not in row, row
        if size is PHONE:
            assert page.evaluate("getComputedStyle(document.querySelector('#devices thead')).display") == "none"
            assert page.evaluate("getComputedStyle(document.querySelector('#devices tbody tr')).display") == "block"
            cell = page.locator("#devices tbody tr").first.locator("td.health").bounding_box()
            assert cell and cell["width"] > 200  # a health word on one line, not one character a line
        assert_fits(page, "the devices page")
        shot(page, f"zh-devices-{tag}", full=False)
        # --- river: Chinese legend and a 24-hour axis with Chinese dates
        page.goto(f"{demo.url}/stations/rg-0001")
        page.wait_for_selector("#chart .uplot canvas", timeout=5000)
        assert page.evaluate("window.swChart.data[1].length") >= 90
        axis = page.evaluate("window.swChart.axes[0]._values")
        assert axis and all(not latin_words(v) for v in axis), axis  # no "8am", "11/27/26"
        assert all(re.match(r"^\d{2}:\d{2}(\n\d{1,2}月\d{1,2}日)?$", v) for v in axis), axis
        assert any("月" in v for v in axis), axis
        legend = page.inner_text("#chart .u-legend")
        assert latin_words(legend) == [] and "警戒水位" in legend, legend
        assert latin_words(page.inner_text("#chart-card")) == []
        assert_fits(page, "the river chart")
        shot(page, f"zh-river-{tag}")
    finally:
        ctx.close()


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_english_reader_sees_english_words_and_the_same_names(browser, demo: Demo, size: dict) -> None:
    tag = "phone" if size is PHONE else "desktop"
    reg = demo.reg
    ctx, page = open_as(browser, demo, "enstaff", size)
    try:
        wait_board(page, demo)
        press = page.inner_text(f'.alert-row[data-id="{demo.press_alert}"]')
        assert "Call button pressed" in press and reg.address("hh-0002") in press and not CODE.search(press)
        silent = page.inner_text(f'.alert-row[data-id="{demo.silent_alert}"]')
        assert "cleared by the engine" in silent.lower()
        chrome = page.inner_text("header nav") + page.inner_text("main .bar")
        assert not CJK.search(chrome), chrome
        assert_fits(page, "the board")
        shot(page, f"en-board-{tag}")
        page.goto(f"{demo.url}/alerts/{demo.river_alert}")
        assert "River" in page.inner_text("h1")
        sentence = page.inner_text("#sentence")
        assert not CJK.search(sentence) and re.search(r"\d\.\d+ m", sentence), sentence
        timeline = page.inner_text("#timeline")
        assert "opened" in timeline and not CJK.search(timeline.replace("值班员周晓", "")), timeline
        contacts = page.inner_text("#contacts")
        assert "grid worker" in contacts and "grid_worker" not in contacts
        assert_inputs_readable(page)
        shot(page, f"en-alert-detail-{tag}")
        page.goto(f"{demo.url}/devices")
        page.wait_for_selector("#devices tbody tr", timeout=5000)
        assert "water meter" in page.inner_text("#devices")
        shot(page, f"en-devices-{tag}", full=False)
        page.goto(f"{demo.url}/stations/rg-0001")
        page.wait_for_selector("#chart .uplot canvas", timeout=5000)
        axis = page.evaluate("window.swChart.axes[0]._values")
        assert all(re.match(r"^\d{2}:\d{2}(\n\d{1,2} [A-Z][a-z]{2})?$", v) for v in axis), axis  # no "8am"
        assert "Warning level" in page.inner_text("#chart .u-legend")
        shot(page, f"en-river-{tag}")
    finally:
        ctx.close()


def test_family_page_on_a_phone_in_chinese(browser, demo: Demo) -> None:
    """What a resident's daughter sees on her phone: her parent's flat and name, the last water use, the open
    press in Chinese, the people to call (names, roles in Chinese, tap-to-call), no codes, nothing cut off."""
    reg = demo.reg
    ctx, page = open_as(browser, demo, "zhfamily", PHONE)
    try:
        assert page.url.endswith("/family")
        page.wait_for_selector("#household h1", timeout=5000)
        page.wait_for_selector(f'.alert-row[data-id="{demo.press_alert}"]', timeout=5000)
        household, alerts = page.inner_text("#household"), page.inner_text("#alerts")
        head = page.inner_text("#household h1")
        assert head.startswith(reg.address("hh-0002")) and reg.households["hh-0002"].resident in head, head
        for where, text in (("household", household), ("alerts", alerts), ("nav", page.inner_text("header"))):
            assert latin_words(text, ("English", "Shouwang")) == [], f"English on the family page's {where}: {text!r}"
            assert not CODE.search(text), f"a registry code on the family page's {where}: {text!r}"
        assert "一键呼叫" in alerts and "按下" in alerts
        import datetime as dt
        from zoneinfo import ZoneInfo

        used = dt.datetime.fromtimestamp(demo.water_used_at / 1000, ZoneInfo(demo.cfg.alerts.timezone))
        assert page.inner_text("#last-use") == f"{used:%Y-%m-%d %H:%M}（3 小时前）"
        assert page.inner_text("#resident-phone") == f"家中电话：{reg.households['hh-0002'].phone}"
        worker = next(c for c in reg.contacts[reg.ancestor("hh-0002", Level.GRID)] if c.role.value == "grid_worker")
        assert worker.name in household and "网格员" in household
        assert page.locator(f'#household a[href="tel:{worker.phone}"]').count() == 1
        assert page.locator(f'#household a[href="tel:{reg.households["hh-0002"].phone}"]').count() == 1
        assert_fits(page, "the family page")
        shot(page, "zh-family-phone")
    finally:
        ctx.close()


def test_times_read_in_the_sites_time_zone_whatever_the_browser_is_set_to(browser, demo: Demo) -> None:
    """A phone set to Los Angeles time (16 hours behind the site) shows the site's times: the card, the detail's
    start, the timeline's opening (the same minute: the press's own time), the notifications and the chart's axis."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    site = ZoneInfo(demo.cfg.alerts.timezone)

    def at_site(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, site).strftime("%Y-%m-%d %H:%M")

    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, timezone_id="America/Los_Angeles")
    page = ctx.new_page()
    try:
        page.goto(f"{demo.url}/login")
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/Los_Angeles"
        page.fill("input[name=username]", "zhstaff")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("load")
        wait_board(page, demo)
        for alert_id in (demo.press_alert, demo.silent_alert, demo.camera_alert):
            opened = demo.alert(alert_id)["alert"]["opened_at"]
            when = page.inner_text(f'.alert-row[data-id="{alert_id}"] .when').splitlines()[0]
            assert when == at_site(opened), (alert_id, when, at_site(opened))
        shot(page, "zh-board-phone-los-angeles", full=False)
        detail = demo.alert(demo.press_alert)
        opened = detail["alert"]["opened_at"]
        page.goto(f"{demo.url}/alerts/{demo.press_alert}")
        assert page.inner_text("#detail .facts [data-time]") == at_site(opened)
        timeline = {e.get_attribute("data-action"): e.inner_text() for e in
                    page.locator("#timeline li").element_handles()}
        assert timeline["opened"].startswith(at_site(opened)), timeline  # the card's time, not the store's
        first = detail["deliveries"][0]["at"]
        assert page.inner_text("#deliveries tbody td[data-time]") == at_site(first)
        page.goto(f"{demo.url}/stations/rg-0001")
        page.wait_for_selector("#chart .uplot canvas", timeout=5000)
        splits = page.evaluate("window.swChart.axes[0]._splits")
        values = page.evaluate("window.swChart.axes[0]._values")
        assert splits and len(splits) == len(values)
        for s_, v in zip(splits, values, strict=True):
            assert v.split("\n")[0] == at_site(int(s_ * 1000))[-5:], (v, at_site(int(s_ * 1000)))
            assert at_site(int(s_ * 1000)).endswith(":00"), "ticks on the site's whole hours"
        days = [v.split("\n")[1] for v in values if "\n" in v]
        assert days and all(re.fullmatch(r"\d{1,2}月\d{1,2}日", d) for d in days), values
        shot(page, "zh-river-phone-los-angeles")
    finally:
        ctx.close()


def test_favicon_is_served(demo: Demo) -> None:
    r = httpx.get(f"{demo.url}/favicon.ico", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert httpx.get(f"{demo.url}/static/favicon.svg", timeout=10).status_code == 200
