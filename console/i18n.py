"""Console texts in Chinese and English (pages and the strings the page scripts use)."""

from __future__ import annotations

from notify import texts

LANGS = ("zh", "en")

TEXT: dict[str, tuple[str, str]] = {
    "app": ("守望 · 社区值守台", "Shouwang · community console"),
    "login": ("登录", "Log in"), "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"), "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong username or password"),
    "board": ("告警看板", "Alert board"), "devices": ("设备状态", "Device health"),
    "stations": ("河道水位", "River levels"), "family": ("我的家人", "My family"), "stats": ("统计", "Statistics"),
    "active": ("进行中的告警", "Active alerts"), "recent": ("最近告警", "Recent alerts"),
    "no_alerts": ("暂无告警", "No alerts"),
    "to": ("派给谁", "Send whom"), "note": ("备注", "Note"),
    "feedback": ("处置反馈", "Feedback"), "rating": ("评分", "Rating"), "rating_hint": ("1–5 分", "1 to 5"),
    "to_hint": ("联系人或用户名", "Contact or username"),
    "false_alarm": ("误报", "False alarm"),
    "location": ("位置", "Location"), "contacts": ("联系人", "Contacts"), "timeline": ("处理记录", "Timeline"),
    "deliveries": ("通知记录", "Notifications"), "opened": ("开始", "Opened"), "state": ("状态", "State"),
    "gw_unknown": ("状态未知", "state unknown"), "n_devices": ("{n} 台设备", "{n} devices"),
    "time": ("时间", "Time"), "via": ("渠道", "Channels"), "phone": ("电话", "Phone"), "device": ("设备", "Device"),
    "dispatched_to": ("已派", "Sent"),
    "severity": ("级别", "Severity"), "what": ("情况", "What"), "place": ("地点", "Place"),
    "live": ("实时", "live"), "offline": ("连接中断，正在重连…", "connection lost, reconnecting…"),
    "sound_on": ("声音提醒：开", "Sound: on"), "sound_off": ("声音提醒：关（点此开启）", "Sound: off (tap to turn on)"),
    "critical_cue": ("紧急告警！", "CRITICAL ALERT!"),
    "gateways": ("网关", "Gateways"), "online": ("在线", "online"), "offline_gw": ("离线", "offline"),
    "last_seen": ("最后上报", "Last seen"), "battery": ("电池", "Battery"), "health": ("状态", "Health"),
    "h_ok": ("正常", "ok"), "h_silent": ("无上报", "silent"), "h_low_battery": ("电量低", "low battery"),
    "h_unknown": ("未知", "unknown"),
    "level": ("当前水位", "Level now"), "warning_line": ("警戒水位", "Warning level"),
    "guaranteed_line": ("保证水位", "Guaranteed level"), "level_series": ("水位（米）", "Level (m)"),
    "meters": ("水位（米）", "level (m)"), "last_24h": ("最近 24 小时", "Last 24 hours"),
    "no_readings": ("暂无读数", "No readings"), "readings_down": ("读数暂不可用", "Readings unavailable"),
    "last_use": ("最近用水", "Last water use"), "last_reading": ("最近读表", "Last meter reading"),
    "household": ("住户", "Household"), "away": ("外出至", "Away until"),
    "home_phone": ("家中电话", "Home phone"), "no_meter": ("未装水表", "No water meter"),
    "ack_title": ("确认告警", "Acknowledge alert"),
    "ack_question": ("确认由您来处理这条告警吗？", "Will you take care of this alert?"),
    "ack_button": ("我来处理", "I'm on it"),
    "ack_done": ("已确认，谢谢！社区工作人员已收到您的回复。", "Acknowledged — thank you. Community staff can see that you are on it."),
    "ack_already_used": ("此链接已使用过。", "This link has already been used."),
    "ack_already_handled": ("此告警已有人在处理。", "Someone is already handling this alert."),
    "ack_not_responsible": ("此链接已失效（联系人已变更）。", "This link is no longer valid (the contact changed)."),
    "ack_not_found": ("找不到此告警。", "This alert no longer exists."),
    "ack_expired": ("此链接已过期，请直接联系社区。", "This link has expired; please call the community."),
    "ack_bad": ("链接无效。", "This link is not valid."),
    "as_contact": ("确认人", "As"), "time_ago": ("前", "ago"), "error": ("出错了", "Error"),
    "no_household": ("您的账户未关联住户", "Your account is not linked to a household"),
    "too_large": ("提交的内容过大（此处最多 {limit} 字节）。", "Request body too large (at most {limit} bytes here)."),
}


def word(group: str, key: str, lang: str) -> str:
    """A word of one of notify.texts' groups (actions, channels, statuses, kinds, roles, ...) in the language."""
    return texts.word(group, key, lang)


def t(key: str, lang: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def js_strings(lang: str) -> dict[str, object]:
    """What the page scripts need: the console's words, notify.texts' word groups (rules, severities,
    states, outcomes, actions, channels, statuses, kinds, roles, ...) and the error words (console.errors)."""
    from console.errors import js_errors

    i = 1 if lang == "en" else 0
    return {"text": {k: v[i] for k, v in TEXT.items()}, **texts.words(lang), **js_errors(lang), "lang": lang}
