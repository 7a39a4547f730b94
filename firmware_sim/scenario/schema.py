"""The scenario file schema (TOML, validated by pydantic; unknown keys are errors).

docs/simulator.md describes every table; this module is the authority. Times of day are
local to `scenario.timezone`; durations are strings such as "90s", "5m", "2h30m", "1d".
Personal data may appear only under `registry` tables (for the alerts registry); the
simulator never puts it into topics, ids, payloads or logs.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from firmware_sim.timeparse import parse_clock, parse_duration
from wire.ids import ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Prefix = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")]
#: a duration in milliseconds, written "90s", "5m", "2h30m", "1d"
Duration = Annotated[int, BeforeValidator(parse_duration)]
#: a local time of day in milliseconds after midnight, written "21:30"
ClockTime = Annotated[int, BeforeValidator(parse_clock)]
Probability = Annotated[float, Field(ge=0, le=1)]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(StrEnum):
    ELDERLY = "elderly"
    FAMILY = "family"


class Meta(_M):
    """[scenario]: name, seed, calendar."""

    name: Id
    description: str = ""
    seed: int = Field(1, ge=0, le=2**63 - 1, description="default seed; `sim run --seed` overrides it")
    timezone: str = Field("Asia/Shanghai", description="zone of every time of day in the file")
    days: int = Field(1, ge=1, le=366, description="length of the scripted window in days")
    start: dt.date | None = Field(None, description="first local day; default: `days` days before today")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v


class Person(_M):
    """A (fake) person for the registry only."""

    name: str = ""
    phone: str = ""
    relation: str = ""


class Registry(_M):
    """Registry-only details of a household; never used in traffic or logs."""

    name: str = ""
    address: str = ""
    phone: str = ""
    contacts: list[Person] = []


class Community(_M):
    """[community]: the community (社区) and its street (街道), for the registry."""

    id: Id = "community-01"
    name: str = ""
    street: str = ""


class Grid(_M):
    """[[grids]]: a grid (网格) with its unique code."""

    id: Id
    name: str = ""


class Building(_M):
    """[[buildings]]: a building (楼栋), its grid and the gateway that serves it."""

    id: Id
    grid: Id
    gateway: Id
    name: str = ""


class BuildingGroup(_M):
    """[[building_groups]]: `count` buildings bld-0001..., each with its own gateway gw-0001..."""

    id_prefix: Prefix = "bld-"
    gateway_prefix: Prefix = "gw-"
    first: int = Field(1, ge=0)
    count: int = Field(ge=1, le=10_000)
    grids: list[Id] = Field(min_length=1, description="buildings are spread over these grids in turn")


class Meter(_M):
    """A household's water meter."""

    id: Id
    resolution_l: float = Field(1.0, gt=0, le=100, description="register step in litres (1 L, 10 L ...)")
    interval: Duration = Field(300_000, ge=10_000, description="time between readings")
    status_interval: Duration = Field(86_400_000, ge=60_000, description="time between status heartbeats")
    leak_detect: bool = Field(True, description="readings carry leak_flag (set after 1 h of unbroken flow)")


class Button(_M):
    """A household's one-touch call button."""

    id: Id
    heartbeat: Duration = Field(86_400_000, ge=60_000)
    heartbeat_jitter: Duration = Field(600_000, ge=0)
    battery_v: float = Field(3.0, gt=0, le=10)
    battery_decay_v_per_day: float = Field(0.0005, ge=0, le=1)
    battery_low_v: float = Field(2.4, gt=0, le=10, description="what `battery_low` drops the battery below")
    accidental_press_per_day: Probability = Field(0.005, description="chance of a press cancelled seconds later")
    test_every_days: int = Field(30, ge=0, description="a `test` press every N days; 0 = never")


class Household(_M):
    """[[households]]: one household, its routine and its devices."""

    id: Id
    building: Id
    profile: Profile = Profile.ELDERLY
    members: int | None = Field(None, ge=1, le=10, description="default 1 (elderly) or 3 (family)")
    solitary_elderly: bool = Field(False, description="flag for the water-inactivity rule")
    bedtime: ClockTime = Field(77_400_000, description="usual local bedtime, e.g. \"21:30\"")
    sleep_hours: float = Field(8.0, ge=4, le=12)
    naps: bool | None = Field(None, description="afternoon nap; default yes for elderly")
    inactivity_window_h: float = Field(7.0, ge=1, le=48, description="per-household window of the rule")
    away_prob: Probability = Field(0.0, description="chance per day of leaving for 1-3 days")
    night_toilet: float = Field(-1.0, ge=-1, le=6, description="mean night-time toilet visits; -1 = by profile")
    meter: Meter | None = None
    button: Button | None = None
    registry: Registry | None = None


