"""`shouwang up` keeps one notion of time: the demo runs live, the README's own publish during its start opens no
alert, the scripted incidents open theirs at their own times, and a restart neither replays nor duplicates.

The demo scenario with its live incidents brought forward (a press 25 s, the end of a fallen resident's
inactivity window 40 s after the first start) and its cameras' background activity off, so that the result
is the same at any hour of any day.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from alerts.store import AlertStore
from alerts.types import Rule
from firmware_sim.scenario.load import SCENARIO_DIR
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
    text = re.sub(r"activity_per_hour = [0-9.]+", "activity_per_hour = 0.0", text)
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
