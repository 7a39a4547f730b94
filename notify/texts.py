"""What people read about alerts, in Chinese (the default) and English: one renderer from an alert's facts
to the sentence a person reads, the words for everything else shown about alerts (the console, the CLI and
the notifications all use these), and the notification texts.

Public API (others import these names; keep them):

    alert_sentence(view, language, names=None) -> str
        The key sentence of an alert ("已 37 小时无用水（判定窗口 7 小时）", "按下一键呼叫",
        "水位 3.42 米，超过警戒线 3.20 米", "水表已 40 分钟无上报"), rendered from view.rule and
        view.details (the facts, FACTS below). `names` maps a registry code to the name people use
        (RegistrySnapshot.address) for places the sentence mentions. An alert stored
        before alerts carried facts gets a plainer sentence from its rule; the stored English summary
        is never shown.
    state_label(view, language) -> str
        The alert's state as a person reads it, with how it ended: "已处置" (a person handled it)
        vs "已自动解除" (the engine cleared it) vs "误报".
    words(language) -> dict[str, dict[str, str]]
        Every word group as {code: word}, for pages and scripts:
          rules        rule titles                        ("call_button" -> "一键呼叫")
          severities   severity words                     ("critical" -> "紧急")
          states       alert states                       ("resolved" -> "已处置")
          outcomes     how an alert ended                 ("auto_cleared" -> "已自动解除")
          actions      timeline actions (what happened)   ("acknowledged" -> "已确认", "auto_cleared" -> "已自动解除")
          buttons      what a person can do (verbs)       ("resolve" -> "标记已处置", distinct from the state)
          actors       who, when not a person's name      ("engine" -> "系统", "resident" -> "住户")
          channels     through what                       ("console" -> "值守台", "ack_link" -> "消息中的确认链接")
          statuses     delivery statuses                  ("recorded" -> "已记录（未发送）", "quiet" -> ...)
          kinds        device kinds                       ("water_meter" -> "水表")
          roles        contact roles                      ("grid_worker" -> "网格员")
          levels       registry node levels               ("building" -> "楼栋")
          events       notification event prefixes        ("escalated" -> "【升级】")
          camera_types camera trigger types               ("intrusion" -> "入侵")
          clear_reasons why the engine cleared an alert   ("water_used" -> "已恢复用水")
          advice       what to do, per rule
    word(group, code, language) -> str
        One word of a group; an unknown code comes back unchanged (a person's name as actor, say).
    timeline_note(event, language, names=None) -> str
        The note of one timeline entry (AlertStore.events row): the engine's own notes (clear reasons,
        escalation steps, notification counts, severity changes, a resident's cancel, the default note
        of a dispatch) in words; a person's note unchanged; an engine note not understood is left out
        rather than shown in English to a Chinese reader.
    feedback_text(view, language) -> str
        An alert's closing feedback: a person's words unchanged, the engine's note of a resident's cancel in words.
    attempt_error(error) -> (code, params) / attempt_error_text(error, language) -> str
        A failed delivery attempt's stored error (a channel library's English log line) as a code
        (ATTEMPT_ERRORS: unreachable, not_authorized, not_found, service_error, rejected, bad_address,
        no_contact, sender_failed, failed) and in the reader's words ("连接不上接收服务").
    place_name(view, address, language, names=None) -> str
        The place as people call it (names(view.place), else the last part of the registry path).
    duration_text(minutes, language) -> str     "40 分钟", "37 小时", "2.5 天"
    render_message / digest_item / render_digest  the notification texts (Jinja2 templates in templates/,
        message.zh.txt, message.en.txt, digest.*.txt, so a site can read and adjust the wording in one place).

The tuple tables (RULE_TITLES, SEVERITY_WORDS, STATE_WORDS, ROLE_WORDS, ... as (zh, en)) stay importable.

FACTS: the keys each rule puts in an alert's details (alerts/rules/; every alert has `reason`):
    water_inactivity  reason window|learned|cap, hours, window_h, since (ms), threshold_h (learned), cap_h (cap)
    water_flow        reason continuous|leak_flag, hours, limit_h, device, since, leak_flag
    call_button       reason press|long_press, action, device, gateway, registered
    river_level       reason above_warning|above_guaranteed, line warning|guaranteed, line_m, stage, level_m,
                      rate_m_per_h, forecast_min, warning_m, guaranteed_m
    river_rise        reason fast|forecast, level_m, rate_m_per_h, limit_m_per_h, forecast_min, next_line,
                      next_line_m, warning_m, guaranteed_m
    river_sensor      reason stuck, level_m, minutes, since, samples
    camera_intrusion  reason <type>, type, camera, zone, score, confirmed, cameras, zones, confirmed_by_zone
    camera_tamper     reason tamper, camera, zone
    gateway_offline   reason last_will, gateway, minutes, limit_min, since
    device_silent     reason no_report, device, kind, minutes, limit_min, last_seen
    battery_low       reason below_threshold, device, kind, battery_v, threshold_v
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from alerts.lifecycle import AlertView
from alerts.types import AlertState, CheckIn, Outcome, Rule, Severity
from registry.model import ContactInfo
from registry.types import Level, Role

LANGUAGES = ("zh", "en")
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                          autoescape=False, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)

Names = Callable[[str], str | None]

RULE_TITLES = {
    Rule.WATER_INACTIVITY: ("用水异常：长时间无用水", "No water use for too long"),
    Rule.WATER_FLOW: ("用水异常：持续流水", "Water running continuously"),
    Rule.CALL_BUTTON: ("一键呼叫", "Call button pressed"),
    Rule.RIVER_LEVEL: ("河道水位超线", "River level above a threshold"),
    Rule.RIVER_RISE: ("河道水位快速上涨", "River rising fast"),
    Rule.RIVER_SENSOR: ("水位计故障", "River gauge fault"),
    Rule.CAMERA_INTRUSION: ("视频告警：入侵", "Camera: intrusion"),
    Rule.CAMERA_TAMPER: ("摄像头被遮挡/破坏", "Camera tampered"),
    Rule.GATEWAY_OFFLINE: ("网关离线", "Gateway offline"),
    Rule.DEVICE_SILENT: ("设备无上报", "Device silent"),
    Rule.BATTERY_LOW: ("设备电量低", "Battery low"),
}
SEVERITY_WORDS = {Severity.CRITICAL: ("紧急", "CRITICAL"), Severity.MAJOR: ("重要", "MAJOR"),
                  Severity.WARNING: ("预警", "WARNING"), Severity.MAINTENANCE: ("维护", "MAINTENANCE")}
#: prefixes of notification titles per event
EVENT_WORDS = {"opened": ("", ""), "escalated": ("【升级】", "[escalated] "), "upgraded": ("【加重】", "[upgraded] "),
               "auto_cleared": ("【已自动解除】", "[cleared by the engine] "),
               "false_alarm": ("【误报已取消】", "[cancelled] "),
               # the check-in step (alerts/checkin.py)
               "checkin": ("【请确认平安】", "[please check on them] "),
               "checkin_no_answer": ("【家属未回复】", "[no answer to the check-in] "),
               "checkin_unreachable": ("【家属联系不上】", "[the family cannot reach them] "),
               "checkin_ok": ("【已报平安】", "[checked in: fine] ")}

ADVICE = {
    Rule.WATER_INACTIVITY: ("请立即电话联系住户；联系不上请上门查看。", "Phone the resident now; if nobody answers, visit."),
    Rule.WATER_FLOW: ("请联系住户检查是否水龙头未关或漏水。", "Ask the resident to check for an open tap or a leak."),
    Rule.CALL_BUTTON: ("请立即回电或上门，必要时拨打 120。", "Call back or go there at once; call 120 if needed."),
    Rule.RIVER_LEVEL: ("请巡查河岸，按防汛预案通知低洼住户转移。",
                       "Patrol the bank; move low-lying households as the flood plan says."),
    Rule.RIVER_RISE: ("请加密观测水位，做好转移准备。", "Watch the level closely and prepare to evacuate."),
    Rule.RIVER_SENSOR: ("请安排技术人员检查水位计。", "Send a technician to check the river gauge."),
    Rule.CAMERA_INTRUSION: ("请查看视频并派人到场。", "Check the video and send someone."),
    Rule.CAMERA_TAMPER: ("请检查摄像头是否被遮挡或损坏。", "Check whether the camera is covered or damaged."),
    Rule.GATEWAY_OFFLINE: ("请检查网关电源和网络。", "Check the gateway's power and network."),
    Rule.DEVICE_SILENT: ("请检查设备是否在线。", "Check that the device is working."),
    Rule.BATTERY_LOW: ("请安排更换电池。", "Arrange a battery replacement."),
}
STATE_WORDS = {
    AlertState.OPEN: ("待处理", "open"), AlertState.ACKNOWLEDGED: ("已有人处理", "acknowledged"),
    AlertState.DISPATCHED: ("已派人", "dispatched"), AlertState.RESOLVED: ("已处置", "resolved"),
    AlertState.CLOSED: ("已关闭", "closed"),
}
OUTCOME_WORDS = {Outcome.HANDLED: ("已处置", "handled by a person"),
                 Outcome.AUTO_CLEARED: ("已自动解除", "cleared by the engine"),
                 Outcome.FALSE_ALARM: ("误报", "false alarm"),
                 Outcome.NO_EMERGENCY: ("确认平安", "no emergency (checked in)")}
#: where an alert's check-in step stands (AlertView.checkin), as the board shows it
CHECKIN_WORDS = {
    CheckIn.ASKING: ("正在询问家属，暂未推送网格员", "asking the family; staff not pushed yet"),
    CheckIn.OK_FAMILY: ("家属确认平安", "the family says they are fine"),
    CheckIn.OK_RESIDENT: ("住户按键报平安", "the resident answered with the call button"),
    CheckIn.WATER_USED: ("询问期间已恢复用水", "water used again while asking"),
    CheckIn.UNREACHABLE: ("家属联系不上，已推送网格员", "the family cannot reach them; staff pushed"),
    CheckIn.NO_ANSWER: ("家属未回复，已推送网格员", "no answer to the check-in; staff pushed"),
    CheckIn.NIGHT: ("夜间：已询问家属并同时推送网格员", "night: family asked and staff pushed at once"),
    CheckIn.NO_FAMILY: ("无家属可询问，已推送网格员", "no family to ask; staff pushed"),
}
ROLE_WORDS = {Role.FAMILY: ("家属", "family"), Role.GRID_WORKER: ("网格员", "grid worker"),
              Role.COMMUNITY_DUTY: ("社区值班", "community duty"), Role.STREET_DUTY: ("街道值班", "street duty")}
#: timeline actions (AlertStore.events "action"; AlertChange.action): what happened
ACTION_WORDS = {
    "opened": ("告警产生", "opened"), "merged": ("再次触发（已合并）", "raised again (merged)"),
    "upgraded": ("级别提升", "severity raised"), "escalated": ("逐级上报", "escalated"),
    "notified": ("已发送通知", "notified"), "acknowledged": ("已确认", "acknowledged"),
    "dispatched": ("已派人", "dispatched"), "resolved": ("已处置", "resolved by a person"),
    "auto_cleared": ("已自动解除", "cleared by the engine"), "closed": ("已关闭", "closed"),
    "false_alarm": ("误报已取消", "cancelled as a false alarm"),
    "cancel_late": ("住户取消（已超时，告警保留）", "resident cancelled too late (kept open)"),
    "staff_pushed": ("已推送网格员", "staff pushed"), "checkin_ok": ("确认平安，告警关闭", "checked in: fine, closed"),
    "checkin_unreachable": ("家属联系不上", "the family could not reach them"),
}
#: what a person can do: verbs for buttons and commands, distinct from the states they lead to
BUTTON_WORDS = {
    "acknowledge": ("确认（我来处理）", "Acknowledge"), "dispatch": ("派人处理", "Dispatch"),
    "resolve": ("标记已处置", "Mark resolved"), "close": ("关闭并评价", "Close with feedback"),
    "false_alarm": ("标记为误报", "Mark as false alarm"),
}
#: actors that are not people (a person's actor is their username or contact code)
ACTOR_WORDS = {"engine": ("系统", "the engine"), "resident": ("住户", "the resident"),
               "system": ("系统", "the system")}
CHANNEL_WORDS = {
    "rules": ("规则引擎", "rules"), "escalation": ("逐级上报", "escalation"), "notifier": ("通知", "notifier"),
    "device": ("设备按键", "the device"), "console": ("值守台", "console"), "ack_link": ("消息中的确认链接", "link in a message"),
    "link": ("消息中的确认链接", "link in a message"), "checkin": ("平安确认", "check-in"), "cli": ("命令行", "command line"), "api": ("接口", "API"),
}
#: delivery statuses (notify/records.py, notify/recorder.py)
STATUS_WORDS = {
    "queued": ("待发送", "queued"), "sent": ("已发送", "sent"), "partial": ("部分发送成功", "partly sent"),
    "failed": ("发送失败", "failed"), "held": ("免打扰时段，稍后汇总发送", "held for quiet hours"),
    "digested": ("已在汇总中发送", "sent in a digest"), "no_channel": ("无联系方式", "no channel to reach them"),
    "refused": ("未发送（非本户联系人）", "refused (not of this household)"),
    "recorded": ("已记录（演示模式未发送）", "recorded (not sent)"), "handed_off": ("已交给通知服务", "handed off"),
    "quiet": ("免打扰时段（静默送达）", "quiet hours (delivered silently)"),
}
KIND_WORDS = {"water_meter": ("水表", "water meter"), "call_button": ("一键呼叫按钮", "call button"),
              "river_gauge": ("水位计", "river gauge"), "camera": ("摄像头", "camera"), "gateway": ("网关", "gateway")}
LEVEL_WORDS = {Level.STREET: ("街道", "street"), Level.COMMUNITY: ("社区", "community"), Level.GRID: ("网格", "grid"),
               Level.BUILDING: ("楼栋", "building"), Level.HOUSEHOLD: ("住户", "household"),
               Level.STATION: ("水位站", "river station"), Level.ZONE: ("监控区域", "camera zone")}
CAMERA_TYPE_WORDS = {"motion": ("画面移动", "motion"), "intrusion": ("入侵", "an intrusion"),
                     "line_crossing": ("越线", "a line crossing"), "person": ("人员", "a person"),
                     "tamper": ("遮挡或破坏", "tampering")}
#: Clear.reason codes (alerts/rules/): why the engine cleared an alert
CLEAR_REASON_WORDS = {
    "water_used": ("已恢复用水", "water used again"), "flow_stopped": ("流水已停止", "the flow stopped"),
    "reporting_again": ("设备恢复上报", "the device reports again"), "battery_ok": ("电池电压已恢复", "battery back up"),
    "back_online": ("网关恢复在线", "the gateway is back online"),
    "gauge_changes": ("水位计读数恢复变化", "the gauge reading changes again"),
    "level_below": ("水位已回落到警戒线以下", "the level is back below the warning level"),
    "rise_slowed": ("水位上涨已放缓", "the rise slowed down"), "tamper_ended": ("摄像头遮挡已解除", "tampering ended"),
}
LINE_WORDS = {"warning": ("警戒线", "the warning level"), "guaranteed": ("保证水位", "the guaranteed level")}

_GROUPS: dict[str, Mapping[Any, tuple[str, str]]] = {
    "rules": RULE_TITLES, "severities": SEVERITY_WORDS, "states": STATE_WORDS, "outcomes": OUTCOME_WORDS,
    "actions": ACTION_WORDS, "buttons": BUTTON_WORDS, "actors": ACTOR_WORDS, "channels": CHANNEL_WORDS,
    "statuses": STATUS_WORDS, "kinds": KIND_WORDS, "roles": ROLE_WORDS, "levels": LEVEL_WORDS,
    "events": EVENT_WORDS, "camera_types": CAMERA_TYPE_WORDS, "clear_reasons": CLEAR_REASON_WORDS,
    "advice": ADVICE, "checkins": CHECKIN_WORDS,
}


def lang(language: str) -> str:
    """A supported language code (unknown ones fall back to Chinese)."""
    return language if language in LANGUAGES else "zh"


def _i(language: str) -> int:
    return LANGUAGES.index(lang(language))


def words(language: str) -> dict[str, dict[str, str]]:
    """Every word group as {code: word} in one language (see the module docstring for the groups)."""
    i = _i(language)
    return {g: {str(k): v[i] for k, v in table.items()} for g, table in _GROUPS.items()}


def word(group: str, code: str, language: str) -> str:
    """One word of a group; an unknown code (or group) comes back unchanged."""
    pair = _GROUPS.get(group, {}).get(code)
    return pair[_i(language)] if pair else code


def state_label(view: AlertView, language: str) -> str:
    """The state with how it ended: handled by a person, cleared by the engine, or a false alarm."""
    i = _i(language)
    if view.outcome is Outcome.AUTO_CLEARED:
        return OUTCOME_WORDS[Outcome.AUTO_CLEARED][i]
    if view.outcome is Outcome.FALSE_ALARM:
        return ("已关闭（误报）", "closed (false alarm)")[i]
    if view.outcome is Outcome.NO_EMERGENCY:
        how = CHECKIN_WORDS[view.checkin][i] if view.checkin else OUTCOME_WORDS[Outcome.NO_EMERGENCY][i]
        return f"已关闭（{how}）" if i == 0 else f"closed ({how})"
    if view.state is AlertState.OPEN and view.checkin is not None:
        return CHECKIN_WORDS[view.checkin][i]
    return STATE_WORDS[view.state][i]


# --- numbers ---------------------------------------------------------------------------


def _n(x: float, digits: int = 1) -> str:
    """A figure with at most `digits` decimals, without trailing zeros (7.0 -> 7, 7.50 -> 7.5)."""
    text = f"{x:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def count(n: int, noun: str, plural: str = "") -> str:
    """An English count with its noun in the right number: "1 contact", "2 contacts" (Chinese has no plural)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def duration_text(minutes: float, language: str) -> str:
    """A duration in words: minutes under 2 h, hours under 2 days (one decimal under 10 h), then days."""
    en = lang(language) == "en"
    m = max(0.0, float(minutes))
    if m < 1:
        return "under a minute" if en else "不到 1 分钟"
    if m < 120:
        return f"{round(m)} min" if en else f"{round(m)} 分钟"
    if m < 48 * 60:
        h = m / 60
        text = _n(h, 1) if h < 10 else str(round(h))
        return f"{text} h" if en else f"{text} 小时"
    d = _n(m / 1440, 1)
    return f"{d} days" if en else f"{d} 天"