#: a value, or [low, high] to draw one per household
Range = float | tuple[float, float]
ClockRange = ClockTime | tuple[ClockTime, ClockTime]


class HouseholdGroup(_M):
    """[[household_groups]]: `count` similar households with ids hh-0001..., drawn per household."""

    id_prefix: Prefix = "hh-"
    meter_prefix: Prefix = "wm-"
    button_prefix: Prefix = "cb-"
    first: int = Field(1, ge=0)
    count: int = Field(ge=1, le=100_000)
    buildings: list[Id] = Field(default=[], description="spread over these in turn; empty = all buildings")
    profile: Profile = Profile.FAMILY
    members: int | tuple[int, int] | None = None
    solitary_elderly: bool = False
    bedtime: ClockRange = (77_400_000, 84_600_000)  # 21:30 .. 23:30
    sleep_hours: Range = (7.0, 9.0)
    naps: bool | None = None
    inactivity_window_h: Range = (6.0, 8.0)
    away_prob: Probability = 0.0
    night_toilet: float = Field(-1.0, ge=-1, le=6)
    resolution_l: float = Field(1.0, gt=0, le=100)
    interval: Duration = Field(300_000, ge=10_000)
    status_interval: Duration = Field(86_400_000, ge=60_000)
    leak_detect: bool = True
    call_button: bool = Field(False, description="give every household of the group a call button")
    button_heartbeat: Duration = Field(86_400_000, ge=60_000)
    accidental_press_per_day: Probability = 0.005


class RiverGauge(_M):
    """[[river_gauges]]: a river stage station."""

    id: Id
    gateway: Id
    grid: Id | None = None
    interval: Duration = Field(300_000, ge=1000)
    interval_above_warning: Duration | None = Field(None, ge=1000, description="faster reporting at high water")
    status_interval: Duration = Field(3_600_000, ge=60_000)
    base_level_m: float = Field(1.0, ge=-100, le=1000)
    daily_amplitude_m: float = Field(0.02, ge=0, le=10)
    noise_m: float = Field(0.005, ge=0, le=5)
    spike_prob: Probability = 0.0
    dropout_prob: Probability = 0.0
    warning_level_m: float = Field(description="警戒水位, for the registry and the labels")
    guaranteed_level_m: float = Field(description="保证水位")
    mount_height_m: float | None = Field(None, gt=0, le=1000, description="radar mount height: adds raw_distance_m")
    name: str = Field("", description="station name, registry only")


class Camera(_M):
    """[[cameras]]: a camera with analytics zones."""

    id: Id
    gateway: Id
    grid: Id | None = None
    zones: list[Id] = Field(min_length=1)
    lines: list[Id] = Field(default=[], description="zones that are tripwires (line_crossing events)")
    activity_per_hour: float = Field(2.0, ge=0, le=3600, description="daytime background activity")
    night_factor: float = Field(0.2, ge=0, le=10, description="night activity relative to daytime")
    person_share: Probability = 0.3
    pulse_share: Probability = 0.3
    burst_prob: Probability = 0.05
    status_interval: Duration = Field(3_600_000, ge=60_000)


class CameraGroup(_M):
    """[[camera_groups]]: `count` cameras cam-0001..., spread over `gateways` in turn, all alike."""

    id_prefix: Prefix = "cam-"
    first: int = Field(1, ge=0)
    count: int = Field(ge=1, le=10_000)
    gateways: list[Id] = Field(min_length=1)
    zones: list[Id] = Field(min_length=1)
    lines: list[Id] = []
    activity_per_hour: float = Field(2.0, ge=0, le=3600)
    night_factor: float = Field(0.2, ge=0, le=10)
    person_share: Probability = 0.3
    pulse_share: Probability = 0.3
    burst_prob: Probability = 0.05
    status_interval: str = Field("1h", description="a duration string")


# --- incidents (scripted; each becomes a ground-truth label) ----------------------


