"""Normalization: a driver's values become a contract v1 message (wire.encode) stored in the outbox."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from edge_agent.clock import Clock
from edge_agent.errors import OutboxError
from edge_agent.outbox import Outbox, Priority
from edge_agent.stats import DriverStats
from wire import ContractError, Message, encode
from wire.models import Channel, Kind

log = logging.getLogger(__name__)

_PRIO = {Channel.EVENT: Priority.EVENT, Channel.READING: Priority.READING, Channel.STATUS: Priority.STATUS}


class Emitter:
    """What drivers call to publish: validates against the contract, assigns seq, stores durably."""

    def __init__(self, gateway: str, outbox: Outbox, clock: Clock) -> None:
        self.gateway = gateway
        self.outbox = outbox
        self.clock = clock

    def emit(self, device: str, kind: Kind | str, channel: Channel | str, data: Mapping[str, Any],
             stats: DriverStats | None = None, ts_ms: int | None = None) -> bool:
        """Queue one message; a value the contract refuses is counted (out_of_range) and dropped, never raised."""
        ch = Channel(channel)
        ts = self.clock.now_ms() if ts_ms is None else ts_ms

        def build(seq: int) -> tuple[str, bytes]:
            return encode(Message(self.gateway, device, ch, Kind(kind), ts, seq, dict(data)))

        try:
            self.outbox.put(device, _PRIO[ch], build)
        except OutboxError as exc:  # disk full or broken: the message cannot be kept; say so loudly
            log.error("outbox cannot store %s/%s from %s: %s", kind, ch.value, device, exc)
            if stats is not None:
                stats.error(exc, "errors")
            return False
        except (ContractError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, ContractError) else str(exc)
            # ids and field names only: payload values are not logged
            log.warning("%s/%s from %s refused by the contract: %s", kind, ch.value, device, reason[:200])
            self.outbox.count_rejected()
            if stats is not None:
                stats.error(exc if isinstance(exc, ContractError) else ContractError("schema", reason))
            return False
        return True
