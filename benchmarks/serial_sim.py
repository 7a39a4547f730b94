"""Field-protocol codecs and simulated serial devices, side by side with the serial line they stand in for.

Run it from the repository root:

    .venv/bin/python benchmarks/serial_sim.py            # 20,000 frames, 300 meter reads, 300 gauge reads
    .venv/bin/python benchmarks/serial_sim.py --short    # smoke run, a few seconds

  A  CJ/T 188 stream decoder: 901F answers with random garbage between them, fed in random chunks;
     baseline: the byte rate of the fastest line such meters use (115200 baud, 8E1 = 11 bits a byte).
  B  call-button line decoder: valid lines fed in random chunks; baseline: 9600 baud 8N1.
  C  meter bus round trip: a pyserial master reads one meter after another over a pty;
     baseline: the time the same 19 + 38 bytes take on a 2400 baud 8E1 wire (the usual meter setting).
  D  Modbus gauge round trip: a pymodbus serial client reads the 8-register block over a socat pair;
     baseline: the 8 + 21 bytes on a 9600 baud 8N1 wire.
A ratio above 1 means the simulation/codec outruns the real line, so it is never the bottleneck of a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import serial
from pymodbus.client import ModbusSerialClient

from fieldbus.callbutton_line import ButtonEvent, ButtonLine, LineDecoder, encode_line
from fieldbus.cjt188 import (
    Frame,
    FlowRegister,
    MeterReading,
    StreamDecoder,
    decode_stream,
    frames_only,
    parse_read_response,
    read_request,
    read_response,
)
from fieldbus.gauge_modbus import decode_measurements
from firmware_sim.serial import ModbusGauge, MeterBus, PtyPort, SocatPort


def decoder_rate(n: int) -> tuple[float, float]:
    """(frames/s, bytes/s) of the CJ/T 188 stream decoder on a noisy stream."""
    rng = random.Random(1)
    stream = bytearray()
    for i in range(n):
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(6)))
        stream += read_response(f"{i:014d}", MeterReading(FlowRegister(rng.randrange(10 ** 8)),
                                                           FlowRegister(rng.randrange(10 ** 8)), ser=i % 256)).encode()
    chunks = []
    pos = 0
    while pos < len(stream):
        step = rng.randrange(8, 64)
        chunks.append(bytes(stream[pos:pos + step]))
        pos += step
    dec = StreamDecoder()
    t0 = time.perf_counter()
    found = 0
    for chunk in chunks:
        found += sum(isinstance(item, Frame) for item in dec.feed(chunk))
    elapsed = time.perf_counter() - t0
    if found != n:
        raise SystemExit(f"decoder lost frames: {found} of {n}")
    return n / elapsed, len(stream) / elapsed


def line_rate(n: int) -> tuple[float, float]:
    """(lines/s, bytes/s) of the call-button line decoder."""
    data = b"".join(encode_line(ButtonLine(f"B{i % 500:04d}", ButtonEvent.PRESS, i % 65536, 3000, -60))
                    for i in range(n))
    chunks = [data[i:i + 37] for i in range(0, len(data), 37)]
    dec = LineDecoder()
    t0 = time.perf_counter()
    found = sum(len(dec.feed(c)) for c in chunks)
    elapsed = time.perf_counter() - t0
    if found != n:
        raise SystemExit(f"line decoder lost lines: {found} of {n}")
    return n / elapsed, len(data) / elapsed


def meter_round_trips(tmp: Path, n: int) -> list[float]:
    """Seconds per request/answer between a pyserial master and the simulated meter bus."""
    addresses = [f"{i:014d}" for i in range(1, 9)]
    bus = MeterBus(PtyPort(tmp / "meters"), addresses, lambda a, now: (1000.0 + int(a), None))
    times = []
    with bus, serial.Serial(str(bus.path), 2400, parity=serial.PARITY_EVEN, timeout=1) as master:
        for i in range(n):
            address = addresses[i % len(addresses)]
            t0 = time.perf_counter()
            master.write(read_request(address, ser=i % 256).encode())
            raw = b""
            while not frames_only(decode_stream(raw)):
                chunk = master.read(max(1, master.in_waiting))
                if not chunk:
                    raise SystemExit(f"meter {address} did not answer")
                raw += chunk
            times.append(time.perf_counter() - t0)
            parse_read_response(frames_only(decode_stream(raw))[0], address=address, ser=i % 256)
    return times


def gauge_round_trips(tmp: Path, n: int) -> list[float]:
    """Seconds per 8-register read of the simulated gauge by a pymodbus serial client."""
    gauge = ModbusGauge(SocatPort(tmp / "gauge"), lambda now: 2.5, stuck_after=10 ** 9)
    times = []
    with gauge:
        client = ModbusSerialClient(str(gauge.path), baudrate=9600, timeout=1, retries=0)
        try:
            if not client.connect():
                raise SystemExit("pymodbus client could not open the gauge")
            for _ in range(n):
                t0 = time.perf_counter()
                rr = client.read_input_registers(0, count=8, device_id=1)
                times.append(time.perf_counter() - t0)
                if rr.isError() or decode_measurements(rr.registers).level_mm != 2500:
                    raise SystemExit(f"bad gauge answer: {rr}")
        finally:
            client.close()
    return times


def main() -> int:
    """Run the four measurements and print them beside their baselines."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--short", action="store_true", help="smoke run: a few seconds")
    args = p.parse_args()
    frames, reads = (2_000, 40) if args.short else (20_000, 300)
    fps, bps = decoder_rate(frames)
    lps, lbps = line_rate(frames)
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as tmp:
        meter = meter_round_trips(Path(tmp), reads)
        gauge = gauge_round_trips(Path(tmp), reads)
    line_115200 = 115200 / 11
    line_9600 = 9600 / 10
    wire_meter = (19 + 38) * 11 / 2400
    wire_gauge = (8 + 21) * 10 / 9600
    m_med, g_med = statistics.median(meter), statistics.median(gauge)
    rows = [
        ("A  CJ/T 188 decoder", f"{fps:,.0f} frames/s = {bps / 1000:,.0f} kB/s",
         f"115200 baud line {line_115200 / 1000:.1f} kB/s", bps / line_115200),
        ("B  call-button decoder", f"{lps:,.0f} lines/s = {lbps / 1000:,.0f} kB/s",
         f"9600 baud line {line_9600 / 1000:.2f} kB/s", lbps / line_9600),
        ("C  meter bus read (pty)", f"median {m_med * 1000:.2f} ms, p95 "
         f"{sorted(meter)[int(len(meter) * 0.95)] * 1000:.2f} ms", f"2400 baud wire {wire_meter * 1000:.0f} ms",
         wire_meter / m_med),
        ("D  gauge read (socat, pymodbus)", f"median {g_med * 1000:.2f} ms, p95 "
         f"{sorted(gauge)[int(len(gauge) * 0.95)] * 1000:.2f} ms", f"9600 baud wire {wire_gauge * 1000:.0f} ms",
         wire_gauge / g_med),
    ]
    print(f"\nShouwang field protocols and serial simulation ({frames} frames, {reads} reads each)")
    for name, value, baseline, ratio in rows:
        print(f"  {name:<33} {value:<40} vs {baseline:<26} ratio {ratio:,.1f}x")
    if args.short:
        print("  NOTE: short run: figures are noisy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
