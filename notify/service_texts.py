"""What people read about the system's own health, in Chinese and English: the watchdog's messages (shouwang
watchdog) and the console's red banner. Rendered from ground.heartbeat's structured problems."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from ground.heartbeat import Problem, Trouble

SERVICE_WORDS = {"ingest": ("数据接收服务（ingest）", "the ingest service"),
                 "alerts": ("告警引擎", "the alerts engine"),
                 "api": ("管理后台（API）", "the web API and console")}
TROUBLE_WORDS = {Trouble.NOT_RUNNING: ("没有在运行", "is not running"),
                 Trouble.STOPPED: ("已退出", "has exited"),
                 Trouble.NO_PROGRESS: ("已停止工作（卡住或被暂停）", "has stopped working (hung or paused)")}
CONSEQUENCE = ("在它恢复之前，一键呼叫和老人无用水等告警可能不会送达任何人。请立即检查服务器（shouwang status）。",
               "Until it is back, call-button and no-water-use alerts may reach nobody. Check the server now "
               "(shouwang status).")


def _i(language: str) -> int:
    return 1 if language == "en" else 0


def service_name(service: str, language: str) -> str:
    return SERVICE_WORDS.get(service, (service, service))[_i(language)]


def _when(ms: int, language: str, tz: ZoneInfo) -> str:
    t = dt.datetime.fromtimestamp(ms / 1000, tz)
    return t.strftime("%m月%d日 %H:%M:%S") if language != "en" else t.strftime("%d %b %H:%M:%S")


def problem_text(p: Problem, language: str, tz: ZoneInfo | None = None) -> str:
    """One sentence: which service, what is wrong, since when (if known)."""
    tz = tz or ZoneInfo("Asia/Shanghai")
    i = _i(language)
    svc, what = service_name(p.service, language), TROUBLE_WORDS[p.trouble][i]
    if i == 0:
        return f"{svc}{what}" + (f"，最后一次正常工作：{_when(p.since_ms, language, tz)}。" if p.since_ms else "。")
    return f"{svc[0].upper()}{svc[1:]} {what}" + (f"; last seen working {_when(p.since_ms, language, tz)}."
                                                   if p.since_ms else ".")


def alarm_message(problems: list[Problem], language: str, tz: ZoneInfo | None = None) -> tuple[str, str]:
    """Title and body of the watchdog's fault message."""
    i = _i(language)
    title = ("【守望】系统故障：告警可能无法送达", "[Shouwang] System fault: alerts may not get through")[i]
    return title, "\n".join([*(problem_text(p, language, tz) for p in problems), CONSEQUENCE[i]])


def recovery_message(services: list[str], language: str) -> tuple[str, str]:
    """Title and body of the watchdog's all-clear."""
    i = _i(language)
    names = ("、" if i == 0 else ", ").join(service_name(s, language) for s in services)
    return (("【守望】已恢复", "[Shouwang] Recovered")[i],
            (f"{names}已恢复工作。故障期间的读数由网关缓存并补传；请查看告警面板是否有待处理告警。",
             f"{names} working again. Gateways kept and re-sent the readings of the outage; check the alert board "
             "for open alerts.")[i])


def banner_text(problems: list[Problem], language: str, tz: ZoneInfo | None = None) -> str:
    """The console's red banner: what is down and what it means."""
    return ("" if _i(language) == 0 else " ").join([*(problem_text(p, language, tz) for p in problems),
                                                     CONSEQUENCE[_i(language)]])
