"""The generated stream: deterministic, contract-valid, time-ordered, and the incidents really happen."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

import pytest

from firmware_sim.generate import Simulation
from firmware_sim.labels import read_labels, write_labels
from firmware_sim.scenario import Community, load_scenario, parse_scenario
from firmware_sim.scenario.load import SCENARIO_DIR
from firmware_sim.timeparse import DAY_MS, HOUR_MS, MINUTE_MS
from tests.firmware_sim.conftest import DEMO_DAY
from wire import decode, encode
from wire.models import Channel, Message

DEMO_TEXT = (SCENARIO_DIR / "demo.toml").read_text()


def _wire(sim: Simulation) -> list[tuple[str, bytes]]:
    return [(o.topic, o.payload) for o in sim.outgoing()]


def _at(c: Community, day: int, clock: str) -> int:
    h, m = map(int, clock.split(":"))
    return c.start_ms(DEMO_DAY) + day * DAY_MS + (h * 60 + m) * MINUTE_MS


def _by_device(msgs: list[Message], device: str, channel: Channel | None = None) -> list[Message]:
    return [m for m in msgs if m.device == device and (channel is None or m.channel == channel)]


def test_same_seed_gives_byte_identical_traffic(demo: Community) -> None:
    start = demo.start_ms(DEMO_DAY)
    a = _wire(Simulation(demo, start, start + DAY_MS))
    b = _wire(Simulation(load_scenario("demo"), start, start + DAY_MS))
    assert len(a) > 10_000
    assert a == b
    other = _wire(Simulation(load_scenario("demo", seed=7), start, start + DAY_MS))
    assert other != a and len(other) > 10_000


def test_a_shorter_window_is_a_prefix_of_a_longer_one(demo: Community) -> None:
    start = demo.start_ms(DEMO_DAY)
    short = _wire(Simulation(demo, start, start + 6 * HOUR_MS))
    full = _wire(Simulation(demo, start, start + DAY_MS))
    assert short == full[: len(short)]


def test_fast_payloads_are_what_wire_encode_makes_and_decode_accepts(demo: Community, demo_day: Simulation) -> None:
    outs = list(Simulation(demo, demo_day.start_ms, demo_day.end_ms).outgoing())  # a stream is single-use
    assert len(outs) == len(demo_day.all)
    for msg, out in zip(demo_day.all, outs, strict=True):
        topic, payload = encode(msg)
        assert (topic, payload) == (out.topic, out.payload)
        assert decode(out.topic, out.payload) == msg


def test_stream_is_time_ordered_within_the_window_with_increasing_seq(demo_day: Simulation) -> None:
    msgs = demo_day.all
    assert all(a.ts <= b.ts for a, b in zip(msgs, msgs[1:], strict=False))
    assert demo_day.start_ms <= msgs[0].ts and msgs[-1].ts < demo_day.end_ms
    last: dict[str, int] = {}
    for m in msgs:
        assert m.seq > last.get(m.device, 0)
        last[m.device] = m.seq
    kinds = {m.kind.value for m in msgs}
    assert kinds == {"water_meter", "call_button", "river_gauge", "camera"}


def test_meter_register_advances_in_resolution_steps(demo_day: Simulation) -> None:
    coarse = _by_device(demo_day.all, "wm-0005", Channel.READING)  # resolution_l = 10 in the demo
    fine = _by_device(demo_day.all, "wm-0001", Channel.READING)
    assert len(fine) == 24 * 12  # a reading every 5 minutes
    assert all(m.data["total_l"] % 10 == 0 for m in coarse)
    assert all(float(m.data["total_l"]).is_integer() for m in fine)
    for series in (coarse, fine):
        totals = [m.data["total_l"] for m in series]
        assert totals == sorted(totals) and totals[-1] - totals[0] > 50  # a day of an elderly household


def test_fall_stops_all_water_use_and_is_labelled(demo: Community, demo_day: Simulation) -> None:
    t = _at(demo, 0, "09:40")
    readings = _by_device(demo_day.all, "wm-0003", Channel.READING)
    before = [m for m in readings if m.ts < t]
    after = [m for m in readings if m.ts >= t + 5 * MINUTE_MS]
    assert before[-1].data["total_l"] > before[0].data["total_l"]
    assert len({m.data["total_l"] for m in after}) == 1, "the register must not move after the fall"
    assert all(m.data["flow_lpm"] == 0 for m in after)
    label = next(lab for lab in demo_day.labels.labels() if lab.what == "fall")
    assert label.household == "hh-0003" and label.devices == ("wm-0003",) and label.start_ms == t
    assert label.expected_rule == "water_inactivity"
    assert label.details["last_use_ms"] <= t
    assert label.details["alert_due_ms"] == label.details["last_use_ms"] + 6 * HOUR_MS
    # the last reading that moved is at or before the label's last use (plus one reading interval)
    moved = [b for a, b in zip(readings, readings[1:], strict=False) if b.data["total_l"] != a.data["total_l"]]
    assert moved[-1].ts <= label.details["last_use_ms"] + 5 * MINUTE_MS


def test_typhoon_peak_and_warning_crossing_match_the_script(demo: Community, demo_day: Simulation) -> None:
    gauge = demo.gauges[0]
    spikes = {lab.start_ms for lab in demo_day.labels.labels() if lab.what == "spike"}
    levels = [(m.ts, m.data["level_m"]) for m in _by_device(demo_day.all, "rg-0001", Channel.READING)
              if m.ts not in spikes]
    peak_at = _at(demo, 0, "12:00")  # 04:00 + 8 h rise
    peak = max(v for _, v in levels)
    assert abs(peak - 4.6) < gauge.daily_amplitude_m + 5 * gauge.noise_m
    top = [ts for ts, v in levels if v > 4.6 - 0.05]
    assert peak_at - HOUR_MS <= min(top) and max(top) <= peak_at + 2 * HOUR_MS + 30 * MINUTE_MS
    label = next(lab for lab in demo_day.labels.labels() if lab.what == "typhoon" and
                 lab.expected_rule == "river_level_warning")
    first_over = next(ts for ts, v in levels if v >= gauge.warning_level_m)
    assert abs(first_over - label.details["warning_cross_ms"]) < 15 * MINUTE_MS
    # above the warning level the station reports every minute
    high = [ts for ts, v in levels if v > 4.0]
    assert min(b - a for a, b in zip(high, high[1:], strict=False)) == MINUTE_MS
    before = [v for ts, v in levels if ts < _at(demo, 0, "04:00")]
    assert all(abs(v - 1.8) < 0.1 for v in before)
    # raw distance follows the mount height
    m = _by_device(demo_day.all, "rg-0001", Channel.READING)[0]
    assert m.data["raw_distance_m"] == pytest.approx(8.0 - m.data["level_m"], abs=0.002)


def test_button_press_cancel_and_heartbeats(demo: Community, demo_day: Simulation) -> None:
    events = [(m.ts, m.data["action"]) for m in _by_device(demo_day.all, "cb-0002", Channel.EVENT)
              if m.data["action"] != "test"]
    t = _at(demo, 0, "15:20")
    assert (t, "press") in events and (t + 90_000, "press") in events
    cancelled = _by_device(demo_day.all, "cb-0004", Channel.EVENT)
    t2 = _at(demo, 0, "10:12")
    assert [(m.ts, m.data["action"]) for m in cancelled if m.ts >= t2][:2] == [(t2, "press"), (t2 + 8000, "cancel")]
    beats = _by_device(demo_day.all, "cb-0001", Channel.STATUS)
    assert len(beats) == 1 and beats[0].data["heartbeat"] is True and 2.8 < beats[0].data["battery_v"] <= 3.0


def test_tap_left_running_flows_and_raises_the_leak_flag(demo: Community, demo_day: Simulation) -> None:
    t = _at(demo, 0, "19:30")
    during = [m for m in _by_device(demo_day.all, "wm-0117", Channel.READING) if t < m.ts < t + 150 * MINUTE_MS]
    assert all(m.data["flow_lpm"] >= 5.0 for m in during)
    assert not during[0].data["leak_flag"] and during[-1].data["leak_flag"]
    litres = during[-1].data["total_l"] - during[0].data["total_l"]
    assert litres >= 5.0 * (during[-1].ts - during[0].ts) / MINUTE_MS - 1


def test_camera_intrusion_and_tamper(demo: Community, demo_day: Simulation) -> None:
    cam2 = _by_device(demo_day.all, "cam-0002", Channel.EVENT)
    t = _at(demo, 0, "02:15")
    intr = [m for m in cam2 if m.data["type"] == "intrusion" and m.data.get("score", 1) > 0.9]
    assert [(m.ts, m.data["state"]) for m in intr] == [(t, "start"), (t + 3 * MINUTE_MS, "end")]
    assert intr[0].data["zone"] == "riverside"
    tamper = [m for m in _by_device(demo_day.all, "cam-0003", Channel.EVENT) if m.data["type"] == "tamper"]
    assert [m.data["state"] for m in tamper] == ["start", "end"]
    background = [m for m in demo_day.all if m.kind.value == "camera" and m.channel == Channel.EVENT]
    assert len(background) > 50
    assert {m.data["type"] for m in background} >= {"motion", "person", "line_crossing"}
    ends = defaultdict(int)
    for m in background:
        if m.data["state"] != "pulse":
            ends[m.data["event_id"]] += 1 if m.data["state"] == "start" else -1
    assert all(v == 0 for v in ends.values()), "every start has its end"


def test_labels_file_round_trip(tmp_path, demo_day: Simulation) -> None:  # noqa: ANN001
    labels = demo_day.labels.labels()
    path = tmp_path / "labels.jsonl"
    assert write_labels(path, labels, "demo", 1) == len(labels)
    back = read_labels(path)
    assert [r["id"] for r in back] == [f"L{i:04d}" for i in range(1, len(labels) + 1)]
    assert [r["start_ms"] for r in back] == sorted(r["start_ms"] for r in back)
    whats = {r["what"] for r in back}
    assert {"fall", "button_press", "typhoon", "intrusion", "tamper", "tap_left_running"} <= whats
    for r in back:
        assert set(r) == {"id", "what", "source", "household", "devices", "gateway", "start_ms", "end_ms",
                          "expected_rule", "details", "scenario", "seed"}


def _mini(incidents: str, extra: str = "") -> Community:
    return parse_scenario(f'''
[scenario]
name = "mini"
seed = 3
days = 2
[[grids]]
id = "g"
[[buildings]]
id = "b"
grid = "g"
gateway = "gw"
[[households]]
id = "hh-1"
building = "b"
solitary_elderly = true
meter = {{ id = "wm-1", interval = "10m" }}
button = {{ id = "cb-1", heartbeat = "1h" }}
[[river_gauges]]
id = "rg-1"
gateway = "gw"
warning_level_m = 3
guaranteed_level_m = 4
{extra}
{incidents}
''', "mini.toml")


def _run(c: Community) -> tuple[list[Message], Simulation]:
    start = c.start_ms(DEMO_DAY)
    sim = Simulation(c, start, start + c.meta.days * DAY_MS)
    return list(sim.messages()), sim


def test_device_silent_stuck_sensor_dropout_and_away() -> None:
    c = _mini('''
[[incidents]]
type = "device_silent"
device = "cb-1"
at = "06:00"
duration = "5h"
[[incidents]]
type = "stuck_sensor"
gauge = "rg-1"
at = "10:00"
duration = "1h"
[[incidents]]
type = "gauge_dropout"
gauge = "rg-1"
at = "14:00"
duration = "2h"
[[incidents]]
type = "away"
household = "hh-1"
day = 1
at = "00:00"
duration = "1d"
''')
    msgs, sim = _run(c)
    base = c.start_ms(DEMO_DAY)
    button = [m.ts for m in msgs if m.device == "cb-1"]
    assert not [ts for ts in button if base + 6 * HOUR_MS <= ts < base + 11 * HOUR_MS]
    assert len(button) > 30  # hourly heartbeats outside the window
    gauge = [m for m in msgs if m.device == "rg-1" and m.channel == Channel.READING]
    stuck = [m.data["level_m"] for m in gauge if base + 10 * HOUR_MS <= m.ts < base + 11 * HOUR_MS]
    assert len(stuck) >= 11 and len(set(stuck)) == 1
    assert not [m for m in gauge if base + 14 * HOUR_MS <= m.ts < base + 16 * HOUR_MS]
    away = [m.data["total_l"] for m in msgs if m.device == "wm-1" and m.channel == Channel.READING
            and base + DAY_MS <= m.ts < base + 2 * DAY_MS]
    assert len(set(away)) == 1
    rules = {(lab.what, lab.expected_rule) for lab in sim.labels.labels()}
    assert {("device_silent", "device_silent"), ("stuck_sensor", "sensor_stuck"), ("gauge_dropout", "device_silent"),
            ("away", None)} <= rules


def test_battery_low_and_slow_leak() -> None:
    c = _mini('''
[[incidents]]
type = "battery_low"
button = "cb-1"
at = "12:00"
[[incidents]]
type = "slow_leak"
household = "hh-1"
day = 1
at = "02:00"
flow_lpm = 0.3
''')
    msgs, sim = _run(c)
    base = c.start_ms(DEMO_DAY)
    volts = [(m.ts, m.data["battery_v"]) for m in msgs if m.device == "cb-1" and m.channel == Channel.STATUS]
    assert all(v > 2.8 for ts, v in volts if ts < base + 12 * HOUR_MS)
    assert all(v < 2.4 for ts, v in volts if ts > base + 13 * HOUR_MS)
    night = [m for m in msgs if m.device == "wm-1" and m.channel == Channel.READING
             and base + DAY_MS + 2 * HOUR_MS < m.ts < base + DAY_MS + 4 * HOUR_MS]
    assert all(m.data["flow_lpm"] >= 0.3 for m in night)
    assert night[-1].data["total_l"] - night[0].data["total_l"] >= math.floor(0.3 * 100) - 2
    label = next(lab for lab in sim.labels.labels() if lab.what == "battery_low")
    assert label.details["alert_due_ms"] >= base + 12 * HOUR_MS
    assert any(lab.what == "slow_leak" and lab.expected_rule == "continuous_flow" for lab in sim.labels.labels())


def test_elderly_routines_look_like_people() -> None:
    """A month of elderly routines: plausible volumes, quiet nights, and the nights a fixed timer would misfire."""
    from firmware_sim.models.base import Calendar
    from firmware_sim.models.routine import plan_day

    c = load_scenario("elderly-month")
    start = c.start_ms(dt.date(2025, 6, 1))
    cal = Calendar.for_window(c.zone, start, start + 30 * DAY_MS)
    volumes, long_gaps, days = [], 0, 0
    for hh in c.households[:20]:
        prev_end = None
        for d in range(30):
            draws = plan_day(hh, c.seed, cal, d)
            volumes.append(sum((e - s) * r for s, e, r in draws))
            for s, e, _ in draws:
                if prev_end is not None and s - prev_end > 6 * HOUR_MS:
                    long_gaps += 1
                prev_end = max(prev_end or 0, e)
            days += 1
    volumes.sort()
    assert 60 < volumes[len(volumes) // 2] < 250, "litres a day of one elderly resident"
    assert 0.1 < long_gaps / days < 0.9, "some nights are longer than 6 h without water: a fixed timer misfires"
