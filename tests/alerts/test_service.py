"""The engine as a service on real Mosquitto and InfluxDB; restart in the middle of an inactivity."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from alerts.engine import Engine
from alerts.rebuild import rebuild
from alerts.store import AlertStore
from alerts.types import AlertState, Outcome, Rule
from broker_config import Account
from ground.clock import ManualClock
from ingest.lineproto import message_line
from notify.recorder import StoreNotifier
from registry.csvio import import_rows
from shouwang.config import AlertsConfig, load_config
from storage.influx import InfluxClient
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.conftest import Services, now_ms, write_config
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind

DEVICES = ("wm-0001", "wm-0002", "btn-0001", "rg-01", "cam-01", "cam-02")


def registry_csv(uid: str) -> str:
    """The sample registry with device ids made unique for this test (InfluxDB is shared)."""
    text = SAMPLE_CSV
    for d in DEVICES:
        text = text.replace(f"device,{d},", f"device,{d}-{uid},")
    return text


def test_cli_service_end_to_end(services: Services, tmp_path: Path, uid: str) -> None:
    """`shouwang alerts` as a child: a press becomes a stored, notified, published, charted alert."""
    state = tmp_path / "state"
    cfg_file = write_config(tmp_path / "alerts.toml", state, broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port},
                            alerts={"client_id": f"svc_alerts_{uid}", "tick_s": 0.2})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        assert import_rows(db, registry_csv(uid)).errors == []
    watcher = services.service_peer(Account.API)
    watcher.client.subscribe("sw/alerts/v1/#", qos=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    log = open(tmp_path / "alerts.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "alerts", "run"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    gw = services.gateway("gw-a")
    try:
        wait_for(lambda: "subscribed to sw/v1/#" in (tmp_path / "alerts.log").read_text(), timeout=30,
                 what="the engine's subscription")
        btn = f"btn-0001-{uid}"
        t_press = now_ms()
        topic, body = encode(Message("gw-a", btn, Channel.EVENT, Kind.CALL_BUTTON, t_press, 1, {"action": "press"}))
        gw.wait_acked([gw.publish(topic, body)])
        with Database.from_config(cfg) as db:
            store = AlertStore(db)
            [a] = wait_for(lambda: store.active(Rule.CALL_BUTTON), timeout=20, what="the call-button alert")
            assert a.subject == "hh-0001" and a.opened_at == t_press
            wait_for(lambda: len(store.deliveries(a.id)) == 2, what="two notifications handed over")
            # MQTT: an event and a retained active state, codes only
            ev = wait_for(lambda: [m for m in watcher.messages if m.topic == "sw/alerts/v1/event"], what="event")
            payload = json.loads(ev[0].payload)
            assert payload["id"] == a.id and payload["action"] == "opened" and payload["place"] == "hh-0001"
            assert "Chen" not in ev[0].payload.decode() and "Room" not in ev[0].payload.decode()
            active = wait_for(lambda: [m for m in watcher.messages if m.topic == f"sw/alerts/v1/active/{a.id}"],
                              what="the active-alert state")
            assert json.loads(active[0].payload)["state"] == "open"
            # InfluxDB: the alert point with rule, severity and grid tags
            q = f"SELECT id, state FROM alert WHERE rule = 'call_button' AND id = {a.id} AND time >= {t_press * 10**6}"
            rows = wait_for(lambda: services.influx.rows(q), what="the alert point")
            assert rows[0]["state"] == "open"
            tagged = services.influx.query('SHOW TAG VALUES FROM "alert" WITH KEY = "grid"')
            assert ["grid", "gr-01"] in tagged[0]["values"]
            # the resident cancels: closed as a false alarm, the retained state is emptied
            topic, body = encode(Message("gw-a", btn, Channel.EVENT, Kind.CALL_BUTTON, now_ms(), 2,
                                         {"action": "cancel"}))
            gw.wait_acked([gw.publish(topic, body)])
            wait_for(lambda: store.get(a.id).state is AlertState.CLOSED, what="the false-alarm close")
            assert store.get(a.id).outcome is Outcome.FALSE_ALARM
        wait_for(lambda: any(m.topic == f"sw/alerts/v1/active/{a.id}" and m.payload == b"" for m in watcher.messages),
                 what="the retained active state cleared")
    finally:
        gw.stop()
        watcher.stop()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        log.close()
    assert rc == 0, (tmp_path / "alerts.log").read_text()[-2000:]
    assert (state / "alerts" / "routine.npz").exists()  # the learned routine is saved on the way out


def _write(influx: InfluxClient, msgs: list[Message]) -> None:
    influx.write("\n".join(message_line(m) for m in msgs).encode(), precision="ns")


def test_restart_mid_inactivity_neither_forgets_nor_repeats(services: Services, tmp_path: Path, uid: str) -> None:
    influx = services.influx
    influx.ensure_database()
    meter = f"wm-0001-{uid}"
    other = f"wm-0002-{uid}"
    t0 = (now_ms() - 20 * 3600_000) // 60_000 * 60_000  # real time: inside InfluxDB's retention
    # last use at t0 (register 1000 -> 1005), then readings every 5 min without use for 3 h
    msgs = [Message("gw-a", meter, Channel.READING, Kind.WATER_METER, t0 - 300_000, 1, {"total_l": 1000.0})]
    msgs += [Message("gw-a", meter, Channel.READING, Kind.WATER_METER, t0 + i * 300_000, 2 + i, {"total_l": 1005.0})
             for i in range(37)]
    msgs += [Message("gw-a", other, Channel.READING, Kind.WATER_METER, t0 + i * 300_000, 1 + i,
                     {"total_l": 50.0 + i * 3}) for i in range(37)]
    _write(influx, msgs)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    # no sleep hours: window only; wm-0001 registered at the 5 min it is read at here
    csv = registry_csv(uid).replace("22:00-06:30,7", "00:00-00:00,7")
    row = f"device,{meter},hh-0001,,,,,,gw-a,water_meter,"
    csv = csv.replace(row + "60,", row + "300,")
    import_rows(db, csv)
    cfg = AlertsConfig()
    try:
        # engine A starts 3 h into the inactivity: it knows the last use was at t0, not "now"
        clock = ManualClock(t0 + 3 * 3600_000)
        a = Engine(cfg, db, clock, notifier=StoreNotifier(db, cfg.timezone))
        rep = rebuild(a, influx)
        # the use showed at t0 and is dated at the reading before it, as the live rule does
        t_use = t0 - 300_000
        assert rep.households_last_use == 2 and a.water.last_use[a.water.hindex["hh-0001"]] == t_use
        while clock.now_ms() < t_use + 7 * 3600_000 + 120_000:
            clock.advance(60)
            a.tick()
        [alert] = [x for x in AlertStore(db).all() if x.rule is Rule.WATER_INACTIVITY and x.subject == "hh-0001"]
        assert t_use + 7 * 3600_000 < alert.opened_at <= t_use + 7 * 3600_000 + 60_000
        # engine B restarts an hour later: no second alert for the same inactivity
        clock_b = ManualClock(t0 + 8 * 3600_000)
        b = Engine(cfg, db, clock_b, notifier=StoreNotifier(db, cfg.timezone))
        rebuild(b, influx)
        for _ in range(30):
            clock_b.advance(60)
            b.tick()
        assert len([x for x in AlertStore(db).all() if x.rule is Rule.WATER_INACTIVITY
                    and x.subject == "hh-0001"]) == 1
        # handled by staff, then a restart: still not raised again
        AlertStore(db).resolve(alert.id, "c-gw1", "cli", clock_b.now_ms(), "visited: resident was out")
        clock_c = ManualClock(clock_b.now_ms() + 60_000)
        c = Engine(cfg, db, clock_c, notifier=StoreNotifier(db, cfg.timezone))
        rebuild(c, influx)
        for _ in range(10):
            clock_c.advance(60)
            c.tick()
        assert len([x for x in AlertStore(db).all() if x.rule is Rule.WATER_INACTIVITY
                    and x.subject == "hh-0001"]) == 1
    finally:
        db.close()


def test_restart_during_a_flood_keeps_the_stage(services: Services, tmp_path: Path, uid: str) -> None:
    influx = services.influx
    gauge = f"rg-01-{uid}"
    t0 = (now_ms() - 10 * 3600_000) // 60_000 * 60_000
    levels = [3.0 + 0.05 * i for i in range(24)]  # 2 h rising through the warning level 3.5
    msgs = [Message("gw-b", gauge, Channel.READING, Kind.RIVER_GAUGE, t0 + i * 300_000, i + 1, {"level_m": v})
            for i, v in enumerate(levels)]
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    import_rows(db, registry_csv(uid))
    try:
        clock = ManualClock(t0)
        a = Engine(AlertsConfig(), db, clock, notifier=StoreNotifier(db, AlertsConfig().timezone))
        for m in msgs:
            clock.set(m.ts)
            a.handle(m)
        _write(influx, msgs)
        level_alerts = [x for x in AlertStore(db).all() if x.rule is Rule.RIVER_LEVEL]
        assert len(level_alerts) == 1
        clock_b = ManualClock(msgs[-1].ts + 60_000)
        b = Engine(AlertsConfig(), db, clock_b, notifier=StoreNotifier(db, AlertsConfig().timezone))
        rep = rebuild(b, influx)
        assert rep.gauge_samples >= 20 and b.river.state["rs-01"].stage == 1
        nxt = Message("gw-b", gauge, Channel.READING, Kind.RIVER_GAUGE, clock_b.now_ms() + 240_000, 99,
                      {"level_m": levels[-1] + 0.05})
        clock_b.set(nxt.ts)
        b.handle(nxt)
        assert [x.id for x in AlertStore(db).all() if x.rule is Rule.RIVER_LEVEL] == [level_alerts[0].id]
        assert "merged" not in [e["action"] for e in AlertStore(db).events(level_alerts[0].id)]
    finally:
        db.close()
