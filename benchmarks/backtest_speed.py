"""Backtest speed: a county's month of water-meter readings through `shouwang evaluate --record`, side by side with
merely parsing the same file.

Run it from the repository root:

    .venv/bin/python benchmarks/backtest_speed.py            # 10,000 households x 30 days, 10-minute readings (43.2 M)
    .venv/bin/python benchmarks/backtest_speed.py --short    # 40 households x 3 days; also the slow path, compared
    .venv/bin/python benchmarks/backtest_speed.py --households 2000 --days 7 --json out.json

The traffic is a record file as `shouwang sim record` writes it (gzip JSON lines: a header, then
{"t_ms", "topic", "qos", "retain", "payload"} with the payload as JSON text), generated deterministically from
(households, days, seed) and streamed to disk, with its registry CSV and labels CSV. It is written once under
--cache-dir (default ~/.cache/shouwang/backtest-speed; 0.95 GB for the full size) and reused. Residents wake
05:30-07:30, go to bed 20:30-23:00, draw water in 15-60 % of the 10-minute intervals they are awake, go out for
3-9 h now and then (labelled absences), one in fifty stops using water on some day (a labelled emergency), and one
in two hundred leaves a tap running for three hours on some day; meters are read every 10 minutes, 25 to a gateway.

Three figures from one run, each over the whole file:
  parse     the fastest way to merely parse the file with the same JSON library (msgspec): decompress, decode the
            lines in bulk, decode every payload into a typed struct - no validation beyond types, no engine
  backtest  `shouwang evaluate --record FILE --registry CSV --labels CSV` as the command runs it (the fast path:
            evaluation/fastpath.py)
  slow      (--short, or --slow-messages N) the message-by-message path on the same file (or its first N
            messages), for the record; --short also checks both paths raise the same alerts at the same times
Printed: messages/s of each and the ratio backtest/parse; GOAL: under 5 minutes for 43 M messages.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import logging
import os
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.settings import AlertsConfig
from evaluation.backtest import backtest_file, registry_csv
from evaluation.bulk import read_chunks

GENERATOR = 1  # bump when the traffic changes: cached files carry it in their name
START_MS = 1_772_380_800_000  # 2026-03-02 00:00 Asia/Shanghai (a Monday): the same traffic on any date
TZ_OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai has no daylight saving
INTERVAL_MS = 600_000
PER_GATEWAY = 25
GOAL_S = 300.0
FULL_MESSAGES = 10_000 * 30 * 144


def names(k: int) -> tuple[str, str, str]:
    """(household, meter, gateway) codes of household k: no personal data anywhere."""
    return f"hh-{k + 1:05d}", f"wm-{k + 1:05d}", f"gw-{k // PER_GATEWAY + 1:04d}"


def registry_rows(households: int) -> list[dict[str, str]]:
    rows = [{"record": "street", "code": "st-bench"}, {"record": "community", "code": "cm-bench", "parent": "st-bench"}]
    for g in range((households + 999) // 1000):
        grid = f"gr-{g + 1:03d}"
        rows += [{"record": "grid", "code": grid, "parent": "cm-bench"},
                 {"record": "contact", "code": f"worker-{grid}", "parent": grid, "role": "grid_worker",
                  "channels": f"ntfy://sw-{grid}"}]
    for k in range(households):
        hh, wm, gw = names(k)
        bld = f"bd-{gw}"
        if k % PER_GATEWAY == 0:
            rows.append({"record": "building", "code": bld, "parent": f"gr-{k // 1000 + 1:03d}"})
        rows += [{"record": "household", "code": hh, "parent": bld, "flags": "solitary_elderly",
                  "sleep": "22:00-06:30", "window_h": "7"},
                 {"record": "device", "code": wm, "parent": hh, "gateway": gw, "kind": "water_meter",
                  "interval_s": "600", "step_l": "1"}]
    return rows


def generate(directory: Path, households: int, days: int, seed: int) -> tuple[Path, Path, Path, int]:
    """Write traffic.jsonl.gz, registry.csv and labels.csv (once; reused when present). Returns paths, messages."""
    directory.mkdir(parents=True, exist_ok=True)
    traffic, reg, labels = (directory / "traffic.jsonl.gz", directory / "registry.csv", directory / "labels.csv")
    steps = days * 24 * 6
    messages = households * steps
    if traffic.exists() and reg.exists() and labels.exists():
        return traffic, reg, labels, messages
    rng = np.random.default_rng(seed)
    n = households
    offset = rng.integers(0, INTERVAL_MS - 2_000, n)  # when each meter reads within its 10 minutes
    delay = rng.integers(20, 2_000, n)  # network: capture time after the reading's ts
    order = np.argsort(offset + delay, kind="stable")  # the recorder writes in capture order
    wake = rng.integers(330, 450, n)  # local minute of day
    bed = rng.integers(1230, 1380, n)
    p_awake = rng.uniform(0.15, 0.6, n)
    p_night = rng.uniform(0.0, 0.04, n)
    total = rng.integers(1_000, 90_000, n).astype(np.int64)
    stop = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # emergency: no use from here on
    last_use = np.full(n, START_MS, dtype=np.int64)
    label_rows = ["household,device,start,end,kind,note"]
    emergency = rng.choice(n, max(1, n // 50), replace=False)
    for k in emergency.tolist():
        day = int(rng.integers(1, max(2, days - 1)))
        stop[k] = START_MS + day * 86_400_000 - TZ_OFFSET_MS + int(rng.integers(wake[k] + 60, bed[k] - 60)) * 60_000
    leak_at = np.full(n, -1, dtype=np.int64)
    for k in rng.choice(n, max(1, n // 200), replace=False).tolist():
        leak_at[k] = int(rng.integers(1, steps - 20))  # a tap running for 18 readings (3 h)
    out_until = np.zeros(n, dtype=np.int64)
    prefix = []
    for k in range(n):
        _, wm, gw = names(k)
        prefix.append(f'"topic":"sw/v1/{gw}/{wm}/reading","qos":1,"retain":false,'
                      '"payload":"{\\"v\\":1,\\"kind\\":\\"water_meter\\",\\"ts\\":')
    tmp = traffic.with_suffix(".part")
    with gzip.open(tmp, "wb", compresslevel=1) as fh:
        fh.write(json.dumps({"shouwang_record": 1, "created_ms": START_MS, "source": "benchmarks/backtest_speed.py",
                             "households": n, "days": days, "seed": seed}).encode() + b"\n")
        for j in range(steps):
            ts = START_MS + j * INTERVAL_MS + offset
            minute = (ts + TZ_OFFSET_MS) // 60_000 % 1440
            awake = (minute >= wake) & (minute < bed)
            # outings: on about one day in twelve, from a daytime reading, for 3-9 h
            going = awake & (out_until < ts) & (rng.random(n) < 1 / (12 * 90))
            for k in np.flatnonzero(going).tolist():
                out_until[k] = ts[k] + int(rng.integers(3 * 60, 9 * 60)) * 60_000
                label_rows.append(f"hh-{k + 1:05d},,{int(ts[k])},{int(out_until[k])},absence,outing")
            use = (rng.random(n) < np.where(awake, p_awake, p_night)) & (ts < stop) & (out_until < ts)
            litres = np.where(use, rng.integers(1, 25, n), 0)
            leaking = (leak_at >= 0) & (j >= leak_at) & (j < leak_at + 18)
            litres = litres + np.where(leaking, 90, 0)
            last_use = np.where(litres > 0, ts - INTERVAL_MS, last_use)  # used in the 10 minutes before
            total += litres
            flow = np.where(leaking, "9.0", "0.0")
            tot, tsl, cap = total.tolist(), ts.tolist(), (ts + delay).tolist()
            fl = flow.tolist()
            seq = j + 1
            fh.write("".join([f'{{"t_ms":{cap[k]},{prefix[k]}{tsl[k]},\\"seq\\":{seq},\\"data\\":{{\\"total_l\\":'
                              f'{tot[k]}.0,\\"flow_lpm\\":{fl[k]}}}}}"}}\n' for k in order.tolist()]).encode())
    for k in emergency.tolist():
        label_rows.append(f"hh-{k + 1:05d},,{int(last_use[k])},,emergency,stopped")
    reg.write_text(registry_csv(registry_rows(n)), encoding="utf-8")
    labels.write_text("\n".join(label_rows) + "\n", encoding="utf-8")
    os.replace(tmp, traffic)
    return traffic, reg, labels, messages


class _Line(msgspec.Struct):
    t_ms: int
    topic: str
    payload: str
    qos: int = 1
    retain: bool = False


class _Data(msgspec.Struct):
    total_l: float
    flow_lpm: float | None = None


class _Payload(msgspec.Struct):
    v: int
    kind: str
    ts: int
    seq: int
    data: _Data


def parse_only(path: Path) -> tuple[int, float]:
    """The fastest way to merely parse the file with msgspec: bulk-decode lines, then every payload."""
    lines = msgspec.json.Decoder(_Line)
    payloads = msgspec.json.Decoder(list[_Payload])
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    gc.disable()  # ~10^5 structs a chunk, no cycles: the collector would only walk them (as bulk.py does)
    try:
        for chunk, first in read_chunks(path):
            if first:
                chunk = chunk[chunk.index(b"\n") + 1:]  # the header
            recs = lines.decode_lines(chunk)
            n += len(payloads.decode("[" + ",".join([r.payload for r in recs]) + "]"))
    finally:
        gc.enable()
    return n, time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true", help="40 households x 3 days, and the slow path compared")
    ap.add_argument("--households", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "shouwang" / "backtest-speed")
    ap.add_argument("--slow-messages", type=int, default=None,
                    help="also run the message-by-message path on the first N messages (default: all with --short)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--generate-only", action="store_true", help="write the traffic (if not cached) and stop")
    a = ap.parse_args()
    households = a.households or (40 if a.short else 10_000)
    days = a.days or (3 if a.short else 30)
    logging.basicConfig(level=logging.ERROR)
    for name in ("alerts", "registry", "alembic", "notify"):
        logging.getLogger(name).setLevel(logging.ERROR)
    d = a.cache_dir / f"g{GENERATOR}-{households}x{days}-s{a.seed}"
    t0 = time.perf_counter()
    traffic, reg, labels, messages = generate(d, households, days, a.seed)
    gen_s = time.perf_counter() - t0
    print(f"traffic: {households} households x {days} days, {messages:,} messages, "
          f"{traffic.stat().st_size / 1e6:,.0f} MB gzip ({d}; ready in {gen_s:.1f} s)", flush=True)
    if a.generate_only:
        return 0

    parsed, parse_s, parse_cpu = parse_only(traffic)
    print(f"parse only  {parsed:>12,} messages in {parse_s:8.1f} s  {parsed / parse_s:>12,.0f} msg/s  "
          f"(CPU {parse_cpu:.1f} s)", flush=True)
    cfg = AlertsConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    rep = backtest_file(cfg, traffic, reg, labels)
    bt_s, bt_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"backtest    {rep.messages:>12,} messages in {bt_s:8.1f} s  {rep.messages / bt_s:>12,.0f} msg/s  "
          f"(CPU {bt_cpu:.1f} s; {len(rep.alerts)} alerts; ratio to parse only {bt_s / parse_s:.2f}, "
          f"CPU {bt_cpu / parse_cpu:.2f})", flush=True)
    figures = {"households": households, "days": days, "seed": a.seed, "messages": rep.messages,
               "file_bytes": traffic.stat().st_size, "cpus": os.cpu_count(), "load": os.getloadavg()[0],
               "parse": {"seconds": round(parse_s, 2), "cpu_s": round(parse_cpu, 2),
                         "messages_per_s": round(parsed / parse_s)},
               "backtest": {"seconds": round(bt_s, 2), "cpu_s": round(bt_cpu, 2),
                            "messages_per_s": round(rep.messages / bt_s), "alerts": len(rep.alerts)},
               "ratio": round(bt_s / parse_s, 2), "ratio_cpu": round(bt_cpu / parse_cpu, 2),
               "detectors": {s.detector: {"caught": s.caught, "emergencies": s.emergencies,
                                          "false_alarms": s.false_alarms} for s in rep.scores}}
    slow_n = a.slow_messages if a.slow_messages is not None else (messages if a.short else 0)
    if slow_n:
        from evaluation.backtest import slow_backtest_file

        t0 = time.perf_counter()
        slow = slow_backtest_file(cfg, traffic, reg, labels, limit=slow_n)
        slow_s = time.perf_counter() - t0
        print(f"slow path   {slow.messages:>12,} messages in {slow_s:8.1f} s  {slow.messages / slow_s:>12,.0f} msg/s",
              flush=True)
        figures["slow"] = {"seconds": round(slow_s, 2), "messages": slow.messages,
                           "messages_per_s": round(slow.messages / slow_s)}
        if slow.messages == rep.messages:
            same = [(x.rule, x.subject, x.at) for x in slow.alerts] == [(x.rule, x.subject, x.at) for x in rep.alerts]
            figures["same_alerts"] = same
            print(f"same alerts, same times on both paths: {'yes' if same else 'NO'} ({len(slow.alerts)} alerts)")
    per_full = bt_s / rep.messages * FULL_MESSAGES
    figures["full_estimate_s"] = round(per_full, 1)
    print(f"GOAL: 43.2 M messages in under {GOAL_S / 60:.0f} min: "
          + (f"{bt_s:.0f} s here" if rep.messages >= FULL_MESSAGES else f"{per_full:.0f} s at this rate")
          + (" - met" if per_full <= GOAL_S else " - NOT met"))
    if a.json is not None:
        a.json.write_text(json.dumps(figures, indent=2))
        print(f"wrote {a.json}")
    return 0 if figures.get("same_alerts", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
