"""Vocabulary of the alerts part: severities, states, outcomes, rules, and rule actions (levels and roles
of places and people are the registry's: registry.types)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    MAINTENANCE = "maintenance"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.MAINTENANCE: 0, Severity.WARNING: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE_STATES = frozenset({AlertState.OPEN, AlertState.ACKNOWLEDGED, AlertState.DISPATCHED})


class Outcome(StrEnum):
    HANDLED = "handled"
    AUTO_CLEARED = "auto_cleared"
    FALSE_ALARM = "false_alarm"
    NO_EMERGENCY = "no_emergency"  # the check-in was answered: the resident is fine (alerts/checkin.py)


class CheckIn(StrEnum):
    """Where an alert's check-in step stands (alerts/checkin.py): asked, how it was answered, why staff were pushed."""

    ASKING = "asking"  # the family and the resident are asked; staff see it on the board, are not pushed yet
    OK_FAMILY = "ok_family"  # the family answered "她/他没事": closed as no emergency
    OK_RESIDENT = "ok_resident"  # the resident answered with the call button: closed as no emergency
    WATER_USED = "water_used"  # water was used again while asking: cleared by the engine
    UNREACHABLE = "unreachable"  # the family answered "联系不上": staff pushed at once
    NO_ANSWER = "no_answer"  # nobody answered in time: staff pushed
    NIGHT = "night"  # asked at night: staff pushed at once as well
    NO_FAMILY = "no_family"  # nobody to ask: staff pushed at once

    @property
    def answered_fine(self) -> bool:
        return self in (CheckIn.OK_FAMILY, CheckIn.OK_RESIDENT, CheckIn.WATER_USED)


class Rule(StrEnum):
    WATER_INACTIVITY = "water_inactivity"
    WATER_FLOW = "water_flow"
    CALL_BUTTON = "call_button"
    RIVER_LEVEL = "river_level"
    RIVER_RISE = "river_rise"
    RIVER_SENSOR = "river_sensor"
    CAMERA_INTRUSION = "camera_intrusion"
    CAMERA_TAMPER = "camera_tamper"
    GATEWAY_OFFLINE = "gateway_offline"
    DEVICE_SILENT = "device_silent"
    BATTERY_LOW = "battery_low"


# --- what rules ask the lifecycle to do ---------------------------------------------


#: keys of timestamps in facts: left out of the code-only summary (the alert carries its own times)
_TIME_KEYS = frozenset({"since", "last_seen"})


def code_summary(rule: Rule, subject: str, facts: Mapping[str, Any]) -> str:
    """The code-only line of an alert for logs and MQTT: rule, subject and the facts' ids, codes and figures,
    e.g. ``water_inactivity hh-0002 reason=window hours=37.4 window_h=7``. Facts hold ids, codes and
    numbers only (never names, addresses or phones), so neither does this; people read the sentence
    notify.texts.alert_sentence renders from the facts in their language."""
    parts = [f"{rule} {subject}"]
    for k, v in facts.items():
        if k in _TIME_KEYS or v is None:
            continue
        if isinstance(v, bool):
            parts.append(f"{k}={'yes' if v else 'no'}")
        elif isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, int | str):
            parts.append(f"{k}={v}")
    return " ".join(parts)[:300]


@dataclass(frozen=True, slots=True)
class Raise:
    """Open an alert for (rule, subject), or merge into the active one.

    `episode` names the occurrence (e.g. when the inactivity began): the same episode is
    never raised twice, so replaying or restarting cannot re-raise a handled alert.
    `details` are the alert's facts (stored with it as JSON): a `reason` code and the figures
    behind it, under the keys documented per rule in notify/texts.py (FACTS); the texts people
    read are rendered from them. `summary` is code-only (ids and figures) for logs and MQTT.
    """

    rule: Rule
    subject: str
    severity: Severity
    place: str  # registry node code the alert is about (household, station, zone, grid)
    episode: str
    summary: str  # short, code-only, no personal data (it goes to MQTT and logs)
    details: Mapping[str, Any] = field(default_factory=dict)
    at_ms: int = 0

    @classmethod
    def of(cls, rule: Rule, subject: str, severity: Severity, place: str, episode: str, at_ms: int,
           **facts: Any) -> Raise:
        """A Raise carrying `facts`, with the code-only summary made from them."""
        return cls(rule, subject, severity, place, episode, code_summary(rule, subject, facts), facts, at_ms)


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition behind the active (rule, subject) alert has cleared."""

    rule: Rule
    subject: str
    reason: str  # a code (notify.texts CLEAR_REASON_WORDS): it is the timeline's note and goes to logs
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Cancel:
    """The resident cancelled: close as a false alarm if within `within_s` of opening."""

    rule: Rule
    subject: str
    within_s: float
    at_ms: int = 0


Action = Raise | Clear | Cancel
