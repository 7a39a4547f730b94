"""Run one simulated serial device as a process until SIGTERM/SIGINT.

    python -m firmware_sim.serial meter-bus --link /tmp/meters --meter 00000000000001 --meter 00000000000002:L
    python -m firmware_sim.serial gauge --link /tmp/gauge --level-m 2.5 --rise-m-per-h 0.3
    python -m firmware_sim.serial callbutton --link /tmp/buttons --press B0001@5 --heartbeat B0001 --every 60

The master side (edge agent, mbpoll, a terminal) opens the --link path. Killing the process cuts the link.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Sequence

from fieldbus.callbutton_line import ButtonEvent
from fieldbus.cjt188 import Unit
from firmware_sim.serial.callbutton import CallButtonReceiver, ScriptedEvent
from firmware_sim.serial.gauge import ModbusGauge
from firmware_sim.serial.meter_bus import MeterBus, MeterFaults, SimMeter
from firmware_sim.serial.ports import PtyPort, SocatPort

log = logging.getLogger("firmware_sim.serial")


def _meter(text: str) -> SimMeter:
    address, _, unit = text.partition(":")
    units = {"": Unit.M3, "m3": Unit.M3, "L": Unit.L, "l": Unit.L}
    if unit not in units:
        raise argparse.ArgumentTypeError(f"unit {unit!r}: use m3 or L")
    return SimMeter(address, units[unit])


def _press(text: str) -> tuple[str, float]:
    device, _, delay = text.partition("@")
    try:
        return device, float(delay or 0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ID@SECONDS") from exc


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m firmware_sim.serial`."""
    p = argparse.ArgumentParser(prog="python -m firmware_sim.serial", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="device", required=True)
    m = sub.add_parser("meter-bus", help="CJ/T 188 water meters on one RS-485 line")
    m.add_argument("--meter", type=_meter, action="append", required=True, help="ADDRESS[:m3|L], repeatable")
    m.add_argument("--start-l", type=float, default=1000.0, help="register at start, litres")
    m.add_argument("--flow-lpm", type=float, default=0.5, help="constant flow of every meter, L/min")
    for name in ("no-answer", "bad-checksum", "garbage", "split", "abnormal"):
        m.add_argument(f"--{name}", type=float, default=0.0, help="fault probability 0..1")
    m.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("gauge", help="Modbus RTU river gauge (always on a socat pair)")
    g.add_argument("--level-m", type=float, default=2.0)
    g.add_argument("--rise-m-per-h", type=float, default=0.0)
    g.add_argument("--mount-height-m", type=float, default=8.0)
    g.add_argument("--unit-id", type=int, default=1)
    g.add_argument("--baud", type=int, default=9600)
    c = sub.add_parser("callbutton", help="call-button receiver writing the line protocol")
    c.add_argument("--press", type=_press, action="append", default=[], help="ID@SECONDS after start, repeatable")
    c.add_argument("--heartbeat", action="append", default=[], help="button id sending HB, repeatable")
    c.add_argument("--every", type=float, default=60.0, help="heartbeat period, seconds")
    for sp in (m, g, c):
        sp.add_argument("--link", required=True, help="path the master opens (a symlink to the pty)")
        sp.add_argument("--socat", action="store_true", help="use a socat pty pair (gauge: always)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    t0 = time.time()
    port = SocatPort(args.link) if args.socat or args.device == "gauge" else PtyPort(args.link)
    if args.device == "meter-bus":
        faults = MeterFaults(no_answer=args.no_answer, bad_checksum=args.bad_checksum, garbage=args.garbage,
                             split=args.split, abnormal=args.abnormal)
        device: MeterBus | ModbusGauge | CallButtonReceiver = MeterBus(
            port, args.meter, lambda address, now: (args.start_l + args.flow_lpm * (now - t0) / 60, None),
            faults=faults, seed=args.seed)
    elif args.device == "gauge":
        device = ModbusGauge(port, lambda now: args.level_m + args.rise_m_per_h * (now - t0) / 3600,  # type: ignore[arg-type]
                             unit_id=args.unit_id, mount_height_m=args.mount_height_m, baudrate=args.baud)
    else:
        script = [ScriptedEvent(t0 + delay, device_id) for device_id, delay in args.press]
        device = CallButtonReceiver(port, script)
    device.start()
    log.info("%s ready on %s", args.device, port.path)
    next_hb = time.time()
    while not stop.wait(0.2):
        if isinstance(device, CallButtonReceiver) and args.heartbeat and time.time() >= next_hb:
            for button in args.heartbeat:
                device.emit(button, ButtonEvent.HB)
            next_hb += args.every
    device.stop()
    device.check()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
