"""The engine during the demo's replay (ReplayClock): gateway births carry real time and must not be refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alerts.clock import ReplayClock, SystemClock
from alerts.service import AlertsService
from alerts.store import AlertStore
from alerts.types import Rule
from registry.csvio import import_rows
from shouwang.config import load_config
from shouwang.services import alerts_notifier
from storage.sql import Database
from tests.alerts.test_service import registry_csv
from tests.conftest import Services, write_config
from tests.helpers import wait_for
from wire.models import encode_state
from wire.topics import state_topic

HOUR = 3_600_000


def test_birth_after_a_retained_will_clears_the_gateway_during_a_replay(services: Services, tmp_path: Path,
                                                                        uid: str) -> None:
    """`up` restarted on an old state: the broker hands the engine the retained last will of the previous run,
    then the simulator's gateway connects with a birth stamped with the real time while the replay is hours
    behind. The birth must count (no false gateway_offline alert) and must not jump the replay to now."""
    cfg_file = write_config(tmp_path / "alerts.toml", tmp_path / "state", broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port},
                            alerts={"client_id": f"svc_alerts_replay_{uid}", "tick_s": 0.2, "gateway_offline_min": 5.0})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        assert import_rows(db, registry_csv(uid)).errors == []
    wall = SystemClock()
    clock = ReplayClock(start_ms=wall.now_ms() - 20 * HOUR, speed=60, wall=wall)  # 5 offline min = 5 s here
    svc = AlertsService(cfg, clock, notifier=alerts_notifier(cfg))
    runner = threading.Thread(target=svc.run, name="alerts-replay", daemon=True)
    gw = services.gateway("gw-b")
    topic = state_topic("gw-b")
    try:
        runner.start()
        assert svc.ready.wait(30)
        gw.wait_acked([gw.publish(topic, encode_state(False), retain=True)])  # the previous run's last will
        wait_for(lambda: "gw-b" in svc.engine.health.offline_since, timeout=10, what="the will to arrive")
        gw.wait_acked([gw.publish(topic, encode_state(True, ts=wall.now_ms(), version="sim"), retain=True)])
        wait_for(lambda: "gw-b" not in svc.engine.health.offline_since, timeout=10, what="the birth to count")
        time.sleep(7.0)  # past 5 replayed minutes of the offline limit
        assert svc.counters.rejected_by_code.get("ts", 0) == 0
        assert clock.now_ms() < wall.now_ms() - 19 * HOUR  # still replaying: the birth's time did not move it
        with Database.from_config(cfg) as db:
            assert [a for a in AlertStore(db).all() if a.rule is Rule.GATEWAY_OFFLINE] == []
    finally:
        gw.wait_acked([gw.publish(topic, b"", retain=True)])  # clear the retained state for other tests
        gw.stop()
        svc.stop()
        runner.join(timeout=30)
