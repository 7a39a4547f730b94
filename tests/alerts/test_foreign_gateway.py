"""One gateway's credentials speaking for a neighbour's devices: a device counts only through its own gateway.

The attacker holds gateway gw-z's username and password. The broker lets it publish only under sw/v1/gw-z/...,
but the device id in the topic is its to choose: `sw/v1/gw-z/btn-0001/event` names a button registered on gw-a.
Before, the engine judged by the device id alone: a cancel from gw-z closed gw-a's real press as a false alarm,
a reading from gw-z ended a silent household's inactivity alert as "water used". Now such a message is taken as
from an unregistered device `btn-0001@gw-z` (Engine.own_gateway), live and after a restart (alerts/rebuild.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from alerts.engine import Engine
from alerts.rebuild import rebuild
from alerts.store import AlertStore
from alerts.types import AlertState, Outcome, Rule
from ground.clock import ManualClock
from ingest.lineproto import message_line
from notify.recorder import StoreNotifier
from registry.csvio import import_rows
from shouwang.config import AlertsConfig, load_config
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.alerts.test_service import registry_csv
from tests.conftest import Services, now_ms, write_config
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind

HOUR = 3_600_000
T0 = 1_795_000_000_000


def _engine(tmp_path: Path, csv: str = SAMPLE_CSV, at: int = T0) -> tuple[Engine, ManualClock, Database]:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    assert import_rows(db, csv).errors == []
    cfg = AlertsConfig()
    clock = ManualClock(at)
    return Engine(cfg, db, clock, notifier=StoreNotifier(db, cfg.timezone)), clock, db


def _button(gw: str, action: str, ts: int, seq: int, device: str = "btn-0001") -> Message:
    return Message(gw, device, Channel.EVENT, Kind.CALL_BUTTON, ts, seq, {"action": action})


def _meter(gw: str, ts: int, seq: int, total: float, device: str = "wm-0001") -> Message:
    return Message(gw, device, Channel.READING, Kind.WATER_METER, ts, seq, {"total_l": total})


def test_a_cancel_from_another_gateway_does_not_swallow_the_press(tmp_path: Path) -> None:
    engine, clock, db = _engine(tmp_path)
    try:
        engine.handle(_button("gw-a", "press", T0, 1))
        clock.advance(5)
        engine.handle(_button("gw-z", "cancel", T0 + 5000, 99))  # within the 120 s cancel window
        store = AlertStore(db)
        [press] = store.active(Rule.CALL_BUTTON)
        assert press.subject == "hh-0001" and press.state is AlertState.OPEN
        assert engine.foreign == 1
        # the resident's own cancel, through her own gateway, still closes it: the check above can fail
        engine.handle(_button("gw-a", "cancel", T0 + 6000, 2))
        assert store.get(press.id).state is AlertState.CLOSED and store.get(press.id).outcome is Outcome.FALSE_ALARM
    finally:
        db.close()


def test_a_press_from_another_gateway_still_raises_without_the_registered_place(tmp_path: Path) -> None:
    """A button moved to another gateway before the registry says so must not go unheard; but what arrives
    from gw-z does not get the resident's name and address, and gw-z can cancel only its own."""
    engine, _clock, db = _engine(tmp_path)
    try:
        engine.handle(_button("gw-z", "press", T0, 1))
        [a] = AlertStore(db).active(Rule.CALL_BUTTON)
        assert a.subject == "device:btn-0001@gw-z" and a.place == "" and a.details["registered"] is False
        engine.handle(_button("gw-a", "press", T0 + 1000, 2))  # the real one: the resident's place
        assert {x.subject for x in AlertStore(db).active(Rule.CALL_BUTTON)} == {"device:btn-0001@gw-z", "hh-0001"}
    finally:
        db.close()


