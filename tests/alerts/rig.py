"""A scripted-clock rig: a real store (SQLite) with the sample registry, the engine and a manual clock."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from alerts.engine import Engine
from alerts.lifecycle import AlertChange, AlertView
from alerts.types import Rule
from ground.clock import ManualClock
from notify.recorder import StoreNotifier
from registry.csvio import import_rows
from shouwang.config import AlertsConfig
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from wire.models import Channel, Kind, Message, StateMessage

TZ = ZoneInfo("Asia/Shanghai")
KINDS = {"wm": Kind.WATER_METER, "btn": Kind.CALL_BUTTON, "rg": Kind.RIVER_GAUGE, "cam": Kind.CAMERA}


def local_ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp() * 1000)


#: Monday 2026-11-02 08:00 in Shanghai
MONDAY_8AM = local_ms(2026, 11, 2, 8)


class Rig:
    def __init__(self, db: Database, start: int = MONDAY_8AM, csv: str = SAMPLE_CSV, **cfg: Any) -> None:
        import_rows(db, csv)
        self.db = db
        self.clock = ManualClock(start)
        self.cfg = AlertsConfig(**cfg)
        self.engine = Engine(self.cfg, db, self.clock, notifier=StoreNotifier(db, self.cfg.timezone))
        self.store = self.engine.store
        self.seq = 0
        self.changes: list[AlertChange] = []

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def send(self, device: str, data: dict[str, Any], channel: Channel | None = None, gateway: str | None = None,
             ts: int | None = None) -> list[AlertChange]:
        """gateway: by default the device's own (the registry's), else gw-a for a device it does not know."""
        kind = KINDS[device.split("-")[0]]
        if gateway is None:
            info = self.engine.registry().devices.get(device)
            gateway = info.gateway if info is not None and info.gateway else "gw-a"
        if channel is None:
            channel = Channel.EVENT if kind in (Kind.CALL_BUTTON, Kind.CAMERA) else Channel.READING
        self.seq += 1
        msg = Message(gateway, device, channel, kind, ts if ts is not None else self.now, self.seq, data)
        out = self.engine.handle(msg)
        self.changes += out
        return out

    def state(self, gateway: str, online: bool) -> list[AlertChange]:
        out = self.engine.handle(StateMessage(gateway, online, None, {"online": online}))
        self.changes += out
        return out

    def advance(self, seconds: float, step_s: float = 60) -> list[AlertChange]:
        """Move the clock forward in steps, ticking the engine at each."""
        out: list[AlertChange] = []
        target = self.now + int(seconds * 1000)
        while self.now < target:
            self.clock.set(min(target, self.now + int(step_s * 1000)))
            out += self.engine.tick()
        self.changes += out
        return out

    def alerts(self, rule: Rule | None = None) -> list[AlertView]:
        return [a for a in self.store.all() if rule is None or a.rule is rule]

    def actions(self, rule: Rule) -> list[str]:
        return [c.action for c in self.changes if c.alert.rule is rule]
