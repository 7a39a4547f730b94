"""Every rule's alert carries its facts (reason code and figures), a code-only summary, and reads as a sentence
in Chinese and English rendered from those facts (notify/texts.py), through the real engine and store."""

from __future__ import annotations

import re

import pytest

from alerts.lifecycle import AlertView
from alerts.types import AlertState, Rule, Severity
from notify.texts import alert_sentence, timeline_note
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.alerts.rig import MONDAY_8AM, Rig, local_ms
from wire.models import Channel

#: words of the sample registry that are personal data or place names: never in a summary
REGISTRY_WORDS = ("Room", "Building", "Street", "Community", "Grid", "Wang", "Chen", "Zhao", "Sun", "Li Lei",
                  "Embankment", "Qing River")
SUMMARY = re.compile(r"^[a-z_]+ [a-z0-9:_-]+( [a-z_]+=[A-Za-z0-9_.:-]+)*$")


def check(a: AlertView, zh: str, en: str, ids: tuple[str, ...] = ()) -> None:
    """The alert reads `zh` / `en`; the Chinese has no Latin letters but the ids given; the summary is codes only."""
    assert alert_sentence(a, "zh") == zh
    assert alert_sentence(a, "en") == en
    assert alert_sentence(a, "fr") == zh  # unknown languages fall back to Chinese
    stripped = zh
    for i in ids:
        stripped = stripped.replace(i, "")
    assert not re.search(r"[A-Za-z]", stripped), zh
    assert SUMMARY.match(a.summary), a.summary
    assert a.summary.startswith(f"{a.rule} {a.subject} reason=")
    assert not any(w in a.summary for w in REGISTRY_WORDS)


def cleared_note(rig: Rig, a: AlertView, language: str) -> str:
    [e] = [e for e in rig.store.events(a.id) if e["action"] == "auto_cleared"]
    return timeline_note(e, language)


class Meter:
    def __init__(self, rig: Rig, device: str = "wm-0001") -> None:
        self.rig, self.device, self.total = rig, device, 1000.0

    def use(self, litres: float = 5.0) -> list:
        self.total += litres
        return self.rig.send(self.device, {"total_l": self.total})


