"""People's changes through alerts/actions.py: each action's store state, audit entries and sink events, on a real
SQLite store, the session Mosquitto (MQTT events as a subscriber sees them) and influxd (the `alert` points)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alerts.actions import Actor, AlertActions
from alerts.lifecycle import AlertChange, LifecycleError
from alerts.sinks import InfluxAlertSink, MqttAlertSink
from alerts.store import AlertStore
from alerts.types import AlertState, Outcome, Raise, Rule, Severity
from broker_config import Account
from ground.clock import ManualClock
from notify.links import AckLinks, AckResult, redeem
from registry.csvio import import_rows
from registry.model import load_snapshot
from storage.sql import Database
from tests.alerts.conftest import SAMPLE_CSV
from tests.conftest import Services, now_ms, write_config
from tests.helpers import MqttPeer, wait_for

STAFF = Actor("staff", "console", "community_staff", "192.0.2.7")


@dataclass
class Rig:
    """A store with the sample registry, actions with the real MQTT and InfluxDB sinks, and what they produced."""

    db: Database
    services: Services
    subject: str  # unique per test: MQTT and InfluxDB are shared by the session
    clock: ManualClock
    publisher: MqttPeer
    watcher: MqttPeer
    influx_sink: InfluxAlertSink
    actions: AlertActions
    audit: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    heard: list[AlertChange] = field(default_factory=list)

    def press(self) -> int:
        ch = self.actions.store.raise_alert(Raise(Rule.CALL_BUTTON, self.subject, Severity.CRITICAL, "hh-0001",
                                                  f"ep-{self.subject}", "call button pressed"),
                                            grid="gr-01", now=self.clock.now_ms(), next_escalation_at=None)
        assert ch is not None
        return ch.alert.id

    def events(self, n: int) -> list[dict]:
        """The first n change events of this test's alert on sw/alerts/v1/event."""
        def mine() -> list[dict]:
            got = [json.loads(m.payload) for m in list(self.watcher.messages) if m.topic == "sw/alerts/v1/event"]
            return [p for p in got if p["subject"] == self.subject]

        return wait_for(lambda: mine() if len(mine()) >= n else None, timeout=10, what=f"{n} alert events")[:n]

    def retained(self, alert_id: int) -> bytes:
        """The last message on the alert's retained active-state topic."""
        topic = f"sw/alerts/v1/active/{alert_id}"
        got = [m.payload for m in list(self.watcher.messages) if m.topic == topic]
        return got[-1]

    def points(self, n: int) -> list[dict]:
        """This test's alert points in InfluxDB, oldest first."""
        assert self.influx_sink.flush(10)
        q = f"SELECT * FROM alert WHERE subject = '{self.subject}'"
        return wait_for(lambda: (r := self.services.influx.rows(q)) and len(r) >= n and r, timeout=10,
                        what=f"{n} alert points")


@pytest.fixture
def rig(sqlite_db: Database, services: Services, uid: str) -> Iterator[Rig]:
    assert import_rows(sqlite_db, SAMPLE_CSV).errors == []
    services.influx.ensure_database()
    publisher = services.service_peer(Account.API)
    watcher = services.service_peer(Account.API)
    watcher.client.subscribe("sw/alerts/v1/#", qos=1)
    wait_for(lambda: watcher.suback, timeout=10, what="the watcher's subscription")
    influx_sink = InfluxAlertSink(services.influx, lambda: True)
    clock = ManualClock(now_ms())
    r = Rig(sqlite_db, services, f"hh-{uid}", clock, publisher, watcher, influx_sink,
            AlertActions(AlertStore(sqlite_db), clock))
    r.actions = AlertActions(AlertStore(sqlite_db), clock,
                             sinks=[MqttAlertSink(lambda t, p, q, rt: publisher.client.publish(t, p, qos=q, retain=rt)),
                                    influx_sink],
                             listeners=[r.heard.append],
                             audit=lambda a, action, target, detail: r.audit.append(
                                 (a.name, a.role, a.address, action, target, detail)))
    try:
        yield r
    finally:
        influx_sink.close()
        publisher.stop()
        watcher.stop()