class _Incident(_M):
    """When: `at` (a time of day on `day` of the scripted window: `sim run`, `evaluate`), or `after` (an offset from
    the start of a live run, `sim run --live` under `shouwang up`). Each plays only in its own kind of run."""

    day: int = Field(0, ge=0, description="day index from the scenario start (with `at`)")
    at: ClockTime | None = Field(None, description="local time of day on `day` of the scripted window")
    after: Duration | None = Field(None, ge=0, description="offset from the start of a live run (live runs only)")
    note: str = ""

    @property
    def live(self) -> bool:
        """Whether this incident plays in live runs (timed from their start) rather than in the scripted days."""
        return self.at is None

    @model_validator(mode="after")
    def _one_time(self) -> _Incident:
        given = [k for k in ("at", "after", "window_ends_after") if getattr(self, k, None) is not None]
        if len(given) != 1:
            raise ValueError("give the incident's time as exactly one of `at` (time of day) or `after` (offset from "
                             "the start of a live run)" + (", or `window_ends_after` for a fall"
                                                           if self.type == "fall" else "")
                             + (f"; got {' and '.join(given)}" if given else ""))
        return self


class Fall(_Incident):
    """All water use of the household stops at the time (the resident fell)."""

    type: Literal["fall"]
    household: Id
    window_ends_after: Duration | None = Field(
        None, ge=0, description="live runs: place the fall before the start so that the household's inactivity "
                                "window (awake hours since its last use, sleep hours not counted) runs out this "
                                "long after the start; a hand-wash just before the fall marks the last use")


class TapLeftRunning(_Incident):
    type: Literal["tap_left_running"]
    household: Id
    duration: Duration = Field(10_800_000, ge=60_000)
    flow_lpm: float = Field(6.0, gt=0, le=100)


class SlowLeak(_Incident):
    type: Literal["slow_leak"]
    household: Id
    duration: Duration | None = Field(None, ge=60_000, description="empty = until the end")
    flow_lpm: float = Field(0.3, gt=0, le=10)


class Away(_Incident):
    """The household is away (no water use): a case for away mode, not an emergency."""

    type: Literal["away"]
    household: Id
    duration: Duration = Field(ge=3_600_000)


class ButtonPress(_Incident):
    type: Literal["button_press"]
    button: Id
    long: bool = Field(False, description="long press instead of press")
    repeat: int = Field(0, ge=0, le=20, description="further presses while nobody comes")
    repeat_every: Duration = Field(60_000, ge=1000)
    cancel_after: Duration | None = Field(None, ge=1000, description="the resident cancels: a false alarm")


class BatteryLow(_Incident):
    type: Literal["battery_low"]
    button: Id


class DeviceSilent(_Incident):
    """The device stops sending anything (dead, out of range)."""

    type: Literal["device_silent"]
    device: Id
    duration: Duration | None = Field(None, ge=60_000, description="empty = until the end")


class Typhoon(_Incident):
    """A flood wave at a gauge: rise from `at`, hold the peak, recede."""

    type: Literal["typhoon"]
    gauge: Id
    peak_m: float = Field(ge=-100, le=1000)
    rise: Duration = Field(21_600_000, ge=60_000)
    hold: Duration = Field(7_200_000, ge=0)
    recession: Duration = Field(43_200_000, ge=60_000, description="time to fall back to ~5 % above base")


class StuckSensor(_Incident):
    type: Literal["stuck_sensor"]
    gauge: Id
    duration: Duration = Field(ge=60_000)


class GaugeDropout(_Incident):
    type: Literal["gauge_dropout"]
    gauge: Id
    duration: Duration = Field(ge=60_000)


class Intrusion(_Incident):
    type: Literal["intrusion"]
    camera: Id
    zone: Id
    duration: Duration = Field(120_000, ge=1000)
    score: float = Field(0.92, ge=0, le=1)


class Tamper(_Incident):
    type: Literal["tamper"]
    camera: Id
    duration: Duration | None = Field(None, ge=1000, description="empty = a single pulse")


class GatewayOutage(_Incident):
    """The gateway's uplink is down; its messages arrive late (store and forward)."""

    type: Literal["gateway_outage"]
    gateway: Id
    duration: Duration = Field(ge=10_000)


Incident = Annotated[
    Fall | TapLeftRunning | SlowLeak | Away | ButtonPress | BatteryLow | DeviceSilent | Typhoon | StuckSensor
    | GaugeDropout | Intrusion | Tamper | GatewayOutage,
    Field(discriminator="type"),
]


class ScenarioFile(_M):
    """A whole scenario file."""

    scenario: Meta
    community: Community = Community()
    grids: list[Grid] = Field(min_length=1)
    buildings: list[Building] = []
    building_groups: list[BuildingGroup] = []
    households: list[Household] = []
    household_groups: list[HouseholdGroup] = []
    river_gauges: list[RiverGauge] = []
    cameras: list[Camera] = []
    camera_groups: list[CameraGroup] = []
    incidents: list[Incident] = []
