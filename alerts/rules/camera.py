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
        self.recent: dict[str, deque[tuple[int, str, str, str, str]]] = {}  # site -> (ts, camera, zone, episode, type)
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
                return [Clear(Rule.CAMERA_TAMPER, msg.device, "tamper_ended", now)]
            return [Raise.of(Rule.CAMERA_TAMPER, msg.device, Severity.MAINTENANCE, zone, f"tamper-{msg.ts}", msg.ts,
                             reason="tamper", camera=msg.device, zone=zone)]
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
        recent.append((msg.ts, msg.device, zone, episode, typ))
        facts = {"reason": typ, "type": typ, "camera": msg.device, "zone": zone, "score": msg.data.get("score")}
        if not others:
            return [Raise.of(Rule.CAMERA_INTRUSION, zone, Severity.WARNING, zone, episode, msg.ts, **facts)]
        # two cameras or two zones agree: a real person far more likely than a cat or a shadow
        cams, zones = {o[1] for o in others} | {msg.device}, {o[2] for o in others} | {zone}
        out: list[Action] = [Raise.of(Rule.CAMERA_INTRUSION, zone, Severity.MAJOR, zone, episode, msg.ts, **facts,
                                      confirmed=True, cameras=len(cams), zones=len(zones))]
        for ts, cam, z, ep, t in others:
            if z != zone:
                out.append(Raise.of(Rule.CAMERA_INTRUSION, z, Severity.MAJOR, z, ep, ts, reason=t, type=t, camera=cam,
                                    zone=z, confirmed=True, confirmed_by_zone=zone))
        return out
