"""Call button: a press opens a critical alert at once; a quick cancel closes it as a false alarm."""

from __future__ import annotations

import logging

from alerts.rules.base import BaseRule
from alerts.types import Action, Cancel, Raise, Rule, Severity
from wire.models import Channel, Kind, Message

log = logging.getLogger(__name__)


class CallButtonRule(BaseRule):
    """press/long_press -> Raise (repeated presses merge); cancel -> Cancel; test -> nothing."""

    def on_message(self, msg: Message, now: int) -> list[Action]:
        if msg.kind is not Kind.CALL_BUTTON or msg.channel is not Channel.EVENT:
            return []
        action = msg.data.get("action")
        dev = self.ctx.registry().devices.get(msg.device)
        # an unregistered button still raises: a press must never be lost for want of paperwork
        subject = dev.place if dev else f"device:{msg.device}"
        place = dev.place if dev else ""
        if dev is None:
            log.warning("call button %s/%s is not in the registry; raising without a location",
                        msg.gateway, msg.device)
        if action in ("press", "long_press"):
            return [Raise.of(Rule.CALL_BUTTON, subject, Severity.CRITICAL, place, f"{msg.device}:{msg.ts}", msg.ts,
                             reason=action, device=msg.device, gateway=msg.gateway, action=action,
                             registered=dev is not None)]
        if action == "cancel":
            return [Cancel(Rule.CALL_BUTTON, subject, self.cfg.cancel_window_s, msg.ts)]
        return []
