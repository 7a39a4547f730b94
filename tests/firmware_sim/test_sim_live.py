"""A live run (`sim run --live`, what `shouwang up` runs): incidents at offsets from the first start, a fall placed
so that the inactivity window ends when the scenario says, and a state that makes a restart resume, not replay."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from firmware_sim.errors import ScenarioError
from firmware_sim.generate import Simulation
from firmware_sim.live import LiveState, begin, fall_time, load_state, save_state, state_file
from firmware_sim.models.base import Calendar
from firmware_sim.scenario import load_scenario, parse_scenario
from firmware_sim.scenario.load import SCENARIO_DIR
from firmware_sim.timeparse import DAY_MS, HOUR_MS, MINUTE_MS
from wire.models import Channel

ZONE = load_scenario("demo").zone
ORIGIN = int(dt.datetime(2026, 3, 10, 14, 26, 0, tzinfo=ZONE).timestamp() * 1000)  # a fixed date: any day works


def _events(sim: Simulation, device: str) -> list[tuple[int, str]]:
    return [(m.ts, m.data["action"]) for m in sim.messages() if m.device == device and m.channel is Channel.EVENT]


def test_live_incidents_happen_at_their_offsets_and_only_in_live_runs() -> None:
    demo = load_scenario("demo")
    assert [i.type for i in demo.live_incidents][:2] == ["fall", "button_press"] and len(demo.incidents) == 7
    live = Simulation(demo, ORIGIN - DAY_MS, ORIGIN + HOUR_MS, live_origin_ms=ORIGIN)
    presses = _events(live, "cb-0002")
    assert presses[:2] == [(ORIGIN + 2 * MINUTE_MS, "press"), (ORIGIN + 2 * MINUTE_MS + 90_000, "press")]
    # the scripted day's press at 15:20 is not part of the live run (it is the day `sim run demo` plays)
    scripted_1520 = int(dt.datetime(2026, 3, 9, 15, 20, tzinfo=ZONE).timestamp() * 1000)
    assert all(ts != scripted_1520 for ts, _ in presses)
    # and a scripted-day run plays none of the live incidents
    day = Simulation(demo, ORIGIN - DAY_MS, ORIGIN + HOUR_MS)
    assert all(ts < ORIGIN for ts, action in _events(day, "cb-0002") if action == "press")


def test_a_live_fall_is_placed_so_that_the_window_of_awake_hours_ends_when_stated() -> None:
    demo = load_scenario("demo")
    hh = next(h for h in demo.households if h.id == "hh-0003")  # bedtime 21:15, 8 h of sleep, window 6 h
    cal = Calendar.for_window(ZONE, ORIGIN - DAY_MS, None)
    ends = int(dt.datetime(2026, 3, 10, 8, 0, tzinfo=ZONE).timestamp() * 1000)
    # awake 05:15-08:00 (2 h 45 min) that morning, the other 3 h 15 min before her bedtime the evening before
    assert fall_time(hh, ends, cal) == int(dt.datetime(2026, 3, 9, 18, 0, tzinfo=ZONE).timestamp() * 1000)
    # in the demo: her meter's register stops moving a few minutes before the fall, and never moves after it
    sim = Simulation(demo, ORIGIN - DAY_MS, ORIGIN + HOUR_MS, live_origin_ms=ORIGIN)
    fall = fall_time(hh, ORIGIN + 12 * MINUTE_MS, cal)
    readings = [(m.ts, m.data["total_l"]) for m in sim.messages() if m.device == "wm-0003"
                and m.channel is Channel.READING]
    moved = [ts for (ts, v), (_, prev) in zip(readings[1:], readings, strict=False) if v != prev]
    assert fall - 10 * MINUTE_MS < moved[-1] <= fall + 5 * MINUTE_MS
    assert readings[-1][0] > ORIGIN + 50 * MINUTE_MS  # the meter keeps reporting, unchanged


def test_state_resumes_where_the_last_run_stopped(tmp_path: Path) -> None:
    demo = load_scenario("demo")
    path = state_file(tmp_path, "demo")
    st, after = begin(path, demo, ORIGIN + 234)
    assert st.origin_ms == ORIGIN and after == ORIGIN - DAY_MS - 1  # first start: the whole day before is history
    save_state(path, LiveState("demo", demo.seed, ORIGIN, ORIGIN + 40 * MINUTE_MS))
    st, after = begin(path, demo, ORIGIN + 3 * HOUR_MS)
    assert st.origin_ms == ORIGIN and after == ORIGIN + 40 * MINUTE_MS  # a restart: only the gap is left
    assert load_state(path, load_scenario("demo", seed=7)) is None  # another seed starts afresh


def test_an_incident_takes_exactly_one_time() -> None:
    base = (SCENARIO_DIR / "demo.toml").read_text()
    for extra, why in (('at = "10:00"\nafter = "2m"', "exactly one of"), ("", "exactly one of"),
                       ('after = "2m"\nday = 0\nwindow_ends_after = "5m"', "exactly one of")):
        text = base + f'\n[[incidents]]\ntype = "fall"\nhousehold = "hh-0001"\n{extra}\n'
        with pytest.raises(ScenarioError, match=why):
            parse_scenario(text, "x.toml")
    text = base + '\n[[incidents]]\ntype = "tamper"\ncamera = "cam-0001"\nafter = "1m"\nday = 1\n'
    with pytest.raises(ScenarioError, match="takes no `day`"):
        parse_scenario(text, "x.toml")


def _background_that_a_rule_watches(sim: Simulation) -> list[tuple[int, str, dict]]:
    """Camera events of a kind some zone watches (person, intrusion, line crossing) that no incident scripted, and
    call-button presses: what could open an alert beside the incidents."""
    out = []
    for m in sim.messages():
        if m.channel is not Channel.EVENT:
            continue
        camera = m.kind.value == "camera" and m.data["type"] != "motion" and "-s" not in m.data["event_id"]
        if camera or (m.kind.value == "call_button" and m.data["action"] in ("press", "long_press")):
            out.append((m.ts, m.device, m.data))
    return out


@pytest.mark.parametrize("hour", [3, 14])
def test_a_live_run_has_background_activity_that_no_rule_watches(hour: int) -> None:
    """A day live from a night or an afternoon start: the cameras still see activity, as motion only; the only
    presses are the scripted ones. `sim run` (the scripted days) keeps its persons, line crossings and
    accidental presses, which the evaluation scores as false alarms."""
    text = (SCENARIO_DIR / "demo.toml").read_text().replace(
        'button = { id = "cb-0001" }', 'button = { id = "cb-0001", accidental_press_per_day = 1.0 }')
    demo = parse_scenario(text, "demo.toml")
    origin = int(dt.datetime(2026, 3, 12, hour, 5, tzinfo=ZONE).timestamp() * 1000)
    live = Simulation(demo, origin - DAY_MS, origin + DAY_MS, live_origin_ms=origin)
    watched = _background_that_a_rule_watches(live)
    assert sorted((ts - origin, dev) for ts, dev, _ in watched) == [
        (2 * MINUTE_MS, "cb-0002"), (2 * MINUTE_MS + 90_000, "cb-0002"), (5 * MINUTE_MS, "cb-0004")]
    live = Simulation(demo, origin - DAY_MS, origin + DAY_MS, live_origin_ms=origin)
    motion = [m for m in live.messages() if m.kind.value == "camera" and m.channel is Channel.EVENT]
    assert len(motion) > 50 and {m.device for m in motion} == {"cam-0001", "cam-0002", "cam-0003"}
    scripted = Simulation(demo, origin - DAY_MS, origin + DAY_MS)
    kinds = {(d["type"] if "type" in d else d["action"]) for _, _, d in _background_that_a_rule_watches(scripted)}
    assert {"person", "line_crossing", "press"} <= kinds
