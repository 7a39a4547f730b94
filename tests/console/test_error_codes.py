"""Every error the API answers keeps its English `detail` and carries a `code` (and `params`) from which the console
says what happened in the reader's language: a refused transition names the state the alert is in now (cleared by
the engine is not "handled"), and no Chinese reader gets the English detail."""

from __future__ import annotations

import re

from alerts.store import AlertStore
from alerts.types import Rule
from console.errors import ERRORS, error_text
from console.i18n import js_strings
from tests.alerts.rig import MONDAY_8AM
from tests.console.conftest import Site

LATIN = re.compile(r"[A-Za-z]{2,}")


def answer(r) -> tuple[int, str, dict, str]:  # noqa: ANN001
    body = r.json()
    assert isinstance(body["detail"], str) and body["detail"], body  # the English detail stays for scripts
    return r.status_code, body["code"], body["params"], body["detail"]


def zh(code: str, params: dict) -> str:
    text = error_text(code, params, "zh")
    assert text and not LATIN.search(text), text
    return text


def test_refused_transitions_say_where_the_alert_is_now(sqlite_site: Site) -> None:
    c, gw1 = sqlite_site.client, sqlite_site.as_("gw1")
    aid = sqlite_site.ids["press1"]
    assert c.post(f"/api/alerts/{aid}/resolve", json={"note": ""}, headers=gw1).status_code == 200
    status, code, params, detail = answer(c.post(f"/api/alerts/{aid}/acknowledge", json={}, headers=gw1))
    assert (status, code) == (409, "transition_not_allowed") and detail.startswith(f"alert {aid} is resolved")
    assert params == {"id": aid, "state": "resolved", "outcome": "handled", "done": "acknowledge"}
    assert zh(code, params) == f"告警 #{aid} 当前为「已处置」，不能再确认。请刷新页面查看最新情况。"
    assert error_text(code, params, "en") == f"Alert #{aid} is resolved now; it can no longer be acknowledged. " \
                                             "Reload to see where it is."
    # the engine cleared the river alert while the page was open: "已自动解除", not "已处置"
    river = sqlite_site.ids["river"]
    assert AlertStore(sqlite_site.db).clear(Rule.RIVER_LEVEL, "rs-01", "level_below", MONDAY_8AM + 60_000)
    status, code, params, _ = answer(c.post(f"/api/alerts/{river}/acknowledge", json={}, headers=gw1))
    assert status == 409 and params["outcome"] == "auto_cleared"
    assert "「已自动解除」" in zh(code, params) and "cleared by the engine" in error_text(code, params, "en")


def test_other_refusals_have_codes_and_words(sqlite_site: Site) -> None:
    c = sqlite_site.client
    staff, tech, admin = sqlite_site.as_("staff"), sqlite_site.as_("tech"), sqlite_site.as_("admin")
    aid = sqlite_site.ids["battery3"]
    seen = {}
    seen["alert_not_found"] = answer(c.get("/api/alerts/999999", headers=staff))
    assert seen["alert_not_found"][:3] == (404, "alert_not_found", {"id": 999999})
    seen["role_may_not"] = answer(c.post(f"/api/alerts/{aid}/dispatch", json={"to": "c-gw2"}, headers=tech))
    assert seen["role_may_not"][:3] == (403, "role_may_not", {"role": "technician", "action": "dispatch"})
    assert zh("role_may_not", seen["role_may_not"][2]) == "您的账户（技术员）不能执行此操作：派人处理。"
    seen["unknown_person"] = answer(c.post(f"/api/alerts/{aid}/dispatch", json={"to": "nobody"}, headers=staff))
    seen["feedback_required"] = answer(c.post(f"/api/alerts/{aid}/close", json={"feedback": " "}, headers=staff))
    seen["invalid"] = answer(c.post(f"/api/alerts/{aid}/close", json={"feedback": "ok", "rating": "x"}, headers=staff))
    seen["forbidden"] = answer(c.get("/api/users", headers=staff))  # raised without a code: its status's
    seen["too_large"] = answer(c.post(f"/api/alerts/{aid}/acknowledge", content=b'{"note": "' + b"x" * 70_000 + b'"}',
                                      headers={**staff, "Content-Type": "application/json"}))
    for code, (status, got, params, _) in seen.items():
        assert got == code, (code, status, got)
        zh(code, params)
    assert seen["too_large"][0] == 413 and zh("too_large", seen["too_large"][2]) == "提交的内容过大（此处最多 65536 字节）。"
    for _ in range(5):
        assert c.post("/api/login", json={"username": "admin", "password": "wrong"}).status_code == 401
    status, code, params, _ = answer(c.post("/api/login", json={"username": "admin", "password": "wrong"}))
    assert (status, code) == (429, "too_many_logins") and params["wait"] > 0
    assert re.fullmatch(r"登录失败次数过多，请 \d+ 秒后再试。", zh(code, params))
    assert admin  # logged in before the lock-out


def test_the_page_script_has_the_same_words() -> None:
    for lang, i in (("zh", 0), ("en", 1)):
        strings = js_strings(lang)
        assert strings["errors"] == {k: v[i] for k, v in ERRORS.items()}
        assert set(strings["done_words"]) == {"acknowledge", "dispatch", "resolve", "close"}
    for code, (zh_text, en_text) in ERRORS.items():
        assert not LATIN.search(re.sub(r"\{\w+\}", "", zh_text)), code
        assert not re.search(r"[\u4e00-\u9fff]", en_text), code
