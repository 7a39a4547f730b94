"""River level and camera rules through a scripted clock."""

from __future__ import annotations

import numpy as np

from alerts.rules.river import theil_sen
from alerts.types import AlertState, Rule, Severity
from storage.sql import Database
from tests.alerts.rig import Rig, local_ms

STEP = 300  # the gauge reports every 5 min


def level_at(rig: Rig, level: float) -> list:
    out = rig.send("rg-01", {"level_m": round(level, 4)})
    rig.advance(STEP, step_s=STEP)
    return out


def test_theil_sen_ignores_an_outlier() -> None:
    t = np.arange(0, 13) * 300_000.0
    y = 2.0 + 0.4 * t / 3_600_000
    y[6] += 3.0
    assert abs(theil_sen(t, y) - 0.4) < 1e-9


def test_flood_rise_warning_stages_hysteresis_and_spikes(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    for i in range(24):  # two quiet hours, a little wobble
        level_at(rig, 2.0 + 0.003 * (i % 2))
    level_at(rig, 3.9)  # single-sample spike above the warning level
    assert rig.alerts() == [] or all(a.rule is Rule.DEVICE_SILENT for a in rig.alerts())
    # rise at 0.4 m/h until the guaranteed level is passed
    t_rise_alert = t_warning_alert = t_cross = None
    level = 2.0
    while level < 4.7:
        level += 0.4 * STEP / 3600
        if t_cross is None and round(level, 4) >= 3.5:
            t_cross = rig.now
        for ch in level_at(rig, level):
            if ch.alert.rule is Rule.RIVER_RISE and ch.action == "opened":
                t_rise_alert = ch.at
            if ch.alert.rule is Rule.RIVER_LEVEL and ch.action == "opened":
                t_warning_alert = ch.at
    [lvl] = rig.alerts(Rule.RIVER_LEVEL)
    assert lvl.severity is Severity.CRITICAL  # upgraded at the guaranteed level
    assert [c.action for c in rig.changes if c.alert.rule is Rule.RIVER_LEVEL
            and c.action != "escalated"] == ["opened", "upgraded"]
    assert t_warning_alert == t_cross  # the first sample above the line raises it
    assert t_cross - t_rise_alert >= 30 * 60_000  # warned of the rise at least 30 min ahead
    assert lvl.details["rate_m_per_h"] > 0.3
    # recede to just under the warning level and wobble around it: no flapping
    for i in range(24):
        level_at(rig, 3.45 + (0.08 if i % 2 else -0.04))
    assert len(rig.alerts(Rule.RIVER_LEVEL)) == 1 and rig.alerts(Rule.RIVER_LEVEL)[0].state is AlertState.OPEN
    for _ in range(7):  # clearly below line - margin for 30 min
        level_at(rig, 3.2)
    assert rig.store.get(lvl.id).state is AlertState.RESOLVED
    assert rig.store.get(rig.alerts(Rule.RIVER_RISE)[0].id).state is AlertState.RESOLVED
    # the spike never reached the stage logic; the guaranteed-level audience includes all grids' workers
    roles = {(d.contact, d.event) for d in rig.store.deliveries(lvl.id)}
    assert ("c-gw1", "opened") in roles and ("c-gw2", "opened") in roles


def test_sustained_step_is_accepted_after_confirmation(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    for i in range(6):
        level_at(rig, 3.0 + 0.002 * (i % 2))
    assert level_at(rig, 3.8) == []  # suspect
    changes = level_at(rig, 3.82)  # confirmed: a real step (e.g. upstream release)
    assert [c.alert.rule for c in changes if c.action == "opened"] == [Rule.RIVER_LEVEL]


def test_stuck_gauge_is_maintenance(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, river_stuck_min=25, river_stuck_samples=5)
    for _ in range(5):  # 20 min unchanged: not yet
        level_at(rig, 2.5)
    assert rig.alerts(Rule.RIVER_SENSOR) == []
    level_at(rig, 2.5)
    [a] = rig.alerts(Rule.RIVER_SENSOR)
    assert a.severity is Severity.MAINTENANCE and a.subject == "rs-01"
    level_at(rig, 2.51)
    assert rig.store.get(a.id).state is AlertState.RESOLVED


def test_camera_schedule_cooldown_confirmation_and_tamper(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, start=local_ms(2026, 11, 2, 21, 50), camera_cooldown_s=600, camera_confirm_s=120)
    ev = {"type": "intrusion", "state": "start", "score": 0.9}
    assert rig.send("cam-01", ev) == []  # 21:50: outside the embankment schedule 22:00-06:00
    rig.advance(15 * 60)
    [a] = rig.send("cam-01", ev)
    assert (a.alert.rule, a.alert.subject, a.alert.severity) == (Rule.CAMERA_INTRUSION, "zn-emb", Severity.WARNING)
    rig.advance(60)
    assert rig.send("cam-01", ev) == []  # same camera, zone, type within the cooldown: duplicate
    assert rig.send("cam-01", {"type": "motion", "state": "start"}) == []  # motion is not a rule of this zone
    rig.advance(30)
    [up] = rig.send("cam-02", {"type": "person", "state": "pulse", "zone": "zn-emb"})
    assert up.action == "upgraded" and up.alert.severity is Severity.MAJOR and up.alert.id == a.alert.id
    assert rig.engine.camera.duplicates == 1 and rig.engine.camera.out_of_schedule == 1
    [t] = rig.send("cam-02", {"type": "tamper", "state": "start"})
    assert (t.alert.rule, t.alert.severity) == (Rule.CAMERA_TAMPER, Severity.MAINTENANCE)
    [end] = rig.send("cam-02", {"type": "tamper", "state": "end"})
    assert end.action == "auto_cleared"
