"""The one renderer of what people read about alerts (notify/texts.py): sentences from facts, the word tables,
timeline notes, states; and a Chinese notification's bytes as a local receiver gets them."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alerts.engine import Engine
from alerts.lifecycle import AlertView
from alerts.store import AlertStore
from alerts.types import AlertState, Outcome, Rule, Severity
from ground.clock import ManualClock
from notify.dispatch import ChannelNotifier
from notify.texts import (
    alert_sentence,
    digest_item,
    duration_text,
    feedback_text,
    render_digest,
    render_message,
    state_label,
    timeline_note,
    word,
    words,
)
from registry.model import ContactInfo
from registry.types import Role
from storage.sql import Database
from tests.alerts.rig import MONDAY_8AM
from tests.notify.fixtures import make_config
from tests.notify.receivers import HttpReceiver
from wire.models import Channel, Kind, Message

LATIN = re.compile(r"[A-Za-z]")
TZ = ZoneInfo("Asia/Shanghai")


def view(rule: Rule, details: dict[str, Any], *, subject: str = "hh-0002", severity: Severity = Severity.MAJOR,
         state: AlertState = AlertState.OPEN, outcome: Outcome | None = None, merged: int = 0,
         summary: str = "") -> AlertView:
    return AlertView(7, rule, subject, "e1", severity, state, outcome, subject, "gr-01", summary, MONDAY_8AM,
                     MONDAY_8AM, merged, 0, None, details=details)


@pytest.mark.parametrize("minutes, zh, en", [
    (0.4, "不到 1 分钟", "under a minute"), (40, "40 分钟", "40 min"), (119.4, "119 分钟", "119 min"),
    (120, "2 小时", "2 h"), (7.5 * 60, "7.5 小时", "7.5 h"), (37.4 * 60, "37 小时", "37 h"),
    (2251, "38 小时", "38 h"), (60 * 60, "2.5 天", "2.5 days"), (-5, "不到 1 分钟", "under a minute"),
])
def test_durations(minutes: float, zh: str, en: str) -> None:
    assert duration_text(minutes, "zh") == zh and duration_text(minutes, "en") == en


def test_the_issue_examples_read_in_chinese() -> None:
    cases = [
        (view(Rule.WATER_INACTIVITY, {"reason": "window", "hours": 37.43, "window_h": 7}),
         "已 37 小时无用水（判定窗口 7 小时，不计睡眠时间）"),
        (view(Rule.CALL_BUTTON, {"reason": "press", "action": "press", "device": "cb-0002", "registered": True},
              severity=Severity.CRITICAL), "按下一键呼叫"),
        (view(Rule.RIVER_LEVEL, {"reason": "above_warning", "line": "warning", "line_m": 3.2, "level_m": 3.421,
                                 "rate_m_per_h": 0.0}, subject="rs-01"), "水位 3.42 米，超过警戒线 3.20 米"),
        (view(Rule.DEVICE_SILENT, {"reason": "no_report", "kind": "water_meter", "minutes": 40.2},
              subject="wm-0134"), "水表已 40 分钟无上报"),
        (view(Rule.DEVICE_SILENT, {"reason": "no_report", "kind": "", "minutes": 2251}, subject="wm-0134"),
         "设备已 38 小时无上报"),
    ]
    for v, zh in cases:
        assert alert_sentence(v, "zh") == zh
        assert alert_sentence(v, "zh-CN") == zh  # any other language code: Chinese


def test_learned_flow_rise_and_camera_sentences_with_names() -> None:
    learned = view(Rule.WATER_INACTIVITY, {"reason": "learned", "hours": 4.21, "window_h": 7, "threshold_h": 2.5})
    assert alert_sentence(learned, "zh") == "已 4.2 小时无用水，超过这户平时的最长间隔（醒着的时间里通常不超过 2.5 小时）"
    assert alert_sentence(learned, "en") == ("no water use for 4.2 h, longer than this household's usual longest gap "
                                             "(at most 2.5 h of waking time)")
    leak = view(Rule.WATER_FLOW, {"reason": "leak_flag", "hours": 1.25, "leak_flag": True})
    assert alert_sentence(leak, "zh") == "水表报告漏水，已持续流水 75 分钟"
    rise = view(Rule.RIVER_RISE, {"reason": "forecast", "level_m": 3.9, "rate_m_per_h": 0.2, "forecast_min": 180,
                                  "next_line": "guaranteed", "next_line_m": 4.5}, subject="rs-01")
    assert alert_sentence(rise, "zh") == "水位 3.90 米，每小时上涨 0.20 米，预计约 3 小时后达到保证水位 4.50 米"
    # a zone confirmed by a trigger in another zone: that zone by the name the registry gives it, never its code
    other = view(Rule.CAMERA_INTRUSION, {"reason": "person", "type": "person", "camera": "cam-07",
                                         "zone": "zn-gate", "confirmed": True, "confirmed_by_zone": "zn-east"},
                 subject="zn-gate")
    names = {"zn-east": "东门", "zn-gate": "北门"}.get
    assert alert_sentence(other, "zh", names) == "摄像头检测到人员，相邻区域「东门」同时触发，已确认"
    assert alert_sentence(other, "en", lambda code: "East gate") == ("the camera detected a person, confirmed by a "
                                                                      "trigger in East gate")
    # a lookup that only echoes codes (RegistrySnapshot.address of an unknown code), or none: no code shown
    for n in (None, lambda code: code):
        assert alert_sentence(other, "zh", n) == "摄像头检测到人员，相邻区域同时触发，已确认"


OLD_DETAILS: dict[Rule, dict[str, Any]] = {  # as rules stored them before alerts carried facts
    Rule.WATER_INACTIVITY: {"since": MONDAY_8AM - 37 * 3_600_000, "hours": 37.4, "reason": "window"},
    Rule.WATER_FLOW: {"device": "wm-0001", "since": MONDAY_8AM - 150 * 60_000, "leak_flag": False},
    Rule.CALL_BUTTON: {"device": "cb-0002", "gateway": "gw-a", "action": "press"},
    Rule.RIVER_LEVEL: {"level_m": 3.42, "rate_m_per_h": 0.1, "forecast_min": None, "warning_m": 3.2,
                       "guaranteed_m": 4.0},
    Rule.RIVER_RISE: {"level_m": 2.9, "rate_m_per_h": 0.4, "forecast_min": 45.0, "warning_m": 3.2,
                      "guaranteed_m": 4.0},
    Rule.RIVER_SENSOR: {"level_m": 2.1},
    Rule.CAMERA_INTRUSION: {"camera": "cam-01", "type": "intrusion", "score": 0.8, "zone": "zn-emb"},
    Rule.CAMERA_TAMPER: {"camera": "cam-01"},
    Rule.GATEWAY_OFFLINE: {"since": MONDAY_8AM - 12 * 60_000},
    Rule.DEVICE_SILENT: {"last_seen": MONDAY_8AM - 2251 * 60_000, "kind": "water_meter"},
    Rule.BATTERY_LOW: {"battery_v": 2.41, "kind": "water_meter"},
}
OLD_ZH = {
    Rule.WATER_INACTIVITY: "已 37 小时无用水", Rule.WATER_FLOW: "已持续流水 2.5 小时未中断（可能水龙头未关或漏水）",
    Rule.CALL_BUTTON: "按下一键呼叫", Rule.RIVER_LEVEL: "水位 3.42 米，超过警戒线 3.20 米，每小时上涨 0.10 米",
    Rule.RIVER_RISE: "水位 2.90 米，每小时上涨 0.40 米，预计约 45 分钟后达到警戒线 3.20 米",
    Rule.RIVER_SENSOR: "水位计读数停在 2.100 米不变，疑似故障", Rule.CAMERA_INTRUSION: "摄像头检测到入侵（可信度 80%）",
    Rule.CAMERA_TAMPER: "摄像头被遮挡、移动或损坏", Rule.GATEWAY_OFFLINE: "网关 gw-b 已离线 12 分钟",
    Rule.DEVICE_SILENT: "水表已 38 小时无上报", Rule.BATTERY_LOW: "水表电池电压低：2.41 伏",
}


@pytest.mark.parametrize("rule", list(Rule))
def test_alerts_stored_before_facts_still_read_in_chinese(rule: Rule) -> None:
    english = "no water use at hh-0002 for 37.4 h (window rule, window 7 h)"
    subject = "gw-b" if rule is Rule.GATEWAY_OFFLINE else "hh-0002"
    old = view(rule, OLD_DETAILS[rule], subject=subject, summary=english)
    assert alert_sentence(old, "zh") == OLD_ZH[rule]
    assert english not in alert_sentence(old, "en")
    bare = view(rule, {}, subject=subject, summary=english)  # no details at all
    for v in (old, bare):
        zh = alert_sentence(v, "zh").replace("gw-b", "")
        assert zh and not LATIN.search(zh), zh
        assert alert_sentence(v, "en") and not re.search(r"[\u4e00-\u9fff]", alert_sentence(v, "en"))


def test_every_rule_and_group_has_both_languages_and_no_english_in_chinese() -> None:
    zh, en = words("zh"), words("en")
    assert zh.keys() == en.keys() >= {"rules", "severities", "states", "outcomes", "actions", "buttons", "actors",
                                      "channels", "statuses", "kinds", "roles", "levels", "events", "camera_types",
                                      "clear_reasons", "advice"}
    assert set(zh["rules"]) == {r.value for r in Rule} == set(zh["advice"])
    assert set(zh["roles"]) == {r.value for r in Role} and set(zh["states"]) == {s.value for s in AlertState}
    assert set(zh["outcomes"]) == {o.value for o in Outcome}
    assert set(zh["kinds"]) >= {k.value for k in Kind}
    assert set(zh["actions"]) >= {"opened", "notified", "acknowledged", "dispatched", "resolved", "auto_cleared",
                                  "closed", "escalated", "merged", "upgraded"}
    assert set(zh["statuses"]) >= {"queued", "sent", "partial", "failed", "held", "digested", "no_channel",
                                   "refused", "recorded", "handed_off", "quiet"}
    assert set(zh["channels"]) >= {"rules", "escalation", "notifier", "device", "console", "ack_link", "link", "cli"}
    for group, table in zh.items():
        for code, w in table.items():
            if group == "channels" and code == "api":
                continue
            assert w.strip("【】") == "" and group == "events" or not LATIN.search(w), (group, code, w)
        assert set(en[group]) == set(table)
    assert word("actors", "staff-li", "zh") == "staff-li"  # a person's name stays theirs
    assert word("roles", "grid_worker", "zh") == "网格员" and word("roles", "grid_worker", "en") == "grid worker"


def test_action_and_state_words_are_distinct_and_auto_clear_is_not_handled() -> None:
    zh = words("zh")
    assert zh["buttons"]["resolve"] == "标记已处置" and zh["states"]["resolved"] == "已处置"
    assert zh["buttons"]["resolve"] != zh["states"]["resolved"]
    handled = view(Rule.CALL_BUTTON, {}, state=AlertState.RESOLVED, outcome=Outcome.HANDLED)
    cleared = replace(handled, outcome=Outcome.AUTO_CLEARED)
    false = replace(handled, state=AlertState.CLOSED, outcome=Outcome.FALSE_ALARM)
    assert [state_label(v, "zh") for v in (handled, cleared, false)] == ["已处置", "已自动解除", "已关闭（误报）"]
    assert [state_label(v, "en") for v in (handled, cleared, false)] == ["resolved", "cleared by the engine",
                                                                        "closed (false alarm)"]
    assert zh["actions"]["auto_cleared"] == "已自动解除" != zh["actions"]["resolved"]


def test_timeline_notes() -> None:
    def ev(action: str, note: str, actor: str = "engine") -> dict[str, Any]:
        return {"action": action, "actor": actor, "channel": "rules", "note": note}

    assert timeline_note(ev("escalated", "step 1: community_duty"), "zh") == "第 1 级：通知社区值班"
    assert timeline_note(ev("escalated", "step 2: street_duty, community_duty"), "en") == \
        "step 2: street duty, community duty"
    note = "3 contacts (family, grid_worker): handed_off 2, quiet 1"
    assert timeline_note(ev("notified", note), "zh") == "3 位联系人（家属、网格员）：已交给通知服务 2，免打扰时段（静默送达） 1"
    assert timeline_note(ev("notified", "2 contacts: family, grid_worker"), "zh") == "2 位联系人"
    assert timeline_note(ev("auto_cleared", "water_used"), "zh") == "已恢复用水"
    assert timeline_note(ev("upgraded", "severity major -> critical"), "zh") == "重要 → 紧急"
    assert timeline_note(ev("opened", "call_button hh-0001 reason=press"), "zh") == ""
    assert timeline_note(ev("closed", "cancelled by the resident 42 s after the press", "resident"), "zh") == \
        "住户在按下 42 秒后取消"
    # an engine note not understood: left out in Chinese, never shown in English to a Chinese reader
    assert timeline_note(ev("auto_cleared", "something new"), "zh") == ""
    assert timeline_note(ev("resolved", "老人已送医", "staff-li"), "en") == "老人已送医"  # a person's own words
    # a dispatch without a note: the store notes "to <code>"; said in words, with the person's name if known
    assert timeline_note(ev("dispatched", "to worker-02", "staff-li"), "zh") == "派给 worker-02"
    assert timeline_note(ev("dispatched", "to worker-02", "staff-li"), "zh", {"worker-02": "李强"}.get) == "派给 李强"
    closed = view(Rule.CALL_BUTTON, {}, state=AlertState.CLOSED, outcome=Outcome.FALSE_ALARM)
    assert feedback_text(replace(closed, feedback="cancelled by the resident 42 s after the press"), "zh") == \
        "住户在按下 42 秒后取消"
    assert feedback_text(replace(closed, feedback="误按"), "en") == "误按"


def test_english_counts_agree_with_their_number() -> None:
    def notified(note: str, language: str = "en") -> str:
        return timeline_note({"action": "notified", "actor": "engine", "channel": "notifier", "note": note}, language)

    assert notified("1 contacts (grid_worker): handed_off 1") == "1 contact (grid worker): handed off 1"
    assert notified("2 contacts (family, grid_worker): sent 2") == "2 contacts (family, grid worker): sent 2"
    assert notified("1 contacts (grid_worker): handed_off 1", "zh") == "1 位联系人（网格员）：已交给通知服务 1"
    assert notified("1 contact: sent 1") == "1 contact: sent 1"  # the singular note is understood too
    cam = view(Rule.CAMERA_INTRUSION, {"reason": "intrusion", "type": "intrusion", "cameras": 2, "zones": 1})
    assert alert_sentence(cam, "en").endswith("confirmed by 2 cameras in 1 zone")
    title, _ = render_digest([digest_item(view(Rule.CALL_BUTTON, {"reason": "press"}), "en", TZ)], 0, "en")
    assert title == "[digest] 1 alert during quiet hours"


def test_failed_attempts_read_in_the_readers_words() -> None:
    """Real sends through the channel library to a closed port, to a local server answering 400/403/404/500 and to a
    URL no plugin takes: the stored English error becomes a code and Chinese or English words."""
    import http.server
    import threading

    from notify.channels import ChannelSender
    from notify.texts import ATTEMPT_ERRORS, attempt_error, attempt_error_text
    from shouwang.procs import free_port

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(int(self.path.strip("/")))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    port = server.server_address[1]
    sender = ChannelSender(timeout_s=3)
    try:
        cases = {f"json://127.0.0.1:{free_port()}/x": ("unreachable", {}),
                 f"json://127.0.0.1:{port}/403": ("not_authorized", {"status": 403}),
                 f"json://127.0.0.1:{port}/404": ("not_found", {"status": 404}),
                 f"json://127.0.0.1:{port}/500": ("service_error", {"status": 500}),
                 f"json://127.0.0.1:{port}/400": ("rejected", {"status": 400}),
                 "nosuchscheme://x": ("bad_address", {})}
        for url, expected in cases.items():
            result = sender.send(url, "标题", "正文")
            assert not result.ok and result.error, url
            assert attempt_error(result.error) == expected, (url, result.error)
            zh, en = attempt_error_text(result.error, "zh"), attempt_error_text(result.error, "en")
            assert zh and not LATIN.search(zh) and en and not re.search(r"[\u4e00-\u9fff]", en), (zh, en)
    finally:
        server.shutdown()
        server.server_close()
    assert attempt_error_text(f"json://127.0.0.1:{port}/403: error=403.", "zh") == "接收服务拒绝：密钥或令牌有误（状态码 403）"
    assert attempt_error("contact no longer in the registry")[0] == "no_contact"
    assert attempt_error("RuntimeError: plugin bug") == ("sender_failed", {}) and attempt_error("") == ("failed", {})
    assert attempt_error("something nobody foresaw") == ("failed", {})
    for zh, en in ATTEMPT_ERRORS.values():
        assert not LATIN.search(zh.replace("{status}", "")) and en


def contact(language: str, role: Role = Role.GRID_WORKER, code: str = "c-1", name: str = "王芳") -> ContactInfo:
    return ContactInfo(code, "gr-01", role, name, ("json://x",), language, None)


def test_message_and_digest_render_the_sentence_and_the_place_name() -> None:
    a = view(Rule.WATER_INACTIVITY, {"reason": "window", "hours": 37.43, "window_h": 7}, summary="code only")
    path = "前进街道 / 滨河社区 / 第一网格 / 3号楼 / 2单元 501"
    fam = contact("zh", Role.FAMILY, "c-2", "陈杰")
    title, body = render_message(a, "opened", contact("zh"), address=path, contacts=(fam,), now=MONDAY_8AM + 60_000,
                                 tz=TZ, names={"hh-0002": "3号楼 2单元 501"}.get)
    assert title == "[重要] 用水异常：长时间无用水 — 3号楼 2单元 501"
    assert body.splitlines()[1:5] == ["情况：已 37 小时无用水（判定窗口 7 小时，不计睡眠时间）", f"住户/地点：{path}",
                                      "开始时间：2026-11-02 08:00（1 分钟前）", "请处理：请立即电话联系住户；联系不上请上门查看。"]
    assert "陈杰（家属）" in body and "hh-0002" not in title + body and "code only" not in body
    # without a names lookup: the last part of the path; English reader
    title, body = render_message(a, "escalated", contact("en"), address=path, contacts=(), now=MONDAY_8AM, tz=TZ)
    assert title == "[escalated] [MAJOR] No water use for too long — 2单元 501"
    assert "What: no water use for 37 h (window 7 h, sleep hours not counted)" in body
    # cleared by the engine: says so, not "resolved"
    done = replace(a, state=AlertState.RESOLVED, outcome=Outcome.AUTO_CLEARED)
    title, body = render_message(done, "auto_cleared", contact("zh"), address=path, contacts=(), now=MONDAY_8AM, tz=TZ)
    assert title.startswith("【已自动解除】") and "当前状态：已自动解除" in body
    item = digest_item(a, "zh", TZ, path)
    _, digest = render_digest([item], 0, "zh")
    assert "— 2单元 501：已 37 小时无用水（判定窗口 7 小时，不计睡眠时间） — 当前：待处理" in digest


def test_a_chinese_notification_arrives_as_chinese_bytes(notify_db: Database, tmp_path: Path,
                                                         http_receiver: HttpReceiver) -> None:
    """Water inactivity through the real engine and notifier to a local HTTP receiver: the grid worker (zh,
    json://) gets the sentence from the facts, the same characters on the wire, with the place's name and no English.
    The check-in step is off: the grid worker is told when the alert opens (tests/alerts/test_checkin.py has the step)."""
    cfg = make_config(tmp_path / "state", http_receiver.port, alerts={"checkin": {"enabled": False}})
    clock = ManualClock(MONDAY_8AM)
    notifier = ChannelNotifier(notify_db, cfg, clock)
    try:
        engine = Engine(cfg.alerts, notify_db, clock, notifier=notifier)
        notifier.bind_registry(engine.registry)
        engine.handle(Message("gw-a", "wm-0001", Channel.READING, Kind.WATER_METER, clock.now_ms(), 1,
                              {"total_l": 100.0}))
        for _ in range(7 * 60 + 2):
            clock.advance(60)
            engine.tick()
        [alert] = [a for a in AlertStore(notify_db).active(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]
        [req] = http_receiver.wait(lambda rs: [r for r in rs if r.path == "/hook/c-gw1" and (
            "用水".encode() in r.body or b"\\u7528\\u6c34" in r.body)])
        assert req.headers["content-type"].startswith("application/json")
        raw = req.body
        payload = json.loads(raw.decode("utf-8"))
        sentence = "已 7 小时无用水（判定窗口 7 小时，不计睡眠时间）"
        assert alert_sentence(alert, "zh") == sentence
        # on the wire: JSON with \\u escapes (json://) of exactly these characters, nothing lost or mangled
        assert json.dumps(sentence).strip('"').encode("ascii") in raw
        msg = payload["message"]
        assert f"情况：{sentence}" in msg
        assert payload["title"] == "[重要] 用水异常：长时间无用水 — Building 3 Room 301"  # RegistrySnapshot.address
        # the sample registry's names are English; everything else a Chinese reader gets is Chinese
        rest = re.sub(r"http://console\.test/(ack/\S+|alerts/\d+)", "", msg)
        for allowed in ("Qianjin Street / Riverside Community / Grid 1 / Building 3 / Room 301", "Chen Jie",
                        "Building 3 Room 301"):
            rest = rest.replace(allowed, "")
        assert not LATIN.search(rest), rest
        assert "no water use" not in msg and "hh-0001" not in msg
    finally:
        notifier.close()
