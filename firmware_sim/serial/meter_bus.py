"""A simulated RS-485 bus of CJ/T 188 water meters on one pty link.

Each meter answers 901F read requests for its own address only (the broadcast address is answered only
when the bus holds a single meter, as a lone meter on a test bench would). Readings come from a callable
`total_l(address, now) -> (litres, status)` so the simulator's water models can feed the registers.
Faults (no answer, wrong checksum, leading garbage, split replies, abnormal replies, delays, silent
meters) are drawn from a seeded random generator, so a run is repeatable.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from fieldbus.cjt188 import (
    BROADCAST,
    DEFAULT_PREAMBLE,
    DiOrder,
    FlowRegister,
    Frame,
    Function,
    MeterReading,
    MeterStatus,
    MeterType,
    StreamDecoder,
    Unit,
    abnormal_response,
    parse_read_request,
    read_response,
)
from fieldbus.errors import FieldbusError
from firmware_sim.serial.device import Clock, SerialDevice
from firmware_sim.serial.ports import PtyPort, SocatPort

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8), "CST")
TotalFn = Callable[[str, float], "tuple[float, MeterStatus | None]"]


@dataclass(frozen=True, slots=True)
class SimMeter:
    """One meter on the bus."""

    address: str
    unit: Unit = Unit.M3
    meter_type: int = MeterType.COLD_WATER
    accepts: frozenset[DiOrder] = frozenset(DiOrder)   # a strict meter accepts only one DI byte order


@dataclass(frozen=True, slots=True)
class MeterFaults:
    """Fault probabilities (0..1) applied to each answer, and fixed misbehaviour."""

    no_answer: float = 0.0       # request ignored: the master times out
    bad_checksum: float = 0.0    # CS byte off by one
    garbage: float = 0.0         # 1-8 random bytes before the reply
    split: float = 0.0           # reply written in two pieces 30 ms apart
    abnormal: float = 0.0        # C1h abnormal reply instead of the reading
    reply_delay_s: float = 0.0   # every answer waits this long (beyond the master's timeout = a timeout)
    silent: frozenset[str] = frozenset()  # addresses that never answer (dead or unplugged meters)
    preamble: int = DEFAULT_PREAMBLE


@dataclass(slots=True)
class _MeterState:
    settlement: FlowRegister | None = None
    month: tuple[int, int] | None = None


class MeterBus(SerialDevice):
    """Several CJ/T 188 meters sharing one simulated RS-485 line."""

    def __init__(self, port: PtyPort | SocatPort, meters: Iterable[SimMeter | str], total_l: TotalFn, *,
                 faults: MeterFaults | None = None, seed: int = 0, clock: Clock = time.time,
                 tz: tzinfo = CHINA_TZ) -> None:
        super().__init__(port, clock=clock)
        self.meters = {m.address: m for m in (SimMeter(m) if isinstance(m, str) else m for m in meters)}
        if not self.meters:
            raise ValueError("a meter bus needs at least one meter")
        self.total_l = total_l
        self.faults = faults or MeterFaults()
        self.tz = tz
        self._rng = random.Random(seed)
        self._decoder = StreamDecoder()
        self._state = {address: _MeterState() for address in self.meters}

    def on_bytes(self, data: bytes) -> None:
        """Decode requests from the master and answer those for our meters."""
        for item in self._decoder.feed(data):
            if isinstance(item, FieldbusError):
                self.stats.count("bad_requests")
                log.debug("meter bus %s: %s", self.path, item)
            else:
                self._handle(item)

    def _handle(self, frame: Frame) -> None:
        if frame.is_response:
            return  # our own echo or another slave's answer on the shared line
        meter = self._addressed(frame.address)
        if meter is None:
            self.stats.count("other_address")
            return
        if frame.function != Function.READ_DATA:
            self.stats.count("unsupported_function")
            return
        try:
            ser, order = parse_read_request(frame)
        except FieldbusError:
            self.stats.count("bad_requests")
            return
        if order not in meter.accepts:
            self.stats.count("wrong_di_order")
            return
        self.stats.count("requests")
        self._answer(meter, ser, order)

    def _addressed(self, address: str) -> SimMeter | None:
        if address == BROADCAST:
            return next(iter(self.meters.values())) if len(self.meters) == 1 else None
        return self.meters.get(address)

    def _answer(self, meter: SimMeter, ser: int, order: DiOrder) -> None:
        f = self.faults
        rng = self._rng
        # always draw every variate, so one fault's setting does not shift the others' sequence
        no_answer, abnormal, bad_cs, garbage, split = (rng.random() for _ in range(5))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        if meter.address in f.silent or no_answer < f.no_answer:
            self.stats.count("no_answer")
            return
        now = self.clock()
        litres, status = self.total_l(meter.address, now)
        status = status or MeterStatus()
        if abnormal < f.abnormal:
            self.stats.count("abnormal")
            frame = abnormal_response(meter.address, ser, status, meter.meter_type)
        else:
            frame = read_response(meter.address, self._reading(meter, litres, status, ser, order, now),
                                  meter.meter_type)
        data = bytearray(frame.encode(f.preamble))
        if bad_cs < f.bad_checksum:
            self.stats.count("bad_checksum")
            data[-2] = (data[-2] + 1) & 0xFF
        if garbage < f.garbage:
            self.stats.count("garbage")
            data[:0] = junk
        self.stats.count("answers")
        if split < f.split:
            self.stats.count("split")
            half = len(data) // 2
            self.send(bytes(data[:half]), f.reply_delay_s)
            self.send(bytes(data[half:]), f.reply_delay_s + 0.03)
        else:
            self.send(bytes(data), f.reply_delay_s)

    def _reading(self, meter: SimMeter, litres: float, status: MeterStatus, ser: int, order: DiOrder,
                 now: float) -> MeterReading:
        current = FlowRegister.from_litres(litres, meter.unit, wrap=True)
        clock = datetime.fromtimestamp(now, self.tz).replace(tzinfo=None)
        state = self._state[meter.address]
        month = (clock.year, clock.month)
        if state.month != month:  # the settlement-day register latches at the first read of each month
            state.month, state.settlement = month, current
        return MeterReading(current, state.settlement or current, clock, status, ser, order)
