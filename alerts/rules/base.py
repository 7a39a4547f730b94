"""What every rule shares: the context (config, registry, local time) and the rule interface."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.settings import AlertsConfig
from alerts.types import Action
from ground.errors import ConfigError
from registry.model import RegistrySnapshot
from wire.models import Message, StateMessage


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Configuration, the current registry and local-time helpers, shared by all rules."""

    cfg: AlertsConfig
    registry: Callable[[], RegistrySnapshot]
    tz: ZoneInfo

    @classmethod
    def create(cls, cfg: AlertsConfig, registry: Callable[[], RegistrySnapshot]) -> RuleContext:
        try:
            tz = ZoneInfo(cfg.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"alerts.timezone: unknown time zone {cfg.timezone!r}") from None
        return cls(cfg, registry, tz)

    def local(self, ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, self.tz)

    def minute_of_day(self, ms: int) -> int:
        t = self.local(ms)
        return t.hour * 60 + t.minute

    def utc_offset_ms(self, ms: int) -> int:
        off = self.local(ms).utcoffset()
        return int(off.total_seconds() * 1000) if off else 0


class Rule(Protocol):
    """A rule reacts to device messages, gateway presence and clock ticks."""

    def on_message(self, msg: Message, now: int) -> list[Action]: ...

    def on_state(self, msg: StateMessage, now: int) -> list[Action]: ...

    def tick(self, now: int) -> list[Action]: ...

    def registry_changed(self, reg: RegistrySnapshot) -> None: ...


class BaseRule:
    """Defaults: a rule ignores what it does not override."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.cfg = ctx.cfg

    def on_message(self, msg: Message, now: int) -> list[Action]:
        return []

    def on_state(self, msg: StateMessage, now: int) -> list[Action]:
        return []

    def tick(self, now: int) -> list[Action]:
        return []

    def registry_changed(self, reg: RegistrySnapshot) -> None:
        return None


class RuleSet:
    """All rules, fed in a fixed order."""

    def __init__(self, rules: list[BaseRule]) -> None:
        self.rules = rules

    def on_message(self, msg: Message, now: int) -> list[Action]:
        out: list[Action] = []
        for r in self.rules:
            out += r.on_message(msg, now)
        return out

    def on_state(self, msg: StateMessage, now: int) -> list[Action]:
        out: list[Action] = []
        for r in self.rules:
            out += r.on_state(msg, now)
        return out

    def tick(self, now: int) -> list[Action]:
        out: list[Action] = []
        for r in self.rules:
            out += r.tick(now)
        return out

    def registry_changed(self, reg: RegistrySnapshot) -> None:
        for r in self.rules:
            r.registry_changed(reg)

    def get(self, kind: type) -> BaseRule:
        return next(r for r in self.rules if isinstance(r, kind))
