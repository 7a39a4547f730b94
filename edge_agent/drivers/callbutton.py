"""Call-button receivers: the line protocol over serial (fieldbus.callbutton_line).

PRESS/LONG/CANCEL/TEST become call_button/event messages, HB a call_button/status heartbeat with
battery and signal. A line repeating a button's (event, seq) within `dedup_s` is a radio
retransmission and is dropped. Buttons are mapped from their radio id to a contract device id.
"""

from __future__ import annotations

import logging
import threading


from edge_agent.clock import Clock
from edge_agent.config import CallButtonDriver
from edge_agent.drivers.base import PORT_ERRORS, SerialLink
from edge_agent.emit import Emitter
from edge_agent.stats import DriverStats
from fieldbus import FieldbusError
from fieldbus.callbutton_line import ButtonLine, LineDecoder
from wire import is_valid_id
from wire.models import Channel, Kind

log = logging.getLogger(__name__)


class ButtonReceiverDriver:
    """Reads one receiver's serial port line by line."""

    def __init__(self, cfg: CallButtonDriver, emitter: Emitter, clock: Clock) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.emitter = emitter
        self.clock = clock
        self.stats = DriverStats(cfg.id)
        # a read returns at the first byte; the timeout only bounds how often an idle loop turns
        self.link = SerialLink(cfg, self.stats, clock, timeout_s=0.5, read_timeout_s=0.5)
        self.decoder = LineDecoder()
        self._seen: dict[tuple[str, str, int], float] = {}

    def run(self, stop: threading.Event) -> None:
        """Read lines until stop is set; the receiver never needs a request."""
        while not stop.is_set():
            self.stats.heartbeat = self.clock.monotonic()
            port = self.link.open()
            if port is None:
                stop.wait(max(self.link.wait_s(), 0.05))
                continue
            try:
                chunk = port.read(max(1, port.in_waiting))
            except PORT_ERRORS as exc:
                for item in self.decoder.flush():
                    self.stats.error(item)
                self.link.lost(exc)
                continue
            if chunk:
                self.feed(chunk)

    def feed(self, chunk: bytes) -> None:
        """Handle received bytes: lines become messages, bad input is counted."""
        for item in self.decoder.feed(chunk):
            if isinstance(item, FieldbusError):
                self.stats.error(item)
                log.debug("driver %s: %s", self.id, type(item).__name__)
            else:
                self.handle(item)

    def device_for(self, radio_id: str) -> str | None:
        """The contract device id of a button, or None for an unlisted button when those are ignored."""
        mapped = self.cfg.buttons.get(radio_id)
        if mapped is not None:
            return mapped
        if not self.cfg.unknown_prefix:
            return None
        device = self.cfg.unknown_prefix + radio_id.lower()
        return device if is_valid_id(device) else None

    def handle(self, line: ButtonLine) -> None:
        """One decoded line."""
        device = self.device_for(line.device_id)
        if device is None:
            self.stats.error("UnknownButton", "bad_values")
            return
        if self._duplicate(line):
            self.stats.count("duplicates")
            return
        self.stats.count("ok")
        action = line.event.action
        if action is not None:
            self.emitter.emit(device, Kind.CALL_BUTTON, Channel.EVENT, {"action": action}, self.stats)
        else:
            self.emitter.emit(device, Kind.CALL_BUTTON, Channel.STATUS,
                              {"heartbeat": True, "battery_v": line.battery_v, "rssi_dbm": float(line.rssi_dbm)},
                              self.stats)

    def _duplicate(self, line: ButtonLine) -> bool:
        now = self.clock.monotonic()
        if len(self._seen) > 4096:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.cfg.dedup_s}
        key = (line.device_id, line.event.value, line.seq)
        last = self._seen.get(key)
        self._seen[key] = now
        return last is not None and now - last < self.cfg.dedup_s

    def close(self) -> None:
        self.link.close()
