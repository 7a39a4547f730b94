"""Device and gateway health: gateway offline (last will), device silent, battery low.

Silence is checked with numpy over every registered device, so a county's worth of
devices costs one vectorised comparison per check.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from alerts.rules.base import BaseRule, RuleContext
from alerts.types import Action, Clear, Raise, Rule, Severity
from registry.model import RegistrySnapshot
from registry.types import Level
from wire.models import Message, StateMessage

log = logging.getLogger(__name__)
CHECK_EVERY_MS = 10_000


class HealthRule(BaseRule):
    def __init__(self, ctx: RuleContext, start_ms: int) -> None:
        super().__init__(ctx)
        self.start_ms = start_ms
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.last_seen = np.zeros(0, dtype=np.int64)
        self.limit_ms = np.zeros(0, dtype=np.int64)
        self.silent = np.zeros(0, dtype=bool)
        self.battery_low: dict[str, int] = {}  # device -> ts it went low
        self.offline_since: dict[str, int] = {}
        self.offline_alerted: set[str] = set()
        self._next_check = 0
        self.registry_changed(ctx.registry())

    def registry_changed(self, reg: RegistrySnapshot) -> None:
        """Re-index devices, keeping what we know of those still registered."""
        ids = sorted(reg.devices)
        last = np.full(len(ids), self.start_ms, dtype=np.int64)
        silent = np.zeros(len(ids), dtype=bool)
        for i, d in enumerate(ids):
            j = self.index.get(d)
            if j is not None:
                last[i], silent[i] = self.last_seen[j], self.silent[j]
        interval = np.array([reg.devices[d].interval_s or self.cfg.default_interval_s for d in ids], dtype=np.int64)
        self.ids, self.index = ids, {d: i for i, d in enumerate(ids)}
        self.last_seen, self.silent = last, silent
        self.limit_ms = (interval * 1000 * self.cfg.silent_factor).astype(np.int64)

    def seen(self, device: str, at: int) -> int | None:
        """Record that a device spoke; returns its index if it is registered."""
        i = self.index.get(device)
        if i is not None and at > self.last_seen[i]:
            self.last_seen[i] = at
        return i

    def on_message(self, msg: Message, now: int) -> list[Action]:
        out: list[Action] = []
        i = self.seen(msg.device, now)
        if i is not None and self.silent[i]:
            self.silent[i] = False
            out.append(Clear(Rule.DEVICE_SILENT, msg.device, "reporting_again", now))
        volts = msg.data.get("battery_v")
        if volts is not None:
            out += self._battery(msg, float(volts), now)
        return out

    def _battery(self, msg: Message, volts: float, now: int) -> list[Action]:
        low_since = self.battery_low.get(msg.device)
        if volts < self.cfg.battery_low_v and low_since is None:
            self.battery_low[msg.device] = msg.ts
            dev = self.ctx.registry().devices.get(msg.device)
            return [Raise.of(Rule.BATTERY_LOW, msg.device, Severity.MAINTENANCE, dev.place if dev else "",
                             f"low-{msg.ts}", msg.ts, reason="below_threshold", device=msg.device,
                             kind=msg.kind.value, battery_v=round(volts, 3), threshold_v=self.cfg.battery_low_v)]
        if volts >= self.cfg.battery_ok_v and low_since is not None:
            del self.battery_low[msg.device]
            return [Clear(Rule.BATTERY_LOW, msg.device, "battery_ok", now)]
        return []

    def on_state(self, msg: StateMessage, now: int) -> list[Action]:
        if not msg.online:
            self.offline_since.setdefault(msg.gateway, msg.ts or now)
            return []
        self.offline_since.pop(msg.gateway, None)
        if msg.gateway in self.offline_alerted:
            self.offline_alerted.discard(msg.gateway)
            return [Clear(Rule.GATEWAY_OFFLINE, msg.gateway, "back_online", now)]
        return []

    def _gateway_place(self, gateway: str) -> str:
        reg = self.ctx.registry()
        grids = Counter(reg.ancestor(d.place, Level.GRID) or reg.ancestor(d.place, Level.COMMUNITY) or ""
                        for d in reg.devices_on(gateway))
        grids.pop("", None)
        return grids.most_common(1)[0][0] if grids else ""

    def tick(self, now: int) -> list[Action]:
        out: list[Action] = []
        limit = self.cfg.gateway_offline_min * 60_000
        for gw, since in self.offline_since.items():
            if gw not in self.offline_alerted and now - since >= limit:
                self.offline_alerted.add(gw)
                out.append(Raise.of(Rule.GATEWAY_OFFLINE, gw, Severity.MAINTENANCE, self._gateway_place(gw),
                                    f"offline-{since}", now, reason="last_will", gateway=gw, since=since,
                                    minutes=round((now - since) / 60_000, 1), limit_min=self.cfg.gateway_offline_min))
        if now < self._next_check:
            return out
        self._next_check = now + CHECK_EVERY_MS
        due = np.flatnonzero(((now - self.last_seen) > self.limit_ms) & ~self.silent)
        if len(due):
            self.silent[due] = True
            reg = self.ctx.registry()
            for i in due.tolist():
                d = self.ids[i]
                dev = reg.devices.get(d)
                last = int(self.last_seen[i])
                out.append(Raise.of(Rule.DEVICE_SILENT, d, Severity.MAINTENANCE, dev.place if dev else "",
                                    f"silent-{last}", now, reason="no_report", device=d, kind=dev.kind if dev else "",
                                    last_seen=last, minutes=round((now - last) / 60_000, 1),
                                    limit_min=round(int(self.limit_ms[i]) / 60_000, 1)))
        return out