def test_acknowledge_dispatch_resolve_close_each_reach_store_audit_and_sinks(rig: Rig) -> None:
    aid = rig.press()
    store = rig.actions.store
    steps = [
        (lambda: rig.actions.acknowledge(aid, STAFF, "calling her"), "acknowledged", "alert.acknowledge",
         "calling her"),
        (lambda: rig.actions.dispatch(aid, "c-gw1", STAFF, "go"), "dispatched", "alert.dispatch", "to c-gw1: go"),
        (lambda: rig.actions.resolve(aid, STAFF, "helped up"), "resolved", "alert.resolve", "helped up"),
        (lambda: rig.actions.close(aid, STAFF, "resident fine", 5), "closed", "alert.close", "rating 5: resident fine"),
    ]
    for i, (do, state, audit_action, detail) in enumerate(steps, start=1):
        rig.clock.advance(60)
        change = do()
        # store: the new state, and the alert's own trail names the person and the channel
        assert change.alert.state is AlertState(state) and store.get(aid).state is AlertState(state)
        trail = store.events(aid)[-1]
        assert (trail["action"], trail["actor"], trail["channel"], trail["to"]) == (state, "staff", "console", state)
        # audit log: one entry per change, with who, from where and what
        assert rig.audit[-1] == ("staff", "community_staff", "192.0.2.7", audit_action, f"alert {aid}", detail)
        assert len(rig.audit) == i
        # listeners and sinks: the change itself, on MQTT as the engine publishes its own
        assert rig.heard[-1] is change
        event = rig.events(i)[-1]
        assert (event["id"], event["action"], event["state"], event["actor_channel"]) == (aid, state, state, "console")
        assert event["at"] == rig.clock.now_ms()
    a = store.get(aid)
    assert a.dispatched_to == "c-gw1" and a.rating == 5 and a.feedback == "resident fine"
    assert a.outcome is Outcome.HANDLED and a.acknowledged_by == "staff"
    # the retained active state is emptied when the alert ends
    wait_for(lambda: rig.retained(aid) == b"", timeout=10, what="the retained state emptied")
    # InfluxDB: one `alert` point per change, tagged with its action
    points = rig.points(4)
    assert [p["action"] for p in points] == ["acknowledged", "dispatched", "resolved", "closed"]
    assert [p["state"] for p in points] == ["acknowledged", "dispatched", "resolved", "closed"]
    assert points[-1]["ttr_s"] == 180.0 and points[0]["tta_s"] == 60.0


def test_close_as_false_alarm_from_open(rig: Rig) -> None:
    aid = rig.press()
    change = rig.actions.close(aid, Actor("c-gw1", "cli"), "pressed by mistake", false_alarm=True)
    a = rig.actions.store.get(aid)
    assert a.state is AlertState.CLOSED and a.outcome is Outcome.FALSE_ALARM and a.resolved_at is None
    assert rig.audit[-1][3:] == ("alert.close", f"alert {aid}", "rating None: pressed by mistake")
    [event] = rig.events(1)
    assert event["action"] == "closed" and event["outcome"] == "false_alarm" and event["actor_channel"] == "cli"
    assert rig.heard == [change]


def test_a_refused_transition_changes_nothing_and_tells_nobody(rig: Rig) -> None:
    aid = rig.press()
    rig.actions.acknowledge(aid, STAFF)
    trail = rig.actions.store.events(aid)
    with pytest.raises(LifecycleError, match="acknowledged; it can go to"):
        rig.actions.acknowledge(aid, STAFF)
    with pytest.raises(LifecycleError, match="closing needs feedback"):
        rig.actions.close(aid, STAFF, "  ")
    assert rig.actions.store.events(aid) == trail and len(rig.audit) == 1 and len(rig.heard) == 1
    rig.actions.resolve(aid, STAFF)  # the next change's event follows the first: nothing was sent in between
    assert [e["action"] for e in rig.events(2)] == ["acknowledged", "resolved"]


def test_a_failing_sink_or_listener_never_undoes_the_change(rig: Rig) -> None:
    class Broken:
        def emit(self, change: AlertChange) -> None:
            raise RuntimeError("sink down")

    def broken_listener(change: AlertChange) -> None:
        raise RuntimeError("listener down")

    aid = rig.press()
    got: list[AlertChange] = []
    actions = AlertActions(rig.actions.store, rig.clock, sinks=[Broken(), *rig.actions.sinks],
                           listeners=[broken_listener, got.append])
    change = actions.acknowledge(aid, STAFF)
    assert rig.actions.store.get(aid).state is AlertState.ACKNOWLEDGED and got == [change]
    assert rig.events(1)[0]["action"] == "acknowledged"  # the sinks after the broken one still had it


