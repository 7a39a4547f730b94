"""Modbus RTU river gauges on one serial line (pymodbus client), register map fieldbus.gauge_modbus.

The stage sent is the gauge's own level, or - when the config gives the sensor's mount height -
mount height minus the measured distance (a distance-type sensor). A sample flagged as a sensor
fault, or a stage outside the configured range, is counted and not sent.
"""

from __future__ import annotations

import logging
import threading

from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ConnectionException, ModbusException
from serial import SerialException

from edge_agent.clock import Clock
from edge_agent.config import GaugeEntry, ModbusGaugeDriver
from edge_agent.drivers.base import idle
from edge_agent.emit import Emitter
from edge_agent.stats import DriverStats
from fieldbus import FieldbusError
from fieldbus.gauge_modbus import MEASUREMENT_COUNT, GaugeSample, GaugeStatus, decode_measurements
from wire.models import Channel, Kind

log = logging.getLogger(__name__)


class GaugeBusDriver:
    """Polls the river gauges of one serial port."""

    def __init__(self, cfg: ModbusGaugeDriver, emitter: Emitter, clock: Clock) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.emitter = emitter
        self.clock = clock
        self.stats = DriverStats(cfg.id)
        self.client: ModbusSerialClient | None = None
        self._flags: dict[str, int] = {}
        self._delay = 0.5
        self._next_try = 0.0

    def _connect(self) -> ModbusSerialClient | None:
        if self.client is not None:
            return self.client
        now = self.clock.monotonic()
        if now < self._next_try:
            return None
        client = ModbusSerialClient(self.cfg.port, baudrate=self.cfg.baudrate, bytesize=self.cfg.bytesize,
                                    parity=self.cfg.parity, stopbits=self.cfg.stopbits, timeout=self.cfg.timeout_s,
                                    retries=0)
        if not client.connect():
            client.close()
            if not self.stats.port_down:
                log.warning("driver %s: cannot open %s; retrying", self.id, self.cfg.port)
            self.stats.port_down = True
            self.stats.error("PortUnavailable", "port_errors")
            self._next_try = now + self._delay
            self._delay = min(self._delay * 2, self.cfg.reopen_max_s)
            return None
        if self.stats.port_down:
            log.info("driver %s: %s is back", self.id, self.cfg.port)
        self.stats.port_down = False
        self._delay = 0.5
        self.client = client
        return client

    def _lost(self, exc: BaseException) -> None:
        log.warning("driver %s: lost %s (%s)", self.id, self.cfg.port, type(exc).__name__)
        self.stats.error("PortLost", "port_errors")
        self.stats.port_down = True
        self.close()
        self._next_try = self.clock.monotonic() + self._delay

    def run(self, stop: threading.Event) -> None:
        """Poll every gauge each poll_s until stop is set."""
        while not stop.is_set():
            cycle_start = self.clock.monotonic()
            for gauge in self.cfg.gauges:
                if stop.is_set():
                    return
                self.stats.heartbeat = self.clock.monotonic()
                client = self._connect()
                if client is None:
                    break
                self.poll(client, gauge)
            self.stats.heartbeat = self.clock.monotonic()
            wait = cycle_start + self.cfg.poll_s - self.clock.monotonic()
            if self.client is None:
                wait = min(max(wait, 0.0), max(self._next_try - self.clock.monotonic(), 0.1))
            idle(stop, wait, self.stats, self.clock)

    def _read(self, client: ModbusSerialClient, gauge: GaugeEntry) -> list[int] | None:
        read = client.read_input_registers if gauge.register_type == "input" else client.read_holding_registers
        rr = read(gauge.start, count=MEASUREMENT_COUNT, device_id=gauge.unit_id)
        if rr.isError():
            self.stats.error(f"ModbusException{getattr(rr, 'exception_code', '')}", "bad_values")
            return None
        return list(rr.registers)

    def poll(self, client: ModbusSerialClient, gauge: GaugeEntry) -> bool:
        """Read one gauge (with retries); True when a reading was queued."""
        self.stats.count("polls")
        for _attempt in range(1 + self.cfg.retries):
            try:
                regs = self._read(client, gauge)
            except (SerialException, OSError, ConnectionException) as exc:
                self._lost(exc)
                return False
            except ModbusException as exc:
                # no answer in time or a garbled reply (CRC): pymodbus reports both as ModbusIOException
                text = str(exc).lower()
                if "no response" in text or "timeout" in text or "timed out" in text:
                    self.stats.error(TimeoutError(), "timeouts")
                else:
                    self.stats.error(exc, "bad_frames")
                if not client.connected:
                    self._lost(exc)
                    return False
                continue
            if regs is None:
                continue
            try:
                sample = decode_measurements(regs)
            except FieldbusError as exc:
                self.stats.error(exc)
                continue
            self._up(gauge)
            return self._publish(gauge, sample)
        self._down(gauge)
        return False

    def _publish(self, gauge: GaugeEntry, sample: GaugeSample) -> bool:
        self._status(gauge, sample)
        if not sample.valid:
            self.stats.error("SensorFault", "bad_values")
            return False
        mount = round(gauge.mount_height_m * 1000) if gauge.mount_height_m is not None else None
        try:
            stage_m = sample.stage_mm(mount) / 1000
        except FieldbusError as exc:
            self.stats.error(exc)
            return False
        if not gauge.min_level_m <= stage_m <= gauge.max_level_m:
            self.stats.error("OutOfRange", "out_of_range")
            return False
        self.stats.count("ok")
        return self.emitter.emit(gauge.device, Kind.RIVER_GAUGE, Channel.READING,
                                 {"level_m": stage_m, "raw_distance_m": sample.distance_m}, self.stats)

    def _status(self, gauge: GaugeEntry, sample: GaugeSample) -> None:
        """A status message (battery, fault flags) when the gauge's flags change."""
        flags = int(sample.status)
        if self._flags.get(gauge.device) == flags:
            return
        self._flags[gauge.device] = flags
        names = [n for bit, n in ((GaugeStatus.SENSOR_FAULT, "sensor_fault"), (GaugeStatus.STUCK, "stuck"),
                                  (GaugeStatus.LOW_BATTERY, "battery_low")) if sample.status & bit]
        data: dict[str, object] = {"battery_v": sample.battery_mv / 1000}
        data.update({"fault": ",".join(names)} if names else {"heartbeat": True})
        self.emitter.emit(gauge.device, Kind.RIVER_GAUGE, Channel.STATUS, data, self.stats)

    def _down(self, gauge: GaugeEntry) -> None:
        if gauge.device not in self.stats.devices_down:
            log.warning("driver %s: gauge %s does not answer", self.id, gauge.device)
            self.stats.devices_down.add(gauge.device)
            self._flags.pop(gauge.device, None)
            self.emitter.emit(gauge.device, Kind.RIVER_GAUGE, Channel.STATUS, {"fault": "no_response"}, self.stats)

    def _up(self, gauge: GaugeEntry) -> None:
        if gauge.device in self.stats.devices_down:
            log.info("driver %s: gauge %s answers again", self.id, gauge.device)
            self.stats.devices_down.discard(gauge.device)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
