"""A simulated call-button receiver: writes one line per button event (fieldbus.callbutton_line).

Events come from a script (absolute times on the injected clock) or from emit() called by the simulator.
Sequence numbers count per button and wrap at 65535, as the receiver firmware does.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from fieldbus.callbutton_line import SEQ_MAX, ButtonEvent, ButtonLine, encode_line
from firmware_sim.serial.device import Clock, SerialDevice
from firmware_sim.serial.ports import PtyPort, SocatPort


@dataclass(frozen=True, slots=True)
class ScriptedEvent:
    """One scripted button event at clock time `at`."""

    at: float
    device_id: str
    event: ButtonEvent = ButtonEvent.PRESS
    battery_mv: int = 3000
    rssi_dbm: int = -60


@dataclass(frozen=True, slots=True)
class LineFaults:
    """Fault probabilities (0..1) per emitted line."""

    bad_checksum: float = 0.0   # checksum digits wrong
    garbage: float = 0.0        # radio noise bytes before the line
    split: float = 0.0          # line written in two pieces 30 ms apart
    drop: float = 0.0           # line lost (the radio packet never arrived)


class CallButtonReceiver(SerialDevice):
    """A receiver that writes a line for each scripted or emitted button event."""

    def __init__(self, port: PtyPort | SocatPort, script: Iterable[ScriptedEvent] = (), *,
                 faults: LineFaults | None = None, seed: int = 0, clock: Clock = time.time) -> None:
        super().__init__(port, clock=clock)
        self.faults = faults or LineFaults()
        self.sent: list[ButtonLine] = []   # every event emitted, faulty or not, in order
        self._script = sorted(script, key=lambda e: e.at)
        self._rng = random.Random(seed)
        self._seq: dict[str, int] = {}
        self._emit_lock = threading.Lock()

    def pending(self) -> int:
        """Scripted events not yet emitted."""
        return len(self._script)

    def emit(self, device_id: str, event: ButtonEvent = ButtonEvent.PRESS, battery_mv: int = 3000,
             rssi_dbm: int = -60) -> ButtonLine:
        """Write the line for one event now (from any thread); returns what was sent."""
        with self._emit_lock:
            seq = self._seq.get(device_id, 0)
            self._seq[device_id] = (seq + 1) % (SEQ_MAX + 1)
            line = ButtonLine(device_id, ButtonEvent(event), seq, battery_mv, rssi_dbm)
            data = bytearray(encode_line(line))  # validates the fields before anything is counted
            f, rng = self.faults, self._rng
            drop, bad_cs, garbage, split = (rng.random() for _ in range(4))
            junk = bytes(rng.choice(b"\x00\x7f\xff#~") for _ in range(rng.randint(1, 6)))
            self.sent.append(line)
            if drop < f.drop:
                self.stats.count("dropped")
                return line
            if bad_cs < f.bad_checksum:
                self.stats.count("bad_checksum")
                star = data.rfind(b"*")
                data[star + 1:star + 3] = b"%02X" % (int(data[star + 1:star + 3], 16) ^ 0x5A)
            if garbage < f.garbage:
                self.stats.count("garbage")
                data[:0] = junk
            self.stats.count("lines")
            if split < f.split:
                self.stats.count("split")
                self.send(bytes(data[:len(data) // 2]))
                self.send(bytes(data[len(data) // 2:]), 0.03)
            else:
                self.send(bytes(data))
            return line

    def on_tick(self, now: float) -> None:
        """Emit the scripted events that are due."""
        while self._script and self._script[0].at <= now:
            e = self._script.pop(0)
            self.emit(e.device_id, e.event, e.battery_mv, e.rssi_dbm)
