"""The console in headless Chromium (Debian's, through Playwright) against the live stack.

Screenshots are kept under test-artifacts/console/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
import time

import httpx

from tests.console.conftest import PHONE, LiveStack, login, shot


def api_alert(live: LiveStack, alert_id: int) -> dict:
    r = httpx.get(f"{live.url}/api/alerts/{alert_id}", headers={"Authorization": f"Bearer {live.token('admin')}"},
                  timeout=10)
    return r.json()["alert"]


def test_board_shows_a_press_within_2s_with_a_cue_and_acknowledges(browser, live: LiveStack) -> None:  # noqa: ANN001
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    try:
        login(page, live.url, "staff")
        assert page.url.rstrip("/") == live.url
        page.wait_for_selector("#live:not(.down)")
        page.wait_for_function("window.swStream && window.swStream.readyState === 1")
        t0 = time.monotonic()
        live.press("btn-0002")
        row = page.wait_for_selector('.alert-row.st-open:has-text("Room 302")', timeout=2000)
        elapsed = time.monotonic() - t0
        assert elapsed < 2.0, elapsed
        assert page.is_visible("#cue") and page.evaluate("window.swCues") >= 1
        assert "一键呼叫" in row.inner_text() and "紧急" in row.inner_text()
        shot(page, "board-critical-press")
        alert_id = int(row.get_attribute("data-id"))
        page.click(f'.alert-row[data-id="{alert_id}"] button.ack')
        page.wait_for_selector(f'.alert-row.st-acknowledged[data-id="{alert_id}"]', timeout=3000)
        shot(page, "board-acknowledged")
        a = api_alert(live, alert_id)
        assert a["state"] == "acknowledged" and a["acknowledged_by"] == "staff"
        # the detail page: location, contacts, timeline; resolve with one click
        page.goto(f"{live.url}/alerts/{alert_id}")
        assert "Building 3 Room 302" in page.inner_text("#place")
        assert "Liu Yang" in page.inner_text("body") and "已确认" in page.inner_text("#timeline")
        page.click('button[data-act="resolve"]')
        page.wait_for_selector('#state[data-state-code="resolved"]', timeout=5000)
        shot(page, "alert-detail-resolved")
        assert api_alert(live, alert_id)["state"] == "resolved"
    finally:
        ctx.close()


def test_family_member_acknowledges_from_the_link_on_a_phone(browser, live: LiveStack) -> None:  # noqa: ANN001
    live.press("btn-0001")
    msg = live.http.wait(lambda rs: [r for r in rs if r.path == "/" and r.json().get("topic") == "fam1"
                                     and "Room 301" in r.json().get("title", "")], timeout=10)[-1].json()
    link = re.search(re.escape(live.url) + r"/ack/[A-Za-z0-9_.-]+", msg["message"]).group(0)
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto(link)
        assert "我来处理" in page.inner_text("#ack-button") and "Room 301" in page.inner_text("body")
        shot(page, "ack-link-confirm-phone")
        page.click("#ack-button")
        page.wait_for_selector("#ack-result")
        assert "已确认" in page.inner_text("#ack-result")
        shot(page, "ack-link-done-phone")
        alert_id = int(re.search(r"#(\d+)", page.inner_text("h1")).group(1))
        a = api_alert(live, alert_id)
        assert a["state"] == "acknowledged" and a["acknowledged_by"] == "c-fam1"
        page.goto(link)  # the same link again: used
        page.click("#ack-button")
        assert "已使用" in page.inner_text("#ack-result")
    finally:
        ctx.close()


def test_phone_views_in_english_family_view_and_river_chart(browser, live: LiveStack) -> None:  # noqa: ANN001
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        login(page, live.url, "gw2")  # an English-speaking grid worker of grid 2
        page.wait_for_selector("#live:not(.down)")
        assert "Active alerts" in page.inner_text("h1")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"the board is {width}px wide on a {PHONE['width']}px phone"
        shot(page, "board-phone-en")
        gauge, now = live.device("rg-01"), int(time.time() * 1000)
        live.services.influx.ensure_database()
        live.services.influx.write("\n".join(  # a day of levels rising through the warning line
            f"river_gauge,device={gauge},gateway=gw-b level_m={2.8 + 0.9 * i / 95:.3f},seq={i}i "
            f"{(now - (95 - i) * 900_000) * 10**6}" for i in range(96)).encode(), precision="ns")
        page.goto(f"{live.url}/stations/rs-01")
        page.wait_for_selector("#chart .uplot canvas", timeout=5000)
        assert "Warning level" in page.inner_text("#chart-card")
        assert page.evaluate("window.swChart.data[1].length") == 96
        assert page.evaluate("window.swChart.data[2][0]") == 3.5 and page.evaluate("window.swChart.data[3][0]") == 4.5
        shot(page, "river-station-phone-en")
        page.goto(f"{live.url}/devices")
        page.wait_for_selector("#devices tbody tr", timeout=5000)
        shot(page, "devices-phone-en")
        page.click("#logout")
        page.wait_for_url(re.compile(r".*/login.*"))
        login(page, live.url, "fam1")
        page.wait_for_url(re.compile(r".*/family$"))
        page.wait_for_selector("#last-use")
        assert "Building 3 Room 301" in page.inner_text("#household") and "Room 302" not in page.inner_text("body")
        shot(page, "family-view-phone")
        page.goto(f"{live.url}/?lang=en")  # a family member asking for the board lands on their family view
        assert page.url.endswith("/family")
    finally:
        ctx.close()
