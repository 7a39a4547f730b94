"""Camera triggers: zone and schedule rules, cooldown per (camera, zone, type), confirmation, tamper."""

from __future__ import annotations

import logging
from collections import deque

from alerts.rules.base import BaseRule, RuleContext
from alerts.types import Action, Clear, Raise, Rule, Severity
from registry.model import in_daily_range
from registry.types import Level
from wire.models import Channel, Kind, Message

log = logging.getLogger(__name__)


class CameraRule(BaseRule):
    def __init__(self, ctx: RuleContext) -> None:
        super().__init__(ctx)
        self.last_trigger: dict[tuple[str, str, str], int] = {}
        self.recent: dict[str, deque[tuple[int, str, str, str]]] = {}  # site -> (ts, camera, zone, episode)
        self.duplicates = 0
        self.out_of_schedule = 0
        self.low_score = 0

    def on_message(self, msg: Message, now: int) -> list[Action]:
        if msg.kind is not Kind.CAMERA or msg.channel is not Channel.EVENT:
            return []
        reg = self.ctx.registry()
        dev = reg.devices.get(msg.device)
        typ, state = msg.data["type"], msg.data["state"]
        ev_zone = msg.data.get("zone")
        zone = reg.zone_for(msg.device, ev_zone) or (dev.place if dev else "")
        if typ == "tamper":
            if state == "end":
                return [Clear(Rule.CAMERA_TAMPER, msg.device, "tamper ended", now)]
            return [Raise(Rule.CAMERA_TAMPER, msg.device, Severity.MAINTENANCE, zone, f"tamper-{msg.ts}",
                          f"camera {msg.device} tampered or blocked", {"camera": msg.device}, msg.ts)]
        if state == "end":
            return []
        zinfo = reg.zones.get(zone)
        if zinfo is None:
            log.warning("camera %s trigger in zone %r which is not in the registry; ignored", msg.device,
                        (ev_zone or "")[:40])
            return []
        if typ not in zinfo.types:
            return []
        score = msg.data.get("score")
        if score is not None and score < self.cfg.camera_min_score:
            self.low_score += 1
            return []
        if not in_daily_range(self.ctx.minute_of_day(msg.ts), zinfo.schedule):
            self.out_of_schedule += 1
            return []
        key = (msg.device, zone, typ)
        last = self.last_trigger.get(key)
        if last is not None and 0 <= msg.ts - last < self.cfg.camera_cooldown_s * 1000:
            self.duplicates += 1
            return []
        self.last_trigger[key] = msg.ts
        episode = f"{msg.device}:{typ}:{msg.ts}"
        site = reg.ancestor(zone, Level.GRID) or reg.ancestor(zone, Level.COMMUNITY) or zone
        recent = self.recent.setdefault(site, deque(maxlen=64))
        window = self.cfg.camera_confirm_s * 1000
        while recent and msg.ts - recent[0][0] > window:
            recent.popleft()
        others = [r for r in recent if r[1] != msg.device or r[2] != zone]
        recent.append((msg.ts, msg.device, zone, episode))
        details = {"camera": msg.device, "type": typ, "score": msg.data.get("score"), "zone": zone}
        if not others:
            return [Raise(Rule.CAMERA_INTRUSION, zone, Severity.WARNING, zone, episode,
                          f"{typ.replace('_', ' ')} by {msg.device} in zone {zone}", details, msg.ts)]
        # two cameras or two zones agree: a real person far more likely than a cat or a shadow
        cams, zones = {o[1] for o in others} | {msg.device}, {o[2] for o in others} | {zone}
        confirmed = f"{typ.replace('_', ' ')} in zone {zone} confirmed by {len(cams)} cameras / {len(zones)} zones"
        out: list[Action] = [Raise(Rule.CAMERA_INTRUSION, zone, Severity.MAJOR, zone, episode, confirmed,
                                   {**details, "confirmed": True}, msg.ts)]
        for ts, cam, z, ep in others:
            if z != zone:
                out.append(Raise(Rule.CAMERA_INTRUSION, z, Severity.MAJOR, z, ep,
                                 f"intrusion in zone {z} confirmed by zone {zone}", {"confirmed": True}, ts))
        return out
