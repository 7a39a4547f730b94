"""The engine on an old state: a retained last will of the previous run, then the gateway's birth."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from alerts.service import AlertsService
from alerts.store import AlertStore
from alerts.types import Rule
from ground.clock import SystemClock
from registry.csvio import import_rows
from shouwang.config import load_config
from shouwang.services import alerts_notifier
from storage.sql import Database
from tests.alerts.test_service import registry_csv
from tests.conftest import Services, write_config
from tests.helpers import wait_for
from wire.models import encode_state
from wire.topics import state_topic


def test_birth_after_a_retained_will_clears_the_gateway(services: Services, tmp_path: Path, uid: str) -> None:
    """`up` restarted on an old state: the broker hands the engine the retained last will of the previous run,
    then the simulator's gateway connects with a birth stamped with the real time. The birth must count (no
    false gateway_offline alert once the offline limit has passed)."""
    cfg_file = write_config(tmp_path / "alerts.toml", tmp_path / "state", broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port},
                            alerts={"client_id": f"svc_alerts_replay_{uid}", "tick_s": 0.2, "gateway_offline_min": 0.05})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        assert import_rows(db, registry_csv(uid)).errors == []
    wall = SystemClock()
    svc = AlertsService(cfg, wall, notifier=alerts_notifier(cfg))
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
        time.sleep(4.0)  # past the 3 s offline limit
        assert svc.counters.rejected_by_code.get("ts", 0) == 0
        with Database.from_config(cfg) as db:
            assert [a for a in AlertStore(db).all() if a.rule is Rule.GATEWAY_OFFLINE] == []
    finally:
        gw.wait_acked([gw.publish(topic, b"", retain=True)])  # clear the retained state for other tests
        gw.stop()
        svc.stop()
        runner.join(timeout=30)
