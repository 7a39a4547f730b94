"""`shouwang up` keeps one notion of time: the demo runs live, the README's own publish during its start opens no
alert, the scripted incidents open theirs at their own times, and a restart neither replays nor duplicates.

The stack test runs the demo scenario with its live incidents brought forward (a press 25 s, the end of a fallen
resident's inactivity window 40 s after the first start) and its background as shipped (cameras, buttons); the
fallen resident's bedtime is put 12 hours from the test's start, so that she is awake whenever it runs.
The stream tests run the shipped demo's live stream (its day of history, then a day live) through the real rules
engine from a night-time and a daytime first start: the only alerts are the ones the scenario scripts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alerts.engine import Engine
from alerts.lifecycle import AlertChange
from alerts.settings import AlertsConfig
from alerts.store import AlertStore
from alerts.types import Rule
from firmware_sim.generate import Simulation
from firmware_sim.scenario.load import SCENARIO_DIR, load_scenario
from ground.clock import ManualClock
from notify.recorder import StoreNotifier
from registry.scenario import import_community, require_clean
from shouwang.config import load_config
from shouwang.procs import free_port
from storage.sql import Database
from tests.conftest import write_config
from tests.helpers import free_port_pair, wait_for

README = Path(__file__).resolve().parents[1] / "README.md"
SCRIPTED = {(Rule.CALL_BUTTON, "hh-0002"), (Rule.WATER_INACTIVITY, "hh-0003")}


def _scenario(path: Path) -> Path:
    text = (SCENARIO_DIR / "demo.toml").read_text(encoding="utf-8")
    text = text[:text.index("# --- live:")]
    # the rules do not count sleep: her window can only run out while she is awake (live.window_end)
    awake = (dt.datetime.now(load_scenario("demo").zone) + dt.timedelta(hours=12)).strftime("%H:%M")
    hh3 = text.index('id = "hh-0003"')
    text = text[:hh3] + text[hh3:].replace('bedtime = "21:15"', f'bedtime = "{awake}"', 1)
    text += ('\n[[incidents]]\ntype = "button_press"\nbutton = "cb-0002"\nafter = "25s"\n'
             '\n[[incidents]]\ntype = "fall"\nhousehold = "hh-0003"\nwindow_ends_after = "40s"\n')
    path.write_text(text, encoding="utf-8")
    return path


def _readme_publish(state: Path, port: int, cfg_file: Path) -> str:
    """The README's publish example, as a user pastes it, pointed at this test's config, state directory and port."""
    block = next(b for b in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
                 if "mosquitto_pub" in b)
    lines = []
    for line in block.splitlines():
        if line.startswith(("influx", "curl")):
            break
        lines.append(line)
    script = "\n".join(lines).replace("~/.local/state/shouwang", str(state))
    script = script.replace(".venv/bin/shouwang ", f"{sys.executable} -m shouwang --config {cfg_file} ")
    return "set -e\n" + script.replace("-p 18830", f"-p {port}")  # fails if any of its commands does


def _up(cfg_file: Path, out: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    with out.open("w") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "up"], stdout=fh,
                                stderr=subprocess.STDOUT, env=env)


def _stop(up: subprocess.Popen) -> None:
    if up.poll() is None:
        up.send_signal(signal.SIGTERM)
        assert up.wait(90) == 0


def test_a_live_publish_during_the_demo_start_opens_nothing_and_a_restart_replays_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    broker_port = free_port()
    cfg_file = write_config(tmp_path / "c.toml", state, broker={"port": broker_port, "service_port": free_port()},
                            influx={"port": free_port_pair()}, ingest={"metrics_port": free_port()},
                            api={"port": free_port()}, sim={"scenario": str(_scenario(tmp_path / "demo-now.toml"))},
                            alerts={"tick_s": 0.5})
    # critical alerts climb to community duty after 1 min unacknowledged: the ladder must go on across a restart
    cfg_file.write_text(cfg_file.read_text() + '[alerts.escalation]\ncritical = [{after_min = 0, roles = '
                        '["grid_worker", "family"]}, {after_min = 1, roles = ["community_duty"]}]\n')
    cfg = load_config(cfg_file, env={})
    publish = _readme_publish(state, broker_port, cfg_file)
    out = tmp_path / "up1.out"
    up = _up(cfg_file, out)
    try:
        # the README's example while the stack is still starting (as soon as the demo gateways have credentials)
        wait_for(lambda: (state / "broker" / "gateways" / "demo-gw-1.toml").exists(), timeout=60, what="credentials")
        wait_for(lambda: subprocess.run(["bash", "-c", publish], capture_output=True, timeout=30).returncode == 0,
                 timeout=60, what="the README's publish to be accepted")
        wait_for(lambda: "Shouwang is up." in out.read_text(), timeout=120, what="banner")
        assert subprocess.run(["bash", "-c", publish], capture_output=True, timeout=30).returncode == 0
        live = json.loads((state / "sim" / "demo.json").read_text())
        with Database.from_config(cfg) as db:
            store = AlertStore(db)

            def opened() -> set[tuple[Rule, str]]:
                return {(a.rule, a.subject) for a in store.all()}

            wait_for(lambda: SCRIPTED <= opened(), timeout=240, what=f"the scripted alerts (have {opened()})")
            alerts = store.all()
            assert opened() == SCRIPTED, "only what the scenario scripted"
            press = next(a for a in alerts if a.rule is Rule.CALL_BUTTON)
            assert press.opened_at == live["origin_ms"] + 25_000  # the press's own time
            assert all(a.opened_at >= live["origin_ms"] - 600_000 for a in alerts)
        # the demo has played past its last incident (+40 s) before the stop, so the restart has none still to come
        wait_for(lambda: json.loads((state / "sim" / "demo.json").read_text())["played_to_ms"]
                 >= live["origin_ms"] + 60_000, timeout=90, what="the demo played past its incidents")
        _stop(up)

        # a restart: the demo resumes where it stopped, nothing scripted happens twice, the ladder goes on
        out2 = tmp_path / "up2.out"
        up = _up(cfg_file, out2)
        wait_for(lambda: "Shouwang is up." in out2.read_text(), timeout=120, what="banner after the restart")
        again = json.loads((state / "sim" / "demo.json").read_text())
        assert again["origin_ms"] == live["origin_ms"] and again["played_to_ms"] > live["played_to_ms"]
        sim_log = (state / "logs" / "sim.log")
        wait_for(lambda: sim_log.read_text().count("resuming at") >= 2, timeout=60, what="the second sim run")
        assert "still to come: no live incidents" in sim_log.read_text().rsplit("resuming at", 1)[1]
        with Database.from_config(cfg) as db:
            store = AlertStore(db)
            wait_for(lambda: store.get(press.id).escalation_step >= 1, timeout=120, what="the escalation")
            rows = [(a.rule, a.subject) for a in store.all()]
            assert sorted(rows) == sorted(SCRIPTED), "no alert twice, no new one"
            assert all(a.time_to_resolve_s is None or a.time_to_resolve_s >= 0 for a in store.all())
        _stop(up)
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(60)


# --- the shipped demo's live stream through the real rules engine, from a night and a day start ----------------

MIN = 60_000
DAY = 24 * 60 * MIN


def _live_demo_alerts(origin_ms: int, tmp_path: Path) -> list[AlertChange]:
    """The demo's day of history and a day live from origin_ms, through a real engine (SQLite, the scenario's
    registry, a manual clock at each message's time, ticked every 30 s for the first 3 h and every 10 min after):
    every alert change, history included."""
    demo = load_scenario("demo")
    sim = Simulation(demo, origin_ms - DAY, origin_ms + DAY, live_origin_ms=origin_ms)
    cfg = AlertsConfig().model_copy(update={"timezone": demo.meta.timezone})
    changes: list[AlertChange] = []
    with Database(f"sqlite:///{tmp_path / 'alerts.db'}") as db:
        require_clean(import_community(db, demo), demo)
        clock = ManualClock(origin_ms - DAY)
        engine = Engine(cfg, db, clock, notifier=StoreNotifier(db, cfg.timezone))

        def step(t: int) -> int:
            return 30_000 if origin_ms - MIN <= t < origin_ms + 180 * MIN else 10 * MIN

        tick = origin_ms - DAY + step(origin_ms - DAY)
        for msg in sim.messages():
            while tick <= msg.ts:
                clock.set(tick)
                changes += engine.tick()
                tick += step(tick)
            clock.set(msg.ts)
            changes += engine.handle(msg)
        while tick <= origin_ms + DAY:
            clock.set(tick)
            changes += engine.tick()
            tick += step(tick)
    return changes


@pytest.mark.parametrize(("start", "fall_alert"), [
    # a Saturday night, 03:40: the fallen resident (asleep 21:15-05:15; the rule does not count sleep) is missed
    # when she would have got up, two minutes after 05:15; the cameras' zones are watched until 06:00
    (dt.datetime(2026, 3, 14, 3, 40), dt.datetime(2026, 3, 14, 5, 17)),
    # a Tuesday afternoon: her window runs out 12 minutes after the start; the night comes in the day live
    (dt.datetime(2026, 3, 10, 14, 26), dt.datetime(2026, 3, 10, 14, 38)),
], ids=["night", "day"])
def test_the_live_demo_raises_only_what_it_scripts_at_its_times_whatever_the_hour(
        tmp_path: Path, start: dt.datetime, fall_alert: dt.datetime) -> None:
    zone = load_scenario("demo").zone
    origin = int(start.replace(tzinfo=zone).timestamp() * 1000)
    changes = _live_demo_alerts(origin, tmp_path)
    opened = [(c.alert.rule, c.alert.subject, c.at) for c in changes if c.action == "opened"]
    shown = "\n".join(f"{r.value} {s} {(t - origin) / MIN:+.1f} min" for r, s, t in opened)
    # nothing else, nothing twice, nothing out of the history (background camera activity at night, accidental
    # presses, an inactivity window that ran out while she slept were all alerts of no incident)
    assert sorted((r, s) for r, s, _ in opened) == sorted([
        (Rule.CALL_BUTTON, "hh-0002"), (Rule.CALL_BUTTON, "hh-0004"), (Rule.CAMERA_TAMPER, "cam-0003"),
        (Rule.WATER_INACTIVITY, "hh-0003"), (Rule.RIVER_RISE, "rg-0001"), (Rule.RIVER_LEVEL, "rg-0001"),
        (Rule.WATER_FLOW, "hh-0117")]), shown
    at = {(r, s): t - origin for r, s, t in opened}
    assert at[Rule.CALL_BUTTON, "hh-0002"] == 2 * MIN  # the press's own time
    assert [c.at - origin for c in changes if c.action == "merged"] == [2 * MIN + 90_000]  # pressed again
    assert at[Rule.CALL_BUTTON, "hh-0004"] == 5 * MIN
    assert at[Rule.CAMERA_TAMPER, "cam-0003"] == 7 * MIN
    fall = int(fall_alert.replace(tzinfo=zone).timestamp() * 1000) - origin
    assert fall - 2 * MIN < at[Rule.WATER_INACTIVITY, "hh-0003"] <= fall + 30_000, shown
    # the river from +3 min: a rise warning first, then 警戒水位, then 保证水位
    assert 20 * MIN <= at[Rule.RIVER_RISE, "rg-0001"] < at[Rule.RIVER_LEVEL, "rg-0001"] <= 50 * MIN, shown
    upgrades = [c.at - origin for c in changes if c.action == "upgraded" and c.alert.rule is Rule.RIVER_LEVEL]
    assert len(upgrades) == 1 and at[Rule.RIVER_LEVEL, "rg-0001"] < upgrades[0] <= 60 * MIN
    # the tap left running from +8 min: continuous flow for 2 h (dated from the reading before the first)
    assert 8 * MIN + 115 * MIN <= at[Rule.WATER_FLOW, "hh-0117"] <= 8 * MIN + 121 * MIN, shown
