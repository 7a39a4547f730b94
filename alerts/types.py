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


@dataclass(frozen=True, slots=True)
class Raise:
    """Open an alert for (rule, subject), or merge into the active one.

    `episode` names the occurrence (e.g. when the inactivity began): the same episode is
    never raised twice, so replaying or restarting cannot re-raise a handled alert.
    """

    rule: Rule
    subject: str
    severity: Severity
    place: str  # registry node code the alert is about (household, station, zone, grid)
    episode: str
    summary: str  # short, no personal data (it goes to MQTT and logs)
    details: Mapping[str, Any] = field(default_factory=dict)
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition behind the active (rule, subject) alert has cleared."""

    rule: Rule
    subject: str
    reason: str
    at_ms: int = 0


@dataclass(frozen=True, slots=True)
class Cancel:
    """The resident cancelled: close as a false alarm if within `within_s` of opening."""

    rule: Rule
    subject: str
    within_s: float
    at_ms: int = 0


Action = Raise | Clear | Cancel
