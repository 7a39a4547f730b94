"""Console texts in Chinese and English (pages and the strings the page scripts use)."""

from __future__ import annotations

from notify.texts import ROLE_WORDS, RULE_TITLES, SEVERITY_WORDS, STATE_WORDS

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
    "acknowledge": ("确认（我来处理）", "Acknowledge"), "dispatch": ("派人", "Dispatch"),
    "resolve": ("已处置", "Resolve"), "close": ("关闭并评价", "Close with feedback"),
    "to": ("派给（联系人编号或用户名）", "Send (contact code or username)"), "note": ("备注", "Note"),
    "feedback": ("处置反馈", "Feedback"), "rating": ("评分 1-5", "Rating 1-5"),
    "false_alarm": ("误报", "False alarm"),
    "location": ("位置", "Location"), "contacts": ("联系人", "Contacts"), "timeline": ("处理记录", "Timeline"),
    "deliveries": ("通知记录", "Notifications"), "opened": ("开始", "Opened"), "state": ("状态", "State"),
    "severity": ("级别", "Severity"), "what": ("情况", "What"), "place": ("地点", "Place"),
    "live": ("实时", "live"), "offline": ("连接中断，正在重连…", "connection lost, reconnecting…"),
    "sound_on": ("🔔 声音提醒已开", "🔔 sound on"), "sound_off": ("🔕 点此开启声音提醒", "🔕 tap to turn sound on"),
    "critical_cue": ("紧急告警！", "CRITICAL ALERT!"),
    "gateways": ("网关", "Gateways"), "online": ("在线", "online"), "offline_gw": ("离线", "offline"),
    "last_seen": ("最后上报", "Last seen"), "battery": ("电池", "Battery"), "health": ("状态", "Health"),
    "h_ok": ("正常", "ok"), "h_silent": ("无上报", "silent"), "h_low_battery": ("电量低", "low battery"),
    "h_unknown": ("未知", "unknown"),
    "level": ("当前水位", "Level now"), "warning_line": ("警戒水位", "Warning level"),
    "guaranteed_line": ("保证水位", "Guaranteed level"), "last_24h": ("最近 24 小时", "Last 24 hours"),
    "no_readings": ("暂无读数", "No readings"), "readings_down": ("读数暂不可用", "Readings unavailable"),
    "last_use": ("最近用水", "Last water use"), "last_reading": ("最近读表", "Last meter reading"),
    "household": ("住户", "Household"), "away": ("外出", "Away"),
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


def t(key: str, lang: str) -> str:
    pair = TEXT.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def js_strings(lang: str) -> dict[str, object]:
    """What the page scripts need: UI words, rule titles, severities, states."""
    i = 1 if lang == "en" else 0
    return {"text": {k: v[i] for k, v in TEXT.items()},
            "rules": {r.value: v[i] for r, v in RULE_TITLES.items()},
            "severity": {s.value: v[i] for s, v in SEVERITY_WORDS.items()},
            "state": {s.value: v[i] for s, v in STATE_WORDS.items()},
            "roles": {r.value: v[i] for r, v in ROLE_WORDS.items()},
            "lang": lang}