def test_water_inactivity_window_facts_and_sentence(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    m = Meter(rig)
    m.use()
    rig.advance(7 * 3600 + 60)
    [a] = [a for a in rig.alerts(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]
    f = a.details
    assert (f["reason"], f["window_h"], f["since"]) == ("window", 7, MONDAY_8AM)
    assert f["hours"] == pytest.approx((a.opened_at - MONDAY_8AM) / 3_600_000, abs=0.01)
    assert 7.0 < f["hours"] < 7.05
    check(a, "已 7 小时无用水（判定窗口 7 小时，不计睡眠时间）", "no water use for 7 h (window 7 h, sleep hours not counted)")
    m.use()
    assert rig.store.get(a.id).state is AlertState.RESOLVED
    assert cleared_note(rig, a, "zh") == "已恢复用水" and cleared_note(rig, a, "en") == "water used again"


def test_water_inactivity_cap_facts(sqlite_db: Database) -> None:
    csv = SAMPLE_CSV.replace("solitary_elderly,22:00-06:30,7", "solitary_elderly,08:00-07:59,7")
    rig = Rig(sqlite_db, csv=csv, inactivity_hard_cap_h=16)
    Meter(rig).use()
    rig.advance(16 * 3600 + 120, step_s=300)
    [a] = [a for a in rig.alerts(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]
    assert a.details["reason"] == "cap" and a.details["cap_h"] == 16 and 16 < a.details["hours"] < 16.2
    check(a, "已 16 小时无用水（超过上限 16 小时）", "no water use for 16 h (over the 16 h limit)")


def test_continuous_flow_facts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, flow_continuous_h=2)
    m = Meter(rig)
    m.use()
    for _ in range(120):
        rig.advance(60)
        m.use(4.0)
    [a] = rig.alerts(Rule.WATER_FLOW)
    f = a.details
    assert (f["reason"], f["device"], f["limit_h"], f["hours"], f["leak_flag"]) == ("continuous", "wm-0001", 2, 2.0,
                                                                                     False)
    check(a, "已持续流水 2 小时未中断（可能水龙头未关或漏水）",
          "water running without a break for 2 h (an open tap or a leak?)")
    rig.advance(60)
    m.use(0.0)
    assert cleared_note(rig, a, "zh") == "流水已停止"


def test_call_button_press_merge_and_unregistered(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    [ch] = rig.send("btn-0001", {"action": "press"})
    a = ch.alert
    assert {k: a.details[k] for k in ("reason", "action", "device", "gateway", "registered")} == {
        "reason": "press", "action": "press", "device": "btn-0001", "gateway": "gw-a", "registered": True}
    check(a, "按下一键呼叫", "call button pressed")
    assert a.summary == "call_button hh-0001 reason=press device=btn-0001 gateway=gw-a action=press registered=yes"
    rig.advance(30)
    [merged] = rig.send("btn-0001", {"action": "long_press"})
    check(merged.alert, "长按一键呼叫（共 2 次）", "call button held down (2 presses)")
    [lost] = rig.send("btn-9999", {"action": "press"})
    check(lost.alert, "按下一键呼叫，按钮 btn-9999 未登记位置",
          "call button pressed; button btn-9999 is not registered to a place", ids=("btn-9999",))


def level_at(rig: Rig, level: float) -> list:
    out = rig.send("rg-01", {"level_m": round(level, 4)})
    rig.advance(300, step_s=300)
    return out


def test_river_rise_then_level_facts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    for i in range(12):
        level_at(rig, 2.0 + 0.003 * (i % 2))
    level = 2.0
    for _ in range(100):  # 0.4 m/h from 2.0 m: the warning line (3.5 m) in under 4 h, 48 readings
        if rig.alerts(Rule.RIVER_LEVEL):
            break
        level += 0.4 * 300 / 3600
        level_at(rig, level)
    else:
        raise AssertionError(f"no river-level alert at {level:.2f} m")
    [rise] = rig.alerts(Rule.RIVER_RISE)
    f = rise.details
    assert (f["reason"], f["limit_m_per_h"], f["next_line"], f["next_line_m"]) == ("fast", 0.3, "warning", 3.5)
    assert (f["level_m"], f["rate_m_per_h"], f["forecast_min"]) == (2.267, 0.338, 218.8)
    assert (f["warning_m"], f["guaranteed_m"]) == (3.5, 4.5)
    check(rise, "水位 2.27 米，每小时上涨 0.34 米，预计约 3.6 小时后达到警戒线 3.50 米",
          "level 2.27 m, rising 0.34 m/h; about 3.6 h to the warning level (3.50 m)")
    [lvl] = rig.alerts(Rule.RIVER_LEVEL)
    f = lvl.details
    assert (f["reason"], f["line"], f["line_m"], f["stage"]) == ("above_warning", "warning", 3.5, 1)
    assert (f["level_m"], f["rate_m_per_h"]) == (3.5, 0.4) and lvl.severity is Severity.MAJOR
    check(lvl, "水位 3.50 米，达到警戒线 3.50 米，每小时上涨 0.40 米",
          "level 3.50 m, at the warning level (3.50 m), rising 0.40 m/h")
    # further up: the guaranteed level upgrades the same alert, and its sentence says so
    while lvl.severity is not Severity.CRITICAL:
        level += 0.4 * 300 / 3600
        level_at(rig, level)
        lvl = rig.store.get(lvl.id)
    f = lvl.details
    assert (f["reason"], f["line"], f["line_m"], f["stage"]) == ("above_guaranteed", "guaranteed", 4.5, 2)
    assert alert_sentence(lvl, "zh").startswith(f"水位 {f['level_m']:.2f} 米，")
    assert "保证水位 4.50 米" in alert_sentence(lvl, "zh") and "guaranteed level (4.50 m)" in alert_sentence(lvl, "en")


def test_stuck_gauge_facts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, river_stuck_min=25, river_stuck_samples=5)
    for _ in range(6):
        level_at(rig, 2.5)
    [a] = rig.alerts(Rule.RIVER_SENSOR)
    assert (a.details["reason"], a.details["level_m"], a.details["minutes"]) == ("stuck", 2.5, 25.0)
    check(a, "水位计读数 2.500 米已 25 分钟没有变化，疑似故障",
          "the gauge has read 2.500 m for 25 min without any change: probably faulty")
    level_at(rig, 2.51)
    assert cleared_note(rig, a, "zh") == "水位计读数恢复变化"


def test_camera_intrusion_confirmation_and_tamper_facts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, start=local_ms(2026, 11, 2, 22, 5), camera_cooldown_s=600, camera_confirm_s=120)
    [a] = rig.send("cam-01", {"type": "intrusion", "state": "start", "score": 0.9})
    f = a.alert.details
    assert (f["reason"], f["type"], f["camera"], f["zone"], f["score"]) == ("intrusion", "intrusion", "cam-01",
                                                                           "zn-emb", 0.9)
    assert "confirmed" not in f
    check(a.alert, "摄像头检测到入侵（可信度 90%）", "the camera detected an intrusion (confidence 90%)")
    rig.advance(30)
    [up] = rig.send("cam-02", {"type": "person", "state": "pulse", "zone": "zn-emb"})
    f = up.alert.details
    assert (f["confirmed"], f["cameras"], f["zones"], f["camera"]) == (True, 2, 1, "cam-02")
    check(up.alert, "摄像头检测到人员，已由 2 个摄像头、1 个区域同时确认",
          "the camera detected a person, confirmed by 2 cameras in 1 zone")
    [t] = rig.send("cam-02", {"type": "tamper", "state": "start"})
    assert (t.alert.details["reason"], t.alert.details["camera"]) == ("tamper", "cam-02")
    check(t.alert, "摄像头被遮挡、移动或损坏", "the camera is covered, turned away or damaged")
    rig.send("cam-02", {"type": "tamper", "state": "end"})
    assert cleared_note(rig, t.alert, "en") == "tampering ended"


def test_health_facts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, silent_factor=3, battery_low_v=2.5, battery_ok_v=2.7, gateway_offline_min=5)
    rig.send("btn-0001", {"heartbeat": True}, channel=Channel.STATUS)
    rig.state("gw-b", False)
    rig.advance(3 * 3600 + 60)
    [gw] = rig.alerts(Rule.GATEWAY_OFFLINE)
    assert (gw.details["reason"], gw.details["gateway"], gw.details["minutes"], gw.details["limit_min"]) == (
        "last_will", "gw-b", 5.0, 5)
    check(gw, "网关 gw-b 已离线 5 分钟", "gateway gw-b offline for 5 min", ids=("gw-b",))
    [silent] = [a for a in rig.alerts(Rule.DEVICE_SILENT) if a.subject == "btn-0001"]
    f = silent.details
    assert (f["reason"], f["device"], f["kind"], f["limit_min"]) == ("no_report", "btn-0001", "call_button", 180)
    assert 180 < f["minutes"] <= 181
    check(silent, "一键呼叫按钮已 3 小时无上报", "call button silent for 3 h")
    [ch] = [c for c in rig.send("btn-0001", {"battery_v": 2.4}, channel=Channel.STATUS)
            if c.alert.rule is Rule.BATTERY_LOW]
    f = ch.alert.details
    assert (f["reason"], f["battery_v"], f["threshold_v"], f["kind"]) == ("below_threshold", 2.4, 2.5, "call_button")
    check(ch.alert, "一键呼叫按钮电池电压低：2.40 伏（低于 2.50 伏）", "call button battery low: 2.40 V (below 2.50 V)")
    assert cleared_note(rig, silent, "zh") == "设备恢复上报"
    rig.send("btn-0001", {"battery_v": 2.9}, channel=Channel.STATUS)
    assert cleared_note(rig, ch.alert, "zh") == "电池电压已恢复"
