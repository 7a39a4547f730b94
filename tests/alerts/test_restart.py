"""A restart of the engine after a while down: alerts the earlier run left open are cleared when what happened
meanwhile (in InfluxDB) says their condition no longer holds; nothing is raised twice; escalation goes on."""

from __future__ import annotations

from pathlib import Path

from alerts.engine import Engine
from alerts.rebuild import rebuild
from alerts.store import AlertStore
from alerts.types import AlertState, Outcome, Rule
from ground.clock import ManualClock
from ingest.lineproto import message_line
from notify.recorder import StoreNotifier
from registry.csvio import import_rows
from shouwang.config import AlertsConfig
from storage.sql import Database
from tests.alerts.test_service import registry_csv
from tests.conftest import Services, now_ms
from wire import Message
from wire.models import Channel, Kind

HOUR = 3_600_000


def _reading(device: str, ts: int, seq: int, total: float) -> Message:
    return Message("gw-a", device, Channel.READING, Kind.WATER_METER, ts, seq, {"total_l": total})


def test_restart_clears_what_no_longer_holds_and_escalation_goes_on(services: Services, tmp_path: Path,
                                                                      uid: str) -> None:
    influx = services.influx
    influx.ensure_database()
    meter, other, btn = f"wm-0001-{uid}", f"wm-0002-{uid}", f"btn-0001-{uid}"
    t0 = (now_ms() - 20 * HOUR) // 60_000 * 60_000
    # before the first run: hh-0001 last used water at t0, wm-0002 reported for an hour and then fell silent
    before = [_reading(meter, t0 - 300_000, 1, 1000.0)]
    before += [_reading(meter, t0 + i * 300_000, 2 + i, 1005.0) for i in range(96)]
    before += [_reading(other, t0 + i * 60_000, 1 + i, 50.0) for i in range(60)]
    influx.write("\n".join(message_line(m) for m in before).encode())
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    # no sleep hours: the window alone, so what is raised does not depend on the hour the test runs at
    csv = registry_csv(uid).replace("22:00-06:30,7", "00:00-00:00,7").replace("21:30-06:00,6", "00:00-00:00,6")
    import_rows(db, csv)
    cfg = AlertsConfig()
    store = AlertStore(db)
    try:
        clock = ManualClock(t0 + 8 * HOUR)
        a = Engine(cfg, db, clock, notifier=StoreNotifier(db, cfg.timezone))
        rebuild(a, influx)
        a.handle(Message("gw-a", btn, Channel.EVENT, Kind.CALL_BUTTON, clock.now_ms(), 1, {"action": "press"}))
        for _ in range(20):  # silence counts from the engine's start: wm-0002's 3 min limit passes, not 5 min
            clock.advance(10)
            a.tick()
        open_a = {(x.rule, x.subject): x for x in store.active()}
        inactivity = open_a[(Rule.WATER_INACTIVITY, "hh-0001")]
        # hh-0002's register never moved since t0 + 5 min: past its 6 h window too
        quiet = open_a[(Rule.WATER_INACTIVITY, "hh-0002")]
        silent = open_a[(Rule.DEVICE_SILENT, other)]
        press = open_a[(Rule.CALL_BUTTON, "hh-0001")]
        assert press.escalation_step == 0
        # down for two hours; meanwhile the resident used water and wm-0002 reports again (written as history)
        during = [_reading(meter, t0 + 9 * HOUR + i * 300_000, 200 + i, 1020.0) for i in range(24)]
        during += [_reading(other, t0 + 9 * HOUR + i * 60_000, 100 + i, 51.0) for i in range(121)]
        influx.write("\n".join(message_line(m) for m in during).encode())
        clock_b = ManualClock(t0 + 10 * HOUR + 60_000)
        b = Engine(cfg, db, clock_b, notifier=StoreNotifier(db, cfg.timezone))
        rep = rebuild(b, influx)
        for alert in (inactivity, quiet, silent):
            now = store.get(alert.id)
            assert now.state is AlertState.RESOLVED and now.outcome is Outcome.AUTO_CLEARED
            assert now.resolved_at == clock_b.now_ms() and now.time_to_resolve_s > 0
        # and wm-0001 (registered at 60 s, read every 5 min here), silent in A too; the press stays open
        assert rep.stale_cleared == 4
        assert store.get(press.id).state is AlertState.OPEN
        for _ in range(5):
            clock_b.advance(1)
            b.tick()
        # the press nobody acknowledged climbed the ladder it missed while the engine was down
        assert store.get(press.id).escalation_step >= 1
        assert "escalated" in [e["action"] for e in store.events(press.id)]
        # and nothing was raised a second time
        rules = [(x.rule, x.subject) for x in store.all()]
        assert len(rules) == len(set(rules))
    finally:
        db.close()
