"""The alerts engine's section of the config (`[alerts]`: rules, lifecycle, escalation), and what the engine's
service needs of the assembled config. Notifications have their own section (`[notify]`, notify/settings.py),
assembled beside this one by the top (shouwang/config.py); the engine only holds the notifier it is given."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import Field, SecretStr

from alerts.checkin import CheckinConfig
from broker_config.settings import SERVICE_CLIENT_ID, BrokerSettings
from ground.section import Section
from storage.settings import InfluxConfig


class EscalationStep(Section):
    """One rung of an escalation ladder: who is told, how long after the alert opened."""

    after_min: float = Field(0, ge=0, description="minutes after opening, if still unacknowledged")
    roles: list[Literal["grid_worker", "family", "community_duty", "street_duty"]] = Field(
        description="contact roles along the subject's place in the hierarchy")


def _ladder(*steps: tuple[float, list[str]]) -> list[EscalationStep]:
    return [EscalationStep(after_min=a, roles=r) for a, r in steps]  # type: ignore[arg-type]


class AlertsConfig(Section):
    """Rules engine, alert lifecycle and escalation (alerts/, docs/alerts.md)."""

    database_url: SecretStr = Field(SecretStr(""), description="SQLAlchemy URL, e.g. postgresql+psycopg://u:p@h/db; "
                                                               "empty = SQLite file <state>/alerts/alerts.db")
    client_id: str = Field("svc_alerts", pattern=SERVICE_CLIENT_ID,
                           description="fixed MQTT client id: the engine's persistent session lives under it")
    session_expiry_s: int = Field(7 * 86400, ge=0)
    tick_s: float = Field(1.0, gt=0, le=60, description="how often timers (inactivity, silence, escalation) run")
    lease_ttl_s: float = Field(5.0, ge=1, le=120, description="PostgreSQL store: an active engine not heard of "
                                                              "this long (dead, paused, cut off) is replaced by a "
                                                              "standby (alerts/lease.py)")
    lease_renew_s: float = Field(1.0, gt=0, le=30, description="how often the active engine renews its leases and "
                                                               "a standby tries to take one")
    partitions: int = Field(1, ge=1, le=256, description="PostgreSQL store: gateways cut into this many partitions, "
                                                         "shared out among the running engines (alerts/partition.py);"
                                                         " 1 = one active engine, the others standing by")
    metrics_host: str = Field("127.0.0.1", description="listen address of the engine's Prometheus /metrics")
    metrics_port: int = Field(0, ge=0, le=65535, description="port of the engine's Prometheus /metrics; 0 = not served")
    timezone: str = Field("Asia/Shanghai", description="local time of sleep hours, quiet hours and camera "
                                                      "schedules (IANA name)")
    publish_mqtt: bool = Field(True, description="publish alert events under sw/alerts/v1/...")
    write_influx: bool = Field(True, description="write alert events to the InfluxDB measurement 'alert'")
    grid_tag_max: int = Field(5000, ge=0, description="tag alert points with the grid code only while the "
                                                      "registry has at most this many grids (series cardinality)")
    cancel_window_s: int = Field(120, ge=0, description="a call-button cancel this soon after the press closes "
                                                        "the alert as a false alarm")
    silent_factor: float = Field(3.0, gt=1, description="a device is silent after this many reporting intervals")
    default_interval_s: int = Field(900, ge=1, description="reporting/heartbeat interval of devices the registry "
                                                           "gives none")
    battery_low_v: float = Field(2.5, gt=0, description="battery below this raises a maintenance alert")
    battery_ok_v: float = Field(2.7, gt=0, description="... and it clears at or above this (hysteresis)")
    gateway_offline_min: float = Field(5.0, ge=0, description="gateway offline (last will) this long -> alert")
    flow_continuous_h: float = Field(2.0, gt=0, description="uninterrupted water flow this long -> alert")
    inactivity_hard_cap_h: float = Field(16.0, gt=0, description="no water use this long alarms regardless "
                                                                 "of sleep hours or learned routine")
    routine_min_days: int = Field(7, ge=1, description="days of history before a learned routine is trusted")
    routine_false_per_month: float = Field(0.5, gt=0, description="learned limit: the silence (awake hours) a "
                                                                 "household's own tail of silences runs past this "
                                                                 "often a month ...")
    routine_factor: float = Field(1.1, ge=1, description="... or, for a silence begun within 90 min of the hour "
                                                         "a silence began on the same weekday in 3 of the last 4 "
                                                         "weeks, factor x that silence + margin, if longer ...")
    routine_margin_min: float = Field(30.0, ge=0)
    routine_floor_h: float = Field(6.0, gt=0, description="... clipped into bounds staff set: never below this "
                                                          "(tightening; the household's window if lower) ...")
    routine_evening_share: float = Field(0.98, gt=0, le=1.01, description="a household using water in the 3 h "
                                                                       "before its bedtime on this share of days "
                                                                       "(remembered over about two months; 0.98: "
                                                                       "a silent evening about once in two months "
                                                                       "at most, the false-alarm budget): a "
                                                                       "silence over that whole evening counts "
                                                                       "its sleep hours too ...")
    routine_evening_min_days: int = Field(60, ge=1, description="... once this many clean days are known (a share "
                                                                "near 1/60 a day cannot be told from fewer)")
    inactivity_max_h: float | None = Field(None, gt=0, description="... and never above the household's window, "
                                                                   "or the maximum staff approved for it (the "
                                                                   "registry's max_window_h), else this")
    river_hysteresis_m: float = Field(0.10, ge=0, description="a stage clears only below its line minus this")
    river_clear_hold_min: float = Field(30.0, ge=0, description="... for this long")
    river_spike_m: float = Field(0.30, gt=0, description="a jump larger than this needs a second sample to agree")
    river_rate_window_min: float = Field(60.0, gt=0, description="window of the robust rate-of-rise fit")
    river_forecast_lead_min: float = Field(120.0, ge=0, description="warn when a line is forecast this soon")
    river_stuck_min: float = Field(25.0, gt=0, description="an unchanged level this long ...")
    river_stuck_samples: int = Field(5, ge=2, description="... over at least this many readings -> stuck sensor")
    camera_cooldown_s: int = Field(600, ge=0, description="repeat triggers of one (camera, zone, type) within "
                                                          "this are duplicates")
    camera_confirm_s: int = Field(120, ge=0, description="a second zone or camera within this confirms")
    camera_min_score: float = Field(0.7, ge=0, le=1, description="analytics triggers scored below this are "
                                                                 "ignored (shadows, animals, rain)")
    escalation: dict[Literal["critical", "major", "warning", "maintenance"], list[EscalationStep]] = Field(
        default_factory=lambda: {
            "critical": _ladder((0, ["grid_worker", "family"]), (5, ["community_duty"]), (15, ["street_duty"])),
            "major": _ladder((0, ["grid_worker", "family"]), (15, ["community_duty"]), (60, ["street_duty"])),
            "warning": _ladder((0, ["grid_worker"]), (60, ["community_duty"])),
            "maintenance": _ladder((0, ["grid_worker"]), (24 * 60, ["community_duty"])),
        },
        description="per severity: steps of (after_min, roles); stops once acknowledged")
    checkin: CheckinConfig = Field(default_factory=CheckinConfig,
                                   description="ask the family and the resident before staff are pushed "
                                               "(water inactivity; alerts/checkin.py)")


class AlertsSettings(BrokerSettings, Protocol):
    """What the alerts engine and its store need of the assembled config."""

    mode: str
    influx: InfluxConfig
    alerts: AlertsConfig