def test_away_mode_is_stored_and_audited_and_changes_no_alert(rig: Rig) -> None:
    rig.actions.set_away("hh-0001", dt.date(2026, 12, 1), STAFF)
    assert load_snapshot(rig.db).households["hh-0001"].away_until == dt.date(2026, 12, 1)
    assert rig.audit == [("staff", "community_staff", "192.0.2.7", "household.away", "household hh-0001",
                          "2026-12-01")]
    rig.actions.set_away("hh-0001", None, STAFF)
    assert load_snapshot(rig.db).households["hh-0001"].away_until is None
    assert rig.audit[-1][3:] == ("household.away", "household hh-0001", "None")
    with pytest.raises(KeyError):
        rig.actions.set_away("hh-none", None, STAFF)
    assert len(rig.audit) == 2 and rig.heard == []


def test_acknowledgement_link_goes_through_the_actions(rig: Rig) -> None:
    aid = rig.press()
    links = AckLinks("k" * 40, "http://console.test", 3_600_000)
    claim = links.verify(links.token(aid, "c-fam1", rig.clock.now_ms()), rig.clock.now_ms())
    result, change = redeem(rig.actions, claim, load_snapshot(rig.db), "198.51.100.9")
    assert result is AckResult.ACKNOWLEDGED and change is not None
    a = rig.actions.store.get(aid)
    assert a.state is AlertState.ACKNOWLEDGED and a.acknowledged_by == "c-fam1"
    assert rig.actions.store.events(aid)[-1]["channel"] == "ack_link"
    assert rig.audit == [("c-fam1", "contact", "198.51.100.9", "alert.acknowledge_link", f"alert {aid}",
                          "acknowledged")]
    [event] = rig.events(1)
    assert event["action"] == "acknowledged" and event["actor_channel"] == "ack_link"
    assert rig.points(1)[0]["action"] == "acknowledged"
    # used again: refused, audited with the reason, nothing sent
    assert redeem(rig.actions, claim, load_snapshot(rig.db), "198.51.100.9") == (AckResult.ALREADY_USED, None)
    assert rig.audit[-1][3:] == ("alert.acknowledge_link", f"alert {aid}", "already_used") and len(rig.heard) == 1


def test_cli_changes_reach_mqtt_and_influxdb_like_the_engines(services: Services, tmp_path: Path, uid: str) -> None:
    """`shouwang alerts ack|resolve` publish the change on sw/alerts/v1/event and write the `alert` point."""
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state",
                            broker={"port": services.port, "service_port": services.cfg.broker.service_port},
                            influx={"port": services.cfg.influx.port})
    from shouwang.config import load_config

    cfg = load_config(cfg_file, env={})
    subject = f"hh-{uid}"
    with Database.from_config(cfg) as db:
        assert import_rows(db, SAMPLE_CSV).errors == []
        aid = AlertStore(db).raise_alert(Raise(Rule.CALL_BUTTON, subject, Severity.CRITICAL, "hh-0001", "p1",
                                               "call button pressed"), grid="gr-01", now=now_ms(),
                                         next_escalation_at=None).alert.id
    watcher = services.service_peer(Account.API)
    watcher.client.subscribe("sw/alerts/v1/#", qos=1)
    wait_for(lambda: watcher.suback, timeout=10, what="the watcher's subscription")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    try:
        for args in (["ack", str(aid), "--by", "c-gw1"], ["resolve", str(aid), "--by", "c-gw1", "--note", "ok"]):
            r = subprocess.run([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "alerts", *args],
                               capture_output=True, text=True, timeout=60, env=env, check=False)
            assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
        events = wait_for(lambda: (e := [json.loads(m.payload) for m in list(watcher.messages)
                                         if m.topic == "sw/alerts/v1/event"]) and len(e) >= 2 and e,
                          timeout=10, what="the CLI's two events")
        assert [(e["id"], e["subject"], e["action"], e["actor_channel"]) for e in events] == \
            [(aid, subject, "acknowledged", "cli"), (aid, subject, "resolved", "cli")]
        wait_for(lambda: any(m.topic == f"sw/alerts/v1/active/{aid}" and m.payload == b""
                             for m in list(watcher.messages)), timeout=10, what="the retained state emptied")
        rows = wait_for(lambda: services.influx.rows(f"SELECT * FROM alert WHERE subject = '{subject}'"),
                        timeout=10, what="the CLI's alert points")
        assert sorted(p["action"] for p in rows) == ["acknowledged", "resolved"]
    finally:
        watcher.stop()
