"""CJ/T 188 water meters on one RS-485 line: poll each meter by address, one request at a time.

Per meter and poll: send the 901F read request, collect bytes until a frame from that address
completes or `timeout_s` passes, retry up to `retries` times after a timeout or a bad answer.
Every broken frame, wrong checksum, garbage run, abnormal reply and timeout is counted; a meter
that stays silent is marked down (a status message with fault "no_response") until it answers.
"""

from __future__ import annotations

import logging
import threading

import serial

from edge_agent.clock import Clock
from edge_agent.config import Cjt188Driver, MeterEntry
from edge_agent.drivers.base import PORT_ERRORS, SerialLink, idle
from edge_agent.emit import Emitter
from edge_agent.stats import DriverStats
from fieldbus import FieldbusError
from fieldbus.cjt188 import Frame, MeterReading, StreamDecoder, ValveState, parse_read_response, read_request
from wire.models import Channel, Kind

log = logging.getLogger(__name__)


class MeterBusDriver:
    """Polls the water meters of one serial port."""

    def __init__(self, cfg: Cjt188Driver, emitter: Emitter, clock: Clock) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.emitter = emitter
        self.clock = clock
        self.stats = DriverStats(cfg.id)
        self.link = SerialLink(cfg, self.stats, clock, cfg.timeout_s)
        self._ser = 0
        self._faults: dict[str, frozenset[str]] = {}

    def run(self, stop: threading.Event) -> None:
        """Poll every meter each poll_s until stop is set."""
        while not stop.is_set():
            cycle_start = self.clock.monotonic()
            for meter in self.cfg.meters:
                if stop.is_set():
                    return
                self.stats.heartbeat = self.clock.monotonic()
                port = self.link.open()
                if port is None:
                    break
                self.poll(port, meter)
                stop.wait(self.cfg.gap_s)
            self.stats.heartbeat = self.clock.monotonic()
            wait = cycle_start + self.cfg.poll_s - self.clock.monotonic()
            if self.link.port is None:
                wait = min(max(wait, 0.0), max(self.link.wait_s(), 0.1))
            idle(stop, wait, self.stats, self.clock)

    def poll(self, port: serial.Serial, meter: MeterEntry) -> bool:
        """Read one meter (with retries); True when a reading was queued."""
        self.stats.count("polls")
        for _attempt in range(1 + self.cfg.retries):
            self._ser = (self._ser + 1) & 0xFF
            try:
                reading = self._exchange(port, meter, self._ser)
            except PORT_ERRORS as exc:
                self.link.lost(exc)
                return False
            if reading is not None:
                self.stats.count("ok")
                self._up(meter)
                self._publish(meter, reading)
                return True
        self._down(meter)
        return False

    def _exchange(self, port: serial.Serial, meter: MeterEntry, ser: int) -> MeterReading | None:
        """One request and its answer; None after a timeout or a bad answer (counted)."""
        port.reset_input_buffer()
        port.write(read_request(meter.address, ser, meter.meter_type, meter.di_order).encode())
        decoder = StreamDecoder()
        deadline = self.clock.monotonic() + self.cfg.timeout_s
        while self.clock.monotonic() < deadline:
            chunk = port.read(port.in_waiting or 1)
            if not chunk:
                continue
            for item in decoder.feed(chunk):
                if isinstance(item, FieldbusError):
                    self.stats.error(item)
                    continue
                if not item.is_response or item.address != meter.address:
                    self.stats.count("other_frames")  # an echo of our request, or another meter's late answer
                    continue
                return self._parse(item, meter, ser)  # a reading, or None for a bad answer: retry
        for item in decoder.flush():
            self.stats.error(item)
        self.stats.error(TimeoutError(), "timeouts")
        return None

    def _parse(self, frame: Frame, meter: MeterEntry, ser: int) -> MeterReading | None:
        try:
            return parse_read_response(frame, address=meter.address, ser=ser)
        except FieldbusError as exc:
            self.stats.error(exc)
            log.debug("driver %s: meter %s: %s", self.id, meter.device, type(exc).__name__)
            return None

    def _publish(self, meter: MeterEntry, reading: MeterReading) -> None:
        try:
            total = reading.total_l  # FieldError for a unit that is not a volume
        except FieldbusError as exc:
            self.stats.error(exc)
            return
        data: dict[str, object] = {"total_l": total}
        valve = reading.status.valve
        if valve in (ValveState.OPEN, ValveState.CLOSED):
            data["valve_open"] = valve is ValveState.OPEN
        self.emitter.emit(meter.device, Kind.WATER_METER, Channel.READING, data, self.stats)
        faults = set()
        if reading.status.battery_low:
            faults.add("battery_low")
        if valve is ValveState.ABNORMAL:
            faults.add("valve_abnormal")
        self._status(meter, frozenset(faults))

    def _status(self, meter: MeterEntry, faults: frozenset[str]) -> None:
        """A status message when a meter's faults change (not on every poll)."""
        before = self._faults.get(meter.device, frozenset())
        if faults == before:
            return
        self._faults[meter.device] = faults
        data: dict[str, object] = {"fault": ",".join(sorted(faults))} if faults else {"heartbeat": True}
        self.emitter.emit(meter.device, Kind.WATER_METER, Channel.STATUS, data, self.stats)

    def _down(self, meter: MeterEntry) -> None:
        if meter.device not in self.stats.devices_down:
            log.warning("driver %s: meter %s does not answer", self.id, meter.device)
            self.stats.devices_down.add(meter.device)
            self._status(meter, frozenset({"no_response"}))

    def _up(self, meter: MeterEntry) -> None:
        if meter.device in self.stats.devices_down:
            log.info("driver %s: meter %s answers again", self.id, meter.device)
            self.stats.devices_down.discard(meter.device)

    def close(self) -> None:
        self.link.close()
