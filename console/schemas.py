"""Request and response models of the JSON API (they make the OpenAPI spec precise)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.lifecycle import AlertView
from alerts.types import AlertState, Outcome, Rule, Severity
from console.auth import USERNAME_RE
from console.scope import Action, UserRole

MAX_MS = 2**53  # JavaScript-safe integer milliseconds
ID_MAX = 2**31 - 1  # alert ids are 32-bit in PostgreSQL


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: int
    username: str
    role: UserRole
    scopes: list[str]
    contact: str | None
    display_name: str
    language: str
    active: bool = True


class LoginOut(BaseModel):
    token: str = Field(description="send as `Authorization: Bearer <token>` (or use the session cookie)")
    expires_at: int
    user: UserOut


class AlertOut(BaseModel):
    id: int
    rule: Rule
    severity: Severity
    state: AlertState
    outcome: Outcome | None
    subject: str
    place: str
    grid: str
    location: str
    summary: str
    opened_at: int
    last_event_at: int
    merged_count: int
    escalation_step: int
    acknowledged_at: int | None
    acknowledged_by: str | None
    dispatched_at: int | None
    dispatched_to: str | None
    resolved_at: int | None
    closed_at: int | None
    feedback: str | None
    rating: int | None
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None
    # for people, in the reader's language (`language`): the names before the codes above
    language: str = Field("zh", description="the language of title, sentence and the names below")
    title: str = Field("", description="what kind of alert, e.g. 一键呼叫")
    sentence: str = Field("", description="what happened, from the alert's facts, e.g. 按下一键呼叫")
    state_word: str = Field("", description="the state as people read it, with how it ended (已处置 by a person, "
                                            "已自动解除 by the engine, 误报)")
    place_name: str = Field("", description="the place as people name it: building and flat (3号楼 2单元 501), a "
                                            "station's or zone's name; the code only if the registry has no name")
    resident: str = Field("", description="who lives there (households; not shown to technicians)")
    resident_phone: str = Field("", description="the household's phone, for a tel: link (not shown to technicians)")
    area: str = Field("", description="the named community and grid the place lies in")
    dispatched_to_name: str = Field("", description="the name of the person sent (detail only)")

    @classmethod
    def of(cls, a: AlertView, location: str, **present: str) -> AlertOut:
        return cls(**present, id=a.id, rule=a.rule, severity=a.severity, state=a.state, outcome=a.outcome,
                   subject=a.subject, place=a.place, grid=a.grid, location=location, summary=a.summary, opened_at=a.opened_at,
                   last_event_at=a.last_event_at, merged_count=a.merged_count, escalation_step=a.escalation_step,
                   acknowledged_at=a.acknowledged_at, acknowledged_by=a.acknowledged_by,
                   dispatched_at=a.dispatched_at, dispatched_to=a.dispatched_to, resolved_at=a.resolved_at,
                   closed_at=a.closed_at, feedback=a.feedback, rating=a.rating,
                   time_to_acknowledge_s=a.time_to_acknowledge_s, time_to_resolve_s=a.time_to_resolve_s)


class AlertList(BaseModel):
    items: list[AlertOut]
    count: int


class ContactOut(BaseModel):
    code: str
    role: str
    name: str
    place: str
    language: str
    phone: str | None = Field(None, description="digits with an optional leading + (for a tel: link); never "
                                                "given to technicians; null if unknown or not for this user")


class TimelineEntry(BaseModel):
    at: int
    action: str
    actor: str
    channel: str
    from_state: str | None
    to_state: str | None
    note: str
    actor_name: str = Field("", description="the actor's name (a contact's or user's), or the actor code")
    text: str = Field("", description="what the entry says in the reader's language; a person's own note verbatim")


class AttemptOut(BaseModel):
    at: int
    channel: int
    scheme: str
    ok: bool
    error: str = Field(description="what the channel answered (its library's words, English)")
    duration_ms: int
    digest: bool
    error_code: str = Field("", description="the error as a code (notify.texts.ATTEMPT_ERRORS): unreachable, "
                                            "not_authorized, not_found, service_error, rejected, bad_address, ...")
    error_text: str = Field("", description="the error in the reader's language")


class DeliveryOut(BaseModel):
    id: int
    at: int
    event: str
    step: int
    contact: str
    role: str
    status: str
    language: str
    title: str
    attempts: list[AttemptOut]
    contact_name: str = Field("", description="the contact's name, or the code if the registry has none")


class AlertDetail(BaseModel):
    alert: AlertOut
    contacts: list[ContactOut]
    timeline: list[TimelineEntry]
    deliveries: list[DeliveryOut]
    actions: list[Action] = Field(description="what this user may do to the alert now")


class NoteIn(_In):
    note: str = Field("", max_length=2000)


class DispatchIn(_In):
    to: str = Field(min_length=1, max_length=64, description="contact code or username of the person sent")
    note: str = Field("", max_length=2000)


class CloseIn(_In):
    feedback: str = Field(min_length=1, max_length=4000)
    rating: int | None = Field(None, ge=1, le=5)
    false_alarm: bool = False


class DeviceOut(BaseModel):
    id: str
    kind: str
    gateway: str
    place: str
    location: str
    last_seen: int | None
    battery_v: float | None
    rssi_dbm: float | None
    health: Literal["ok", "silent", "low_battery", "unknown"]
    open_alerts: list[int]
    place_name: str = Field("", description="the place as people name it (building and flat, station, zone)")
    area: str = Field("", description="the named community and grid")


class DeviceList(BaseModel):
    items: list[DeviceOut]
    count: int
    readings_available: bool


class GatewayOut(BaseModel):
    id: str
    devices: int
    online: bool | None
    since: int | None
    open_alerts: list[int]


class GatewayList(BaseModel):
    items: list[GatewayOut]
    readings_available: bool


class StationOut(BaseModel):
    code: str
    name: str
    location: str
    device: str | None
    warning_m: float
    guaranteed_m: float
    rise_m_per_h: float
    level_m: float | None
    level_at: int | None
    open_alerts: list[int]
    area: str = Field("", description="the named community and grid")


class StationList(BaseModel):
    items: list[StationOut]
    readings_available: bool


class LevelSeries(BaseModel):
    station: StationOut
    since: int
    points: list[tuple[int, float]]
    readings_available: bool


class HouseholdOut(BaseModel):
    code: str
    location: str
    place_name: str = Field("", description="building and flat as people say it")
    resident: str = Field("", description="who lives there")
    resident_phone: str = Field("", description="the household's phone")
    area: str = Field("", description="the named community and grid")
    flags: list[str]
    away_until: dt.date | None
    meter: str | None
    last_reading: int | None
    last_water_use: int | None
    total_l: float | None
    open_alerts: list[AlertOut]
    contacts: list[ContactOut]
    readings_available: bool


class RuleStatsOut(BaseModel):
    rule: str
    alerts: int
    acknowledged: int
    resolved: int
    false_alarms: int
    tta_median_s: float | None
    tta_p95_s: float | None
    ttr_median_s: float | None
    ttr_p95_s: float | None


class StatsOut(BaseModel):
    since: int
    rules: list[RuleStatsOut]


class NodeOut(BaseModel):
    code: str
    level: str
    parent: str | None
    name: str


class ImportIn(_In):
    csv: str = Field(min_length=1, max_length=5_000_000, description="registry CSV (docs/alerts.md format)")
    dry_run: bool = False


class ImportOut(BaseModel):
    rows: int
    created: int
    updated: int
    errors: list[str]
    dry_run: bool


class AwayIn(_In):
    until: dt.date | None = Field(None, description="away until this day (inclusive); null switches it off")


class UserIn(_In):
    username: str = Field(pattern=USERNAME_RE)
    password: str = Field(min_length=8, max_length=256)
    role: UserRole
    scopes: list[str] = Field(min_length=1, max_length=200)
    contact: str | None = Field(None, max_length=64)
    display_name: str = Field("", max_length=200)
    language: Literal["zh", "en"] = "zh"


class AuditOut(BaseModel):
    at: int
    actor: str
    role: str
    action: str
    target: str
    detail: str
