"""What people read about alerts, in Chinese and English: the words for rules, severities, events, states and
roles (the console shows them too), and the notification texts: who, what, since when, what to do, a link.

The texts are Jinja2 templates in templates/ (message.zh.txt, message.en.txt, digest.*.txt), so a
site can read and adjust the wording in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from alerts.lifecycle import AlertView
from alerts.types import AlertState, Rule, Severity
from registry.model import ContactInfo
from registry.types import Role

LANGUAGES = ("zh", "en")
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
                          autoescape=False, keep_trailing_newline=False, undefined=jinja2.StrictUndefined)

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
EVENT_WORDS = {"opened": ("", ""), "escalated": ("【升级】", "[escalated] "), "upgraded": ("【加重】", "[upgraded] "),
               "auto_cleared": ("【已解除】", "[cleared] "), "false_alarm": ("【误报已取消】", "[cancelled] ")}

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
ROLE_WORDS = {Role.FAMILY: ("家属", "family"), Role.GRID_WORKER: ("网格员", "grid worker"),
              Role.COMMUNITY_DUTY: ("社区值班", "community duty"), Role.STREET_DUTY: ("街道值班", "street duty")}


def lang(language: str) -> str:
    """A supported language code (unknown ones fall back to Chinese)."""
    return language if language in LANGUAGES else "zh"


def _i(language: str) -> int:
    return LANGUAGES.index(lang(language))


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


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One held notification, as a line of a digest."""

    alert_id: int
    since: str
    severity: str
    title: str
    place: str
    state: str


def render_message(alert: AlertView, event: str, contact: ContactInfo, *, address: str,
                   contacts: tuple[ContactInfo, ...], now: int, tz: ZoneInfo, ack_url: str = "",
                   console_url: str = "") -> tuple[str, str]:
    """(title, body) of one notification for one contact, in the contact's language."""
    i = _i(contact.language)
    title = f"[{SEVERITY_WORDS[alert.severity][i]}] {RULE_TITLES[alert.rule][i]} — {alert.place}"
    others = [c for c in contacts if c.code != contact.code]
    state_note = "" if alert.active else STATE_WORDS[alert.state][i]
    body = _ENV.get_template(f"message.{LANGUAGES[i]}.txt").render(
        event_word=EVENT_WORDS.get(event, ("", ""))[i], title=title, place=alert.place, address=address,
        summary=alert.summary, since=local_time(alert.opened_at, tz), ago=ago(alert.opened_at, now, LANGUAGES[i]),
        state_note=state_note, advice=ADVICE[alert.rule][i],
        contacts="; ".join(f"{c.name or c.code}（{ROLE_WORDS[c.role][0]}）" if i == 0 else
                           f"{c.name or c.code} ({ROLE_WORDS[c.role][1]})" for c in others),
        ack_url=ack_url, console_url=console_url, alert_id=alert.id)
    return EVENT_WORDS.get(event, ("", ""))[i] + title, body.strip()


def digest_item(alert: AlertView, language: str, tz: ZoneInfo) -> DigestItem:
    i = _i(language)
    return DigestItem(alert.id, local_time(alert.opened_at, tz), SEVERITY_WORDS[alert.severity][i],
                      RULE_TITLES[alert.rule][i], alert.place, STATE_WORDS[alert.state][i])


def render_digest(items: list[DigestItem], more: int, language: str, console_url: str = "") -> tuple[str, str]:
    """(title, body) of a quiet-hours digest."""
    i = _i(language)
    n = len(items) + more
    title = f"【告警汇总】免打扰期间 {n} 条" if i == 0 else f"[digest] {n} alerts during quiet hours"
    body = _ENV.get_template(f"digest.{LANGUAGES[i]}.txt").render(items=items, more=more, console_url=console_url)
    return title, body.strip()
