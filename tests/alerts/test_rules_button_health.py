"""Call button, escalation timing and device health through a scripted clock."""

from __future__ import annotations

from alerts.types import AlertState, Outcome, Rule, Severity
from storage.sql import Database
from tests.alerts.rig import Rig
from wire.models import Channel


def test_press_opens_critical_alert_with_location_and_contacts(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    [ch] = rig.send("btn-0001", {"action": "press"})
    a = ch.alert
    assert (a.rule, a.subject, a.severity, a.state) == (Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL,
                                                        AlertState.OPEN)
    assert a.grid == "gr-01" and a.opened_at == rig.now
    dels = rig.store.deliveries(a.id)
    assert {(d.contact, d.role, d.status) for d in dels} == {("c-gw1", "grid_worker", "handed_off"),
                                                             ("c-fam1", "family", "handed_off")}
    body = dels[0].body
    assert "Qianjin Street / Riverside Community / Grid 1 / Building 3 / Room 301" in body
    # each recipient reads the household's other contacts with their roles, in the recipient's language (zh here)
    bodies = {d.contact: d.body for d in dels}
    assert "Chen Jie（家属）" in bodies["c-gw1"] and "Wang Fang（网格员）" in bodies["c-fam1"]
    assert "Room 301" not in a.summary and "Chen" not in a.summary  # the summary goes to MQTT and logs

    # repeated presses merge, nobody is told twice
    rig.advance(30)
    [merged] = rig.send("btn-0001", {"action": "long_press"})
    assert merged.action == "merged" and merged.alert.id == a.id and merged.alert.merged_count == 1
    assert len(rig.store.deliveries(a.id)) == 2


def test_cancel_soon_is_a_false_alarm_late_is_not(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, cancel_window_s=120)
    [opened] = rig.send("btn-0001", {"action": "press"})
    rig.advance(60)
    [ch] = rig.send("btn-0001", {"action": "cancel"})
    a = rig.store.get(opened.alert.id)
    assert ch.action == "false_alarm" and a.state is AlertState.CLOSED and a.outcome is Outcome.FALSE_ALARM
    assert [d.event for d in rig.store.deliveries(a.id)][-2:] == ["false_alarm", "false_alarm"]
    # a new press after that is a new alert; a cancel 3 minutes later keeps it open
    [second] = rig.send("btn-0001", {"action": "press"})
    assert second.action == "opened" and second.alert.id != a.id
    rig.advance(180)
    rig.send("btn-0001", {"action": "cancel"})
    assert rig.store.get(second.alert.id).state is AlertState.OPEN
    assert "cancel_late" in [e["action"] for e in rig.store.events(second.alert.id)]
    # test presses raise nothing
    assert rig.send("btn-0001", {"action": "test"}) == []


def test_unregistered_button_still_raises(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    [ch] = rig.send("btn-9999", {"action": "press"})
    assert ch.alert.subject == "device:btn-9999" and ch.alert.severity is Severity.CRITICAL


def test_escalation_ladder_timing_and_stop_on_acknowledge(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db)
    [ch] = rig.send("btn-0001", {"action": "press"})
    aid = ch.alert.id
    rig.advance(299, step_s=1)
    assert {d.role for d in rig.store.deliveries(aid)} == {"grid_worker", "family"}
    rig.advance(1, step_s=1)  # 5 min: community duty officer
    dels = rig.store.deliveries(aid)
    assert [(d.contact, d.step, d.event) for d in dels[2:]] == [("c-cm", 1, "escalated")]
    rig.advance(599, step_s=5)
    assert len(rig.store.deliveries(aid)) == 3
    rig.advance(1, step_s=1)  # 15 min: street duty officer
    assert [(d.contact, d.step) for d in rig.store.deliveries(aid)[3:]] == [("c-st", 2)]
    assert rig.store.get(aid).next_escalation_at is None

    # a second alert acknowledged after 2 min never escalates
    [ch2] = rig.send("btn-0001", {"action": "press"}, ts=rig.now)  # merges into the first (still open)
    assert ch2.action == "merged"
    rig.store.acknowledge(aid, "c-gw1", "wecom", rig.now)
    sent = rig.send("wm-0001", {"total_l": 10.0, "battery_v": 2.0})  # battery alert, maintenance ladder
    # the meter (60 s interval) had been silent for 15 min: that alert clears as the battery one opens
    assert sorted((c.alert.rule, c.action) for c in sent) == [(Rule.BATTERY_LOW, "opened"),
                                                              (Rule.DEVICE_SILENT, "auto_cleared")]
    b = next(c for c in sent if c.alert.rule is Rule.BATTERY_LOW)
    rig.store.acknowledge(b.alert.id, "c-gw1", "console", rig.now + 1000)
    rig.advance(2 * 86400, step_s=600)
    assert [e["action"] for e in rig.store.events(b.alert.id)].count("escalated") == 0
    trail = [e["action"] for e in rig.store.events(aid)]
    assert trail.count("escalated") == 2 and trail[-1] == "acknowledged"


def test_device_silent_and_back(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, silent_factor=3)
    rig.send("btn-0001", {"heartbeat": True}, channel=Channel.STATUS)
    rig.advance(3 * 3600 - 60)  # button interval 3600 s: silent after 3 h
    assert [a.subject for a in rig.alerts(Rule.DEVICE_SILENT) if a.subject == "btn-0001"] == []
    rig.advance(120)
    [a] = [a for a in rig.alerts(Rule.DEVICE_SILENT) if a.subject == "btn-0001"]
    assert a.severity is Severity.MAINTENANCE and a.place == "hh-0001"
    rig.send("btn-0001", {"heartbeat": True}, channel=Channel.STATUS)
    assert rig.store.get(a.id).state is AlertState.RESOLVED and rig.store.get(a.id).outcome is Outcome.AUTO_CLEARED


def test_battery_low_with_hysteresis(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, battery_low_v=2.5, battery_ok_v=2.7)
    assert rig.send("btn-0001", {"battery_v": 2.6}, channel=Channel.STATUS) == []
    [ch] = rig.send("btn-0001", {"battery_v": 2.4}, channel=Channel.STATUS)
    assert ch.alert.rule is Rule.BATTERY_LOW and ch.alert.subject == "btn-0001"
    assert rig.send("btn-0001", {"battery_v": 2.45}, channel=Channel.STATUS) == []  # still low: nothing new
    assert rig.send("btn-0001", {"battery_v": 2.6}, channel=Channel.STATUS) == []  # not yet recovered
    [cleared] = rig.send("btn-0001", {"battery_v": 2.9}, channel=Channel.STATUS)
    assert cleared.action == "auto_cleared"


def test_gateway_offline_after_n_minutes_only(sqlite_db: Database) -> None:
    rig = Rig(sqlite_db, gateway_offline_min=5)
    rig.state("gw-b", False)
    rig.advance(240)
    rig.state("gw-b", True)  # a 4-minute blip: no alert
    rig.advance(600)
    assert rig.alerts(Rule.GATEWAY_OFFLINE) == []
    rig.state("gw-b", False)
    rig.advance(300)
    [a] = rig.alerts(Rule.GATEWAY_OFFLINE)
    assert a.subject == "gw-b" and a.place == "gr-02"  # cameras of gw-b sit in grid 2; the gauge in cm-01
    rig.state("gw-b", True)
    assert rig.store.get(a.id).state is AlertState.RESOLVED
