"""Partitioned engines' notifiers (alerts/partition.py, notify/dispatch.py): what one engine left queued or held is
resumed and digested by exactly one partition's notifier, never by all of them; the engine's role as a metric."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts import partition
from alerts.metrics import AlertsMetrics
from alerts.notifier import Notification
from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from ground.clock import ManualClock
from notify.dispatch import ChannelNotifier
from notify.records import delivery_report
from registry.csvio import import_rows
from registry.model import load_snapshot
from registry.types import Role
from storage.sql import Database
from tests.alerts.rig import local_ms
from tests.notify.fixtures import make_config, registry_csv
from tests.notify.receivers import HttpReceiver

N = 4  # gw-a (hh-0001, hh-0002) falls in partition 2 of 4, gw-b (hh-0003, the river station) in partition 0


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    try:
        yield r
    finally:
        r.stop()


def test_place_partitions_follow_the_gateways_of_the_devices_under_each_place(tmp_path: Path) -> None:
    with Database(f"sqlite:///{tmp_path / 'a.db'}") as db:
        assert import_rows(db, registry_csv(1, 2)).errors == []
        snap = load_snapshot(db)
    assert (partition.partition_of("gw-a", N), partition.partition_of("gw-b", N)) == (2, 0)
    places = partition.place_partitions(snap, N)
    assert places["hh-0001"] == places["hh-0002"] == places["bd-01"] == places["gr-01"] == 2
    assert places["hh-0003"] == places["rs-01"] == places["gr-02"] == 0
    assert places["cm-01"] == places["st-01"] == 2  # devices on both gateways: the first gateway's (gw-a)
    assert partition.delivery_owner(places, "hh-0001", "opened") == 2
    assert partition.delivery_owner(places, "hh-0001", "escalated") == 0  # partition 0's engine escalates
    assert partition.delivery_owner(places, "nowhere", "opened") == 0


def test_queued_and_held_deliveries_are_resumed_by_one_partition_each(tmp_path: Path,
                                                                       receiver: HttpReceiver) -> None:
    """An engine died with deliveries queued (critical presses) and held (a warning in a contact's quiet hours,
    an escalation); four engines, one per partition, start their notifiers on the same store: every delivery is
    attempted once, by the partition its place (or, for an escalation, partition 0) belongs to."""
    db = Database(f"sqlite:///{tmp_path / 'alerts.db'}")
    assert import_rows(db, registry_csv(receiver.port, 2)).errors == []
    cfg = make_config(tmp_path / "state", receiver.port)
    night = local_ms(2026, 11, 2, 23, 0)  # inside c-fam2's quiet hours (22:00-07:00)
    clock = ManualClock(night)
    reg = load_snapshot(db)
    places = partition.place_partitions(reg, N)
    store = AlertStore(db)

    def alert(rule: Rule, place: str, severity: Severity, episode: str):  # noqa: ANN202
        change = store.raise_alert(Raise(rule, place, severity, place, episode, "test", {}, night), grid="",
                                   now=night, next_escalation_at=None)
        assert change is not None
        return change.alert

    def family(place: str) -> tuple:
        return tuple(c for c in reg.contacts[place] if c.role is Role.FAMILY)

    dead = ChannelNotifier(db, cfg, clock, start=False)  # the engine that died: it recorded, never sent
    dead.close()
    a1 = alert(Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, "p1")
    a2 = alert(Rule.BATTERY_LOW, "hh-0002", Severity.WARNING, "p2")
    a3 = alert(Rule.CALL_BUTTON, "hh-0003", Severity.CRITICAL, "p3")
    for a, event in ((a1, "opened"), (a2, "opened"), (a3, "opened"), (a3, "escalated")):
        dead.notify(Notification(a, event, 0, family(a.place), reg.location(a.place), (), night))
    queued = {d["id"]: (a.place, d["event"]) for a in (a1, a3) for d in delivery_report(db, a.id)}
    assert [d["status"] for d in delivery_report(db, a2.id)] == ["held"]
    assert {d["status"] for a in (a1, a3) for d in delivery_report(db, a.id)} == {"queued"}
    assert sorted(queued.values()) == [("hh-0001", "opened"), ("hh-0003", "escalated"), ("hh-0003", "opened")]

    engines = []
    try:
        for k in range(N):
            n = ChannelNotifier(db, cfg, clock, start=False)
            n.serve_only(lambda place, event, k=k: partition.delivery_owner(places, place, event) == k)
            engines.append(n)
        for n in engines:
            n.start()  # each resumes what its partition owns
        assert all(n.flush(10) for n in engines)
        clock.set(local_ms(2026, 11, 3, 7, 0))  # c-fam2's quiet hours end: one digest, from partition 2 only
        for n in engines:
            n.run_due(digests=True)
        assert all(n.flush(10) for n in engines)
    finally:
        for n in engines:
            n.close()
    reports = {a.id: delivery_report(db, a.id) for a in (a1, a2, a3)}
    for rows in reports.values():
        for d in rows:
            assert d["status"] in ("sent", "digested"), d
            assert len(d["attempts"]) == 1, d  # attempted once: no two partitions sent it
    assert len(receiver.received) == 4  # three resumed deliveries and one digest, each once
    db.close()


def test_the_role_gauges_say_which_partitions_the_engine_holds() -> None:
    m = AlertsMetrics()
    m.role(set(), 3)
    assert m.value("alerts_engine_active") == 0 and m.value("alerts_partitions") == 3
    assert [m.value("alerts_partition_held", partition=str(k)) for k in range(3)] == [0, 0, 0]
    m.role({0, 2}, 3)
    assert m.value("alerts_engine_active") == 1
    assert [m.value("alerts_partition_held", partition=str(k)) for k in range(3)] == [1, 0, 1]
    m.role(set(), 3)  # a partition given up or lost reads 0 again
    assert m.value("alerts_engine_active") == 0 and m.value("alerts_partition_held", partition="2") == 0
