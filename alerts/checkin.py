"""The check-in step: at the inactivity threshold, ask first, push staff only when nobody answers.

When a water-inactivity alert opens (`[alerts.checkin]`, on by default):

    family     gets a check-in message with two one-tap links (notify/links.py): "她/他没事" closes the alert
               as no emergency (Outcome.NO_EMERGENCY, recorded), "联系不上" pushes the grid worker at once
    resident   answers "I'm fine" with the call button's cancel key (wire action `cancel`, which every
               call button already sends: no new action, old gateways stay valid); it closes the alert as no
               emergency too
    water      used again while asking: the rule clears the alert as it always does (counted as answered)
    staff      see the alert on the board at once (its state reads 正在询问家属); the ladder's first rung
               (minus the family, already asked) is pushed only when nobody answered within `wait_min`
               (30 min): at once at night (`night`, local time) and when there is no family to ask

The pending check-in rides on the escalation timer: while asking, `next_escalation_at` is the
check-in's deadline, so a restarted engine (or another engine) picks it up from the store; an answer
of "联系不上" made in the console process sets the deadline to now, and the engine, which asks the
store every few seconds, pushes staff. Every step is on the alert's trail and in `alert.checkin`,
`checkin_at`, `staff_pushed_at`, which `AlertStore.checkin_stats` counts: check-ins vs staff dispatches.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from alerts.types import Rule
from ground.section import Section

#: rules whose alerts ask first (a call-button press or a river never waits for an answer)
CHECKIN_RULES = frozenset({Rule.WATER_INACTIVITY})
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class CheckinConfig(Section):
    """The check-in step before staff are sent (`[alerts.checkin]`)."""

    enabled: bool = Field(True, description="ask the family and the resident first when a water-inactivity alert "
                                            "opens; off: staff are pushed at once, as for every other alert")
    wait_min: float = Field(30.0, ge=0, le=24 * 60, description="minutes to wait for an answer before the grid "
                                                                 "worker is pushed")
    night: str = Field("22:00-07:00", description="local hours (alerts.timezone) when staff are pushed at once "
                                                  "while the family is asked (nobody answers a phone asleep); "
                                                  "empty: never")

    @field_validator("night")
    @classmethod
    def _range(cls, v: str) -> str:
        if v and not _RANGE.match(v):
            raise ValueError(f"{v!r} is not a range of local hours like 22:00-07:00")
        return v

    def night_range(self) -> tuple[int, int] | None:
        m = _RANGE.match(self.night)
        if m is None:
            return None
        return int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])


def applies(cfg: CheckinConfig, rule: Rule) -> bool:
    """Whether alerts of this rule ask first."""
    return cfg.enabled and rule in CHECKIN_RULES


def is_night(cfg: CheckinConfig, tz: ZoneInfo, ms: int) -> bool:
    """Whether `ms` falls in the configured night (local time)."""
    rng = cfg.night_range()
    if rng is None:
        return False
    t = dt.datetime.fromtimestamp(ms / 1000, tz)
    minute, (start, end) = t.hour * 60 + t.minute, rng
    return start <= minute < end if start <= end else minute >= start or minute < end


def deadline(cfg: CheckinConfig, now: int) -> int:
    """When staff are pushed if nobody answers a check-in asked at `now`."""
    return now + int(cfg.wait_min * 60_000)