def test_readings_from_another_gateway_do_not_end_a_silence(tmp_path: Path) -> None:
    csv = SAMPLE_CSV.replace("22:00-06:30,7", "00:00-00:00,7")  # no sleep hours: the window alone, any hour
    engine, clock, db = _engine(tmp_path, csv)
    try:
        engine.handle(_meter("gw-a", T0, 1, 100.0))
        for _ in range(8 * 60):
            clock.advance(60)
            engine.tick()
        store = AlertStore(db)
        [silence] = [a for a in store.active(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]
        # gw-z "reads" the meter with water used, over and over
        for k in range(5):
            clock.advance(60)
            engine.handle(_meter("gw-z", clock.now_ms(), 100 + k, 150.0 + 10 * k))
            engine.tick()
        assert store.get(silence.id).state is AlertState.OPEN
        # the meter's own gateway showing a use clears it: the check above can fail
        clock.advance(60)
        engine.handle(_meter("gw-a", clock.now_ms(), 2, 105.0))
        assert store.get(silence.id).state is AlertState.RESOLVED
    finally:
        db.close()


def test_after_a_restart_the_other_gateways_rows_are_not_the_devices_history(services: Services, tmp_path: Path,
                                                                              uid: str) -> None:
    """Ingest stores what gw-z sent (tagged gateway=gw-z, as it came); the rebuild reads a device's history only
    from its own gateway's rows, or a stolen password would end a silence by way of a restart."""
    influx = services.influx
    influx.ensure_database()
    meter = f"wm-0001-{uid}"
    t0 = (now_ms() - 10 * HOUR) // 60_000 * 60_000
    own = [_meter("gw-a", t0 - 60_000, 1, 1000.0, meter), _meter("gw-a", t0, 2, 1005.0, meter)]
    own += [_meter("gw-a", t0 + i * 60_000, 2 + i, 1005.0, meter) for i in range(1, 60)]
    forged = [_meter("gw-z", t0 + 8 * HOUR + i * 60_000, 500 + i, 1005.0 + 3 * i, meter) for i in range(1, 30)]
    influx.write("\n".join(message_line(m) for m in own + forged).encode())
    csv = registry_csv(uid).replace("22:00-06:30,7", "00:00-00:00,7")
    engine, _clock, db = _engine(tmp_path, csv, at=t0 + 9 * HOUR)
    try:
        rep = rebuild(engine, influx)
        i = engine.water.hindex["hh-0001"]
        assert int(engine.water.last_use[i]) == t0 - 60_000  # the use gw-a showed, dated as the live rule dates it
        assert rep.devices_heard[meter] == t0 + 59 * 60_000  # gw-a's last reading, not gw-z's
        engine.tick()
        [silence] = [a for a in AlertStore(db).active(Rule.WATER_INACTIVITY) if a.subject == "hh-0001"]
        assert silence.details["since"] == t0 - 60_000
    finally:
        db.close()


def test_live_a_stolen_gateway_password_cannot_cancel_a_neighbours_press(services: Services, tmp_path: Path,
                                                                         uid: str) -> None:
    """The real broker with the project's generated ACL, ingest's config, `shouwang alerts run` as a child:
    gw-z publishes a cancel for gw-a's button under its own topic (the ACL lets it), within the cancel window."""
    state = tmp_path / "state"
    cfg_file = write_config(tmp_path / "alerts.toml", state,
                            broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port},
                            alerts={"client_id": f"svc_alerts_{uid}", "tick_s": 0.2})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        assert import_rows(db, registry_csv(uid)).errors == []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    log_path = tmp_path / "alerts.log"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "alerts", "run"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        victim, attacker = services.gateway("gw-a"), services.gateway("gw-z")
        btn = f"btn-0001-{uid}"
        try:
            wait_for(lambda: "subscribed to sw/v1/#" in log_path.read_text(), timeout=30, what="the subscription")
            victim.wait_acked([victim.publish(*encode(_button("gw-a", "press", now_ms(), 1, btn)))])
            with Database.from_config(cfg) as db:
                store = AlertStore(db)
                [press] = wait_for(lambda: store.active(Rule.CALL_BUTTON), timeout=20, what="the press alerted")
                assert press.subject == "hh-0001"
                attacker.wait_acked([attacker.publish(*encode(_button("gw-z", "cancel", now_ms(), 7, btn)))])
                wait_for(lambda: "registered on gateway gw-a" in log_path.read_text(), timeout=20,
                         what="the engine's word on gw-z's cancel")
                assert store.get(press.id).state is AlertState.OPEN
                # gw-a's own cancel closes it: the engine was listening all along
                victim.wait_acked([victim.publish(*encode(_button("gw-a", "cancel", now_ms(), 2, btn)))])
                wait_for(lambda: store.get(press.id).state is AlertState.CLOSED, what="the resident's own cancel")
        finally:
            victim.stop()
            attacker.stop()
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(30)
    assert rc == 0, log_path.read_text()[-2000:]