def _float(facts: Mapping[str, Any], key: str) -> float | None:
    v = facts.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _minutes_since(view: AlertView, facts: Mapping[str, Any], key: str = "since") -> float | None:
    """Minutes from a fact's timestamp to the alert's opening (facts stored before the figures were)."""
    since = facts.get(key)
    if isinstance(since, int) and not isinstance(since, bool) and since <= view.opened_at:
        return (view.opened_at - since) / 60_000
    return None


# --- the sentence ----------------------------------------------------------------------


def alert_sentence(view: AlertView, language: str, names: Names | None = None) -> str:
    """The sentence a person reads about an alert, from its rule and facts, in the language asked."""
    en = lang(language) == "en"
    facts = view.details or {}
    render = _SENTENCES.get(view.rule)
    if render is None:
        return RULE_TITLES.get(view.rule, (str(view.rule), str(view.rule)))[1 if en else 0]
    return render(view, facts, en, names or (lambda code: None))


def _dur(minutes: float, en: bool) -> str:
    return duration_text(minutes, "en" if en else "zh")


def _water_inactivity(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    hours = _float(f, "hours")
    if hours is None:
        mins = _minutes_since(view, f)
        hours = None if mins is None else mins / 60
    if hours is None:
        return "no water use for a long time" if en else "长时间无用水"
    d = _dur(hours * 60, en)
    reason, window, thr, cap = f.get("reason"), _float(f, "window_h"), _float(f, "threshold_h"), _float(f, "cap_h")
    if reason == "learned":
        if thr is not None:
            # threshold_h is the household's learned limit in waking hours; hours is the time since the last use
            return (f"no water use for {d}, longer than this household's usual longest gap (at most "
                    f"{_dur(thr * 60, en)} of waking time)" if en
                    else f"已 {d}无用水，超过这户平时的最长间隔（醒着的时间里通常不超过 {_dur(thr * 60, en)}）")
        return f"no water use for {d}, longer than this household's usual" if en else f"已 {d}无用水，超出这户平时的习惯"
    if reason == "cap" and cap is not None:
        return f"no water use for {d} (over the {_n(cap)} h limit)" if en else f"已 {d}无用水（超过上限 {_n(cap)} 小时）"
    if window is not None:
        return (f"no water use for {d} (window {_n(window)} h, sleep hours not counted)" if en
                else f"已 {d}无用水（判定窗口 {_n(window)} 小时，不计睡眠时间）")
    return f"no water use for {d}" if en else f"已 {d}无用水"


def _water_flow(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    hours = _float(f, "hours")
    mins = hours * 60 if hours is not None else _minutes_since(view, f)
    leak = bool(f.get("leak_flag")) or f.get("reason") == "leak_flag"
    if mins is None:
        if leak:
            return "the meter reports a leak" if en else "水表报告漏水"
        return "water running without a break" if en else "持续流水未停"
    d = _dur(mins, en)
    if leak:
        return f"the meter reports a leak; water running for {d}" if en else f"水表报告漏水，已持续流水 {d}"
    return (f"water running without a break for {d} (an open tap or a leak?)" if en
            else f"已持续流水 {d}未中断（可能水龙头未关或漏水）")


def _call_button(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    long = f.get("action") == "long_press" or f.get("reason") == "long_press"
    text = ("call button held down" if long else "call button pressed") if en else ("长按一键呼叫" if long else "按下一键呼叫")
    if view.merged_count:
        n = view.merged_count + 1
        text += f" ({n} presses)" if en else f"（共 {n} 次）"
    if f.get("registered") is False or view.subject.startswith("device:"):
        dev = f.get("device") or view.subject.removeprefix("device:")
        text += (f"; button {dev} is not registered to a place" if en else f"，按钮 {dev} 未登记位置")
    return text


def _line_of(view: AlertView, f: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The line a river-level alert is above (inferred for alerts stored without it)."""
    line = f.get("line")
    if line not in LINE_WORDS:
        line = "guaranteed" if view.severity is Severity.CRITICAL else "warning"
    line_m = _float(f, "line_m")
    if line_m is None:
        line_m = _float(f, f"{line}_m")
    return line, line_m


def _river_level(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    level, rate = _float(f, "level_m"), _float(f, "rate_m_per_h")
    line, line_m = _line_of(view, f)
    lw = LINE_WORDS[line][1 if en else 0]
    if level is None:
        return f"river level above {lw}" if en else f"水位超过{lw}"
    at_line = line_m is not None and round(level, 2) <= round(line_m, 2)  # reads "3.50 above 3.50" otherwise
    if en:
        text = f"level {level:.2f} m, {'at' if at_line else 'above'} {lw}" + (
            f" ({line_m:.2f} m)" if line_m is not None else "")
    else:
        text = f"水位 {level:.2f} 米，{'达到' if at_line else '超过'}{lw}" + (f" {line_m:.2f} 米" if line_m is not None else "")
    if rate is not None and rate >= 0.005:
        text += f", rising {rate:.2f} m/h" if en else f"，每小时上涨 {rate:.2f} 米"
    return text


def _river_rise(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    level, rate, eta = _float(f, "level_m"), _float(f, "rate_m_per_h"), _float(f, "forecast_min")
    if level is None or rate is None:
        return "river rising fast" if en else "水位快速上涨"
    text = f"level {level:.2f} m, rising {rate:.2f} m/h" if en else f"水位 {level:.2f} 米，每小时上涨 {rate:.2f} 米"
    nxt, nxt_m = f.get("next_line"), _float(f, "next_line_m")
    if nxt not in LINE_WORDS:  # stored before the facts named it: the first line above the level
        nxt, nxt_m = next(((k, v) for k in ("warning", "guaranteed")
                           if (v := _float(f, f"{k}_m")) is not None and level < v), (None, None))
    if eta is not None and nxt in LINE_WORDS:
        lw = LINE_WORDS[nxt][1 if en else 0]
        at = (f" ({nxt_m:.2f} m)" if en else f" {nxt_m:.2f} 米") if nxt_m is not None else ""
        text += f"; about {_dur(eta, en)} to {lw}{at}" if en else f"，预计约 {_dur(eta, en)}后达到{lw}{at}"
    return text


def _river_sensor(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    level, mins = _float(f, "level_m"), _float(f, "minutes")
    if level is None:
        return "the river gauge seems faulty" if en else "水位计疑似故障"
    if mins is None:
        return (f"the gauge is stuck at {level:.3f} m: probably faulty" if en
                else f"水位计读数停在 {level:.3f} 米不变，疑似故障")
    d = _dur(mins, en)
    return (f"the gauge has read {level:.3f} m for {d} without any change: probably faulty" if en
            else f"水位计读数 {level:.3f} 米已 {d}没有变化，疑似故障")


def _camera_intrusion(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    typ = str(f.get("type") or "intrusion")
    what = CAMERA_TYPE_WORDS.get(typ, CAMERA_TYPE_WORDS["intrusion"])[1 if en else 0]
    text = f"the camera detected {what}" if en else f"摄像头检测到{what}"
    score = _float(f, "score")
    if score is not None:
        text += f" (confidence {score * 100:.0f}%)" if en else f"（可信度 {score * 100:.0f}%）"
    cams, zones, by = f.get("cameras"), f.get("zones"), f.get("confirmed_by_zone")
    if isinstance(cams, int) and isinstance(zones, int):
        text += (f", confirmed by {count(cams, 'camera')} in {count(zones, 'zone')}" if en
                 else f"，已由 {cams} 个摄像头、{zones} 个区域同时确认")
    elif by:
        name = names(str(by))
        name = None if name == by else name  # a lookup that only echoes the code has no name
        if en:
            text += f", confirmed by a trigger in {name}" if name else ", confirmed by a trigger in a nearby zone"
        else:
            text += f"，相邻区域「{name}」同时触发，已确认" if name else "，相邻区域同时触发，已确认"
    elif f.get("confirmed"):
        text += ", confirmed by a second camera or zone" if en else "，已由其他摄像头或区域确认"
    return text


def _camera_tamper(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    return "the camera is covered, turned away or damaged" if en else "摄像头被遮挡、移动或损坏"


def _gateway_offline(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    mins = _float(f, "minutes")
    if mins is None:
        mins = _minutes_since(view, f)
    gw = f.get("gateway") or view.subject
    if mins is None:
        return f"gateway {gw} offline" if en else f"网关 {gw} 离线"
    return f"gateway {gw} offline for {_dur(mins, en)}" if en else f"网关 {gw} 已离线 {_dur(mins, en)}"


def _kind(f: Mapping[str, Any], en: bool) -> str:
    pair = KIND_WORDS.get(str(f.get("kind") or ""))
    return pair[1 if en else 0] if pair else ("device" if en else "设备")


def _device_silent(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    mins = _float(f, "minutes")
    if mins is None:
        mins = _minutes_since(view, f, "last_seen")
    kind = _kind(f, en)
    if mins is None:
        return f"{kind} not reporting" if en else f"{kind}无上报"
    d = _dur(mins, en)
    return f"{kind} silent for {d}" if en else f"{kind}已 {d}无上报"


def _battery_low(view: AlertView, f: Mapping[str, Any], en: bool, names: Names) -> str:
    volts, thr = _float(f, "battery_v"), _float(f, "threshold_v")
    kind = _kind(f, en)
    if volts is None:
        return f"{kind} battery low" if en else f"{kind}电池电量低"
    below = ((f" (below {thr:.2f} V)" if en else f"（低于 {thr:.2f} 伏）") if thr is not None else "")
    return f"{kind} battery low: {volts:.2f} V{below}" if en else f"{kind}电池电压低：{volts:.2f} 伏{below}"


_SENTENCES: dict[Rule, Callable[[AlertView, Mapping[str, Any], bool, Names], str]] = {
    Rule.WATER_INACTIVITY: _water_inactivity, Rule.WATER_FLOW: _water_flow, Rule.CALL_BUTTON: _call_button,
    Rule.RIVER_LEVEL: _river_level, Rule.RIVER_RISE: _river_rise, Rule.RIVER_SENSOR: _river_sensor,
    Rule.CAMERA_INTRUSION: _camera_intrusion, Rule.CAMERA_TAMPER: _camera_tamper,
    Rule.GATEWAY_OFFLINE: _gateway_offline, Rule.DEVICE_SILENT: _device_silent, Rule.BATTERY_LOW: _battery_low,
}


# --- timeline notes ------------------------------------------------------------------------

_ENGINE_ACTORS = frozenset({"engine", "resident", "system"})
_STEP = re.compile(r"^step (\d+): ([a-z_, ]*)$")
_NOTIFIED = re.compile(r"^(\d+) contacts?(?: \(([a-z_, ]*)\))?:?\s*(.*)$")
_SEVERITY_CHANGE = re.compile(r"^severity ([a-z]+) -> ([a-z]+)$")
_SEVERITY_CODES = frozenset(s.value for s in Severity)
_PUSHED = re.compile(r"^check-in ([a-z_]+): ([a-z_, ]*)$")
_CHECKIN_CODES = frozenset(c.value for c in CheckIn)


def _list(codes: str, table: Mapping[Any, tuple[str, str]], i: int) -> str:
    items = [c.strip() for c in codes.split(",") if c.strip()]
    return ("、" if i == 0 else ", ").join(table[c][i] if c in table else c for c in items)


_DISPATCH_TO = re.compile(r"^to (\S+)$")
_CANCELLED = re.compile(r"^cancelled by the resident (\d+) s after the press$")


def timeline_note(event: Mapping[str, Any], language: str, names: Names | None = None) -> str:
    """The note of a timeline entry in words: the engine's notes translated, a person's note as written.

    `event` is a row of AlertStore.events (keys action, actor, channel, note); `names` gives a person's name
    for a contact code or username (the one a dispatch without a note went to)."""
    i = _i(language)
    note = str(event.get("note") or "")
    action, actor = event.get("action"), event.get("actor")
    if actor not in _ENGINE_ACTORS:
        if action == "dispatched" and (m := _DISPATCH_TO.match(note)):  # the store's note for a dispatch without one
            to = (names(m.group(1)) if names else None) or m.group(1)
            return f"派给 {to}" if i == 0 else f"to {to}"
        return note  # written by a person: theirs, unchanged
    if action in ("opened", "merged"):
        return ""  # the engine's code-only summary: the sentence says it
    if action == "auto_cleared":
        pair = CLEAR_REASON_WORDS.get(note)
        return pair[i] if pair else ""
    if action == "escalated" and (m := _STEP.match(note)):
        roles = _list(m.group(2), ROLE_WORDS, i)
        return f"第 {m.group(1)} 级：通知{roles}" if i == 0 else f"step {m.group(1)}: {roles}"
    if action == "notified" and (m := _NOTIFIED.match(note)):
        roles = _list(m.group(2) or "", ROLE_WORDS, i)
        counts = []
        for part in (p.strip() for p in m.group(3).split(",") if p.strip()):
            status, _, n = part.rpartition(" ")
            if status and n.isdigit():
                counts.append(f"{STATUS_WORDS[status][i] if status in STATUS_WORDS else status} {n}")
        n = int(m.group(1))
        head = f"{n} 位联系人" if i == 0 else count(n, "contact")
        if roles:
            head += f"（{roles}）" if i == 0 else f" ({roles})"
        return head + (("：" if i == 0 else ": ") + ("，" if i == 0 else ", ").join(counts) if counts else "")
    if action == "staff_pushed" and (m := _PUSHED.match(note)):
        why = CHECKIN_WORDS[CheckIn(m.group(1))][i] if m.group(1) in _CHECKIN_CODES else m.group(1)
        roles = _list(m.group(2), ROLE_WORDS, i)
        return f"{why.split('，')[0]}：通知{roles}" if i == 0 else f"{why.split(';')[0]}: {roles}"
    if action == "upgraded" and (m := _SEVERITY_CHANGE.match(note)):
        a, b = (SEVERITY_WORDS[Severity(x)][i] if x in _SEVERITY_CODES else x for x in m.groups())
        return f"{a} → {b}"
    if action in ("closed", "cancel_late") and actor == "resident":
        secs = re.search(r"(\d+) s after the press", note)
        if secs:
            s = secs.group(1)
            if action == "closed":
                return f"住户在按下 {s} 秒后取消" if i == 0 else f"the resident cancelled {s} s after the press"
            return (f"住户在按下 {s} 秒后取消，已超出取消时限，告警保留" if i == 0
                    else f"the resident cancelled {s} s after the press, too late: kept open")
    return note if i == 1 else ""


# --- delivery attempts ------------------------------------------------------------------------

#: what went wrong with one attempt, by code (attempt_error); {status} is the HTTP status the service answered
ATTEMPT_ERRORS = {
    "unreachable": ("连接不上接收服务（网络或地址问题）", "could not connect to the receiving service"),
    "not_authorized": ("接收服务拒绝：密钥或令牌有误（状态码 {status}）",
                       "refused by the service: wrong key or token (status {status})"),
    "not_found": ("接收服务找不到此地址（状态码 {status}）", "the service does not know this address (status {status})"),
    "service_error": ("接收服务出错（状态码 {status}）", "the service failed (status {status})"),
    "rejected": ("接收服务拒收（状态码 {status}）", "the service refused it (status {status})"),
    "bad_address": ("联系方式的地址无效", "not a usable channel address"),
    "no_contact": ("联系人已不在登记中或没有联系方式", "the contact is no longer registered or has no channel"),
    "sender_failed": ("发送程序出错", "the sender failed"),
    "failed": ("发送失败", "not delivered"),
}
_UNREACHABLE = re.compile(r"connection error|timed? ?out|name or service not known|name resolution|unreachable|"
                          r"connection refused", re.IGNORECASE)
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")


def attempt_error(error: str) -> tuple[str, dict[str, Any]]:
    """A failed attempt's stored error as (code, params): the channel libraries log English lines (Apprise's
    "A Connection error occurred sending ...", "Failed to send ...: error=403."); the code is what a person reads."""
    if not error:
        return "failed", {}
    if error.startswith("not a usable Apprise URL"):
        return "bad_address", {}
    if error.startswith("contact no longer in the registry"):
        return "no_contact", {}
    if (m := _HTTP_STATUS.search(error)) is not None:
        status = int(m.group(1))
        code = ("not_authorized" if status in (401, 403) else "not_found" if status == 404
                else "service_error" if status >= 500 else "rejected")
        return code, {"status": status}
    if _UNREACHABLE.search(error):
        return "unreachable", {}
    if re.match(r"^[A-Z]\w*(Error|Exception): ", error):
        return "sender_failed", {}
    return "failed", {}


def attempt_error_text(error: str, language: str) -> str:
    """A failed attempt's error in the reader's words."""
    code, params = attempt_error(error)
    return ATTEMPT_ERRORS[code][_i(language)].format(**params)


# --- notifications ---------------------------------------------------------------------------


def local_time(ms: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")


def ago(ms: int, now: int, language: str) -> str:
    """'12 minutes ago' in words."""
    mins = max(0, (now - ms) // 60_000)
    en = lang(language) == "en"
    if mins < 1:
        return "just now" if en else "刚刚"
    if mins < 120:
        return f"{mins} min ago" if en else f"{mins} 分钟前"
    return f"{mins // 60} h ago" if en else f"{mins // 60} 小时前"


def feedback_text(view: AlertView, language: str) -> str:
    """An alert's closing feedback: a person's words as written; the engine's note of a resident's quick cancel
    in words."""
    fb = view.feedback or ""
    if (m := _CANCELLED.match(fb)) is not None:
        return f"住户在按下 {m.group(1)} 秒后取消" if lang(language) == "zh" else f"the resident cancelled {m.group(1)} s after the press"
    return fb


def place_name(alert: AlertView, address: str, language: str, names: Names | None = None) -> str:
    """The place as people call it: its name from `names` (e.g. RegistrySnapshot.address: "3号楼 2单元 501"),
    else the last part of the registry path `address`, else the code; an alert without a place (an
    unregistered button) says so."""
    if alert.place and names is not None and (name := names(alert.place)):
        return name
    if address:
        return address.rsplit(" / ", 1)[-1]
    if alert.place:
        return alert.place
    return "location not registered" if lang(language) == "en" else "位置未登记"


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One held notification, as a line of a digest."""

    alert_id: int
    since: str
    severity: str
    title: str
    place: str
    state: str
    sentence: str = ""


def render_message(alert: AlertView, event: str, contact: ContactInfo, *, address: str,
                   contacts: tuple[ContactInfo, ...], now: int, tz: ZoneInfo, ack_url: str = "",
                   console_url: str = "", names: Names | None = None,
                   answer_urls: tuple[str, str] = ("", "")) -> tuple[str, str]:
    """(title, body) of one notification for one contact, in the contact's language.

    The `checkin` event (the family asked first, alerts/checkin.py) reads checkin.{zh,en}.txt with the two
    answer links `answer_urls` ("她/他没事", "联系不上") and when staff will be pushed if nobody answers.

    `address` is the place's registry path of names and `names` gives a registry code's name as people say
    it (RegistrySnapshot.address): personal data, notifications only."""
    i = _i(contact.language)
    language = LANGUAGES[i]
    place = place_name(alert, address, language, names)
    title = f"[{SEVERITY_WORDS[alert.severity][i]}] {RULE_TITLES[alert.rule][i]} — {place}"
    others = [c for c in contacts if c.code != contact.code]
    state_note = "" if alert.active else state_label(alert, language)
    if event == "checkin":
        waiting = alert.staff_pushed_at is None and alert.next_escalation_at is not None
        body = _ENV.get_template(f"checkin.{language}.txt").render(
            event_word=EVENT_WORDS["checkin"][i], title=title, address=address or place,
            sentence=alert_sentence(alert, language, names), since=local_time(alert.opened_at, tz),
            ok_url=answer_urls[0], unreachable_url=answer_urls[1],
            deadline=local_time(alert.next_escalation_at, tz) if waiting and alert.next_escalation_at else "",
            staff_told=alert.staff_pushed_at is not None, console_url=console_url, alert_id=alert.id)
        return EVENT_WORDS["checkin"][i] + title, body.strip()
    body = _ENV.get_template(f"message.{language}.txt").render(
        event_word=EVENT_WORDS.get(event, ("", ""))[i], title=title, address=address or place,
        sentence=alert_sentence(alert, language, names), since=local_time(alert.opened_at, tz),
        ago=ago(alert.opened_at, now, language), state_note=state_note, advice=ADVICE[alert.rule][i],
        contacts="; ".join(f"{c.name or c.code}（{ROLE_WORDS[c.role][0]}）" if i == 0 else
                           f"{c.name or c.code} ({ROLE_WORDS[c.role][1]})" for c in others),
        ack_url=ack_url, console_url=console_url, alert_id=alert.id)
    return EVENT_WORDS.get(event, ("", ""))[i] + title, body.strip()


def digest_item(alert: AlertView, language: str, tz: ZoneInfo, address: str = "",
                names: Names | None = None) -> DigestItem:
    """One line of a digest; `address`/`names` as for render_message (without them the place is its code)."""
    i = _i(language)
    return DigestItem(alert.id, local_time(alert.opened_at, tz), SEVERITY_WORDS[alert.severity][i],
                      RULE_TITLES[alert.rule][i], place_name(alert, address, LANGUAGES[i], names),
                      state_label(alert, LANGUAGES[i]), alert_sentence(alert, LANGUAGES[i], names))


def render_digest(items: list[DigestItem], more: int, language: str, console_url: str = "") -> tuple[str, str]:
    """(title, body) of a quiet-hours digest."""
    i = _i(language)
    n = len(items) + more
    title = f"【告警汇总】免打扰期间 {n} 条" if i == 0 else f"[digest] {count(n, 'alert')} during quiet hours"
    body = _ENV.get_template(f"digest.{LANGUAGES[i]}.txt").render(items=items, more=more, console_url=console_url)
    return title, body.strip()
