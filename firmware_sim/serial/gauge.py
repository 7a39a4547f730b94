"""A simulated river gauge: Modbus RTU server (pymodbus) on a socat pty pair, register map fieldbus.gauge_modbus.

The gauge samples when a master reads its measurement block (or at most every sample_period_s if set):
it asks `level(now)` for the stage, derives the distance from its mount height (holding registers 16-17,
writable by the master), flags a sensor fault when the level source gives None, a stuck sensor when the
distance has not changed for `stuck_after` samples, and low battery under `low_battery_mv`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

from fieldbus.gauge_modbus import (
    CONFIG_START,
    DEFAULT_UNIT_ID,
    MEASUREMENT_COUNT,
    MEASUREMENT_START,
    GaugeSample,
    GaugeStatus,
    encode_measurements,
    encode_mount_height,
    registers_to_int32,
)
from firmware_sim.serial.device import Clock
from firmware_sim.serial.ports import SocatPort
from ground.errors import ServiceError

log = logging.getLogger(__name__)

READ_FCS = {3, 4}
WRITE_FCS = {6, 16}


@dataclass(frozen=True, slots=True)
class GaugeInput:
    """What the level source may return instead of a bare stage in metres."""

    level_m: float | None       # None: no echo this sample (sensor fault)
    battery_mv: int | None = None
    fault: bool = False


LevelFn = Callable[[float], "float | GaugeInput | None"]


class ModbusGauge:
    """A river gauge answering Modbus RTU on port.path (a socat pair; pymodbus opens port.device_path)."""

    def __init__(self, port: SocatPort, level: LevelFn, *, unit_id: int = DEFAULT_UNIT_ID,
                 mount_height_m: float = 8.0, battery_mv: int = 3600, low_battery_mv: int = 3300,
                 stuck_after: int = 30, sample_period_s: float | None = None, clock: Clock = time.time,
                 baudrate: int = 9600, parity: str = "N") -> None:
        self.port = port
        self.level = level
        self.unit_id = unit_id
        self.battery_mv = battery_mv
        self.low_battery_mv = low_battery_mv
        self.stuck_after = stuck_after
        self.sample_period_s = sample_period_s
        self.clock = clock
        self.baudrate = baudrate
        self.parity = parity
        self.failure: BaseException | None = None
        self.mount_height_mm = round(mount_height_m * 1000)
        self.sample = GaugeSample(0, self.mount_height_mm, GaugeStatus.SENSOR_FAULT, battery_mv, 0)
        self._last_sample_at: float | None = None
        self._unchanged = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._ready = threading.Event()

    @property
    def path(self):
        """Where the Modbus master opens the gauge."""
        return self.port.path

    def running(self) -> bool:
        """True while the server thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> Self:
        """Start socat and the Modbus server; return once it listens."""
        if self.running():
            return self
        self.port.start()
        self._take_sample(None)
        self._ready.clear()
        self.failure = None
        self._thread = threading.Thread(target=self._thread_main, name="sim-ModbusGauge", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self.failure is not None:
            self.stop()
            raise ServiceError(f"Modbus gauge on {self.port.device_path} did not start: {self.failure!r}")
        return self

    def stop(self) -> None:
        """Stop the server and socat (the master side sees the port vanish); state is kept for restart."""
        loop, server = self._loop, self._server
        if loop is not None and server is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.port.stop()

    cut = stop
    restore = start

    def check(self) -> None:
        """Raise the error that the level source or the server thread hit, if any."""
        if self.failure is not None:
            raise RuntimeError(f"ModbusGauge on {self.path} failed") from self.failure

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ server thread

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # recorded for start()/check(); then re-raised in this thread
            self.failure = exc
            log.error("Modbus gauge on %s stopped: %r", self.port.device_path, exc)
            self._ready.set()
            raise
        finally:
            self._loop = self._server = None

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        device = SimDevice(self.unit_id, simdata=[
            SimData(MEASUREMENT_START, values=encode_measurements(self.sample), datatype=DataType.REGISTERS,
                    readonly=True),
            SimData(CONFIG_START, values=encode_mount_height(self.mount_height_mm), datatype=DataType.REGISTERS),
        ], action=self._action)
        self._server = ModbusSerialServer(device, port=str(self.port.device_path), baudrate=self.baudrate,
                                          parity=self.parity, reconnect_delay=0.2, trace_packet=self._filter_sent)
        await self._server.serve_forever(background=True)
        self._ready.set()
        await self._server.serving

    def _filter_sent(self, sending: bool, packet: bytes) -> bytes:
        """Drop answers to other unit ids: on RS-485 only the addressed slave may talk.

        pymodbus 3.16 answers a request for an unknown unit id with an exception (its SimCore raises
        KeyError where the server expects NoSuchIdException, so ignore_missing_devices has no effect).
        """
        if sending and packet and packet[0] != self.unit_id:
            return b""
        return packet

    async def _action(self, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], set_values: Sequence[int] | Sequence[bool] | None) -> ExcCodes | None:
        """Called by pymodbus before each access: sample on reads, validate mount-height writes."""
        if function_code not in READ_FCS | WRITE_FCS:
            return ExcCodes.ILLEGAL_FUNCTION
        base = -start_address
        if function_code in WRITE_FCS and set_values:
            pair = registers[base + CONFIG_START:base + CONFIG_START + 2]
            for i, value in enumerate(set_values):
                if CONFIG_START <= address + i < CONFIG_START + 2:
                    pair[address + i - CONFIG_START] = int(value)
            mount = registers_to_int32(pair)
            if mount <= 0:
                return ExcCodes.ILLEGAL_VALUE
            self.mount_height_mm = mount
            return None
        if address < MEASUREMENT_START + MEASUREMENT_COUNT:
            try:
                self._take_sample(registers, base)
            except Exception as exc:  # a broken level source: answer "device failure" and keep it for check()
                self.failure = exc
                log.error("gauge level source failed: %r", exc)
                return ExcCodes.DEVICE_FAILURE
        return None

    def _take_sample(self, registers: list[int] | None, base: int = 0) -> None:
        now = self.clock()
        if (self.sample_period_s is not None and self._last_sample_at is not None
                and now - self._last_sample_at < self.sample_period_s):
            return
        self._last_sample_at = now
        src = self.level(now)
        if src is None or isinstance(src, int | float):
            src = GaugeInput(None if src is None else float(src))
        prev = self.sample
        battery = self.battery_mv if src.battery_mv is None else src.battery_mv
        status = GaugeStatus(0)
        if battery < self.low_battery_mv:
            status |= GaugeStatus.LOW_BATTERY
        level, distance = prev.level_mm, prev.distance_mm
        if src.level_m is None or src.fault or round(src.level_m * 1000) > self.mount_height_mm:
            status |= GaugeStatus.SENSOR_FAULT  # no echo, or water over the sensor: keep the last good values
        else:
            level = round(src.level_m * 1000)
            distance = self.mount_height_mm - level
            self._unchanged = self._unchanged + 1 if distance == prev.distance_mm else 0
            if self._unchanged >= self.stuck_after:
                status |= GaugeStatus.STUCK
        self.sample = GaugeSample(level, distance, status, battery, (prev.sample_count + 1) % 2 ** 32)
        if registers is not None:
            registers[base + MEASUREMENT_START:base + MEASUREMENT_START + MEASUREMENT_COUNT] = \
                encode_measurements(self.sample)
