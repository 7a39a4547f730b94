"""Notifications end to end on real local receivers: bytes on the wire, retries, quiet hours, digests, scope."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from alerts.engine import Engine
from alerts.notifier import Notification
from alerts.store import AlertStore
from alerts.types import Raise, Rule, Severity
from ground.clock import ManualClock
from notify.dispatch import ChannelNotifier
from notify.links import AckLinks
from notify.records import delivery_report
from registry.model import load_snapshot
from registry.types import Role
from storage.sql import Database
from tests.alerts.rig import MONDAY_8AM, local_ms
from tests.notify.fixtures import make_config
from tests.notify.receivers import HttpReceiver, SmtpReceiver
from wire.models import Channel, Kind, Message


class Setup:
    def __init__(self, db: Database, tmp: Path, http: HttpReceiver, start: int = MONDAY_8AM) -> None:
        self.cfg = make_config(tmp / "state", http.port)
        self.clock = ManualClock(start)
        self.notifier = ChannelNotifier(db, self.cfg, self.clock)
        self.engine = Engine(self.cfg.alerts, db, self.clock, notifier=self.notifier)
        self.notifier.bind_registry(self.engine.registry)
        self.store = AlertStore(db)
        self.db = db

    def press(self, device: str = "btn-0001", seq: int = 1) -> None:
        """A press sent by the button's own gateway (the registry's)."""
        gateway = self.engine.registry().devices[device].gateway or "gw-a"
        self.engine.handle(Message(gateway, device, Channel.EVENT, Kind.CALL_BUTTON, self.clock.now_ms(), seq,
                                   {"action": "press"}))


@pytest.fixture
def setup(notify_db: Database, tmp_path: Path, http_receiver: HttpReceiver) -> Iterator[Setup]:
    s = Setup(notify_db, tmp_path, http_receiver)
    try:
        yield s
    finally:
        s.notifier.close()


def test_press_reaches_grid_worker_and_family_then_escalates_to_every_channel(
        setup: Setup, http_receiver: HttpReceiver, smtp_receiver: SmtpReceiver) -> None:
    setup.press()
    hook = http_receiver.wait(lambda rs: [r for r in rs if r.path == "/hook/c-gw1"])[0].json()
    # the grid worker (zh) gets who, what, since when, what to do and a signed link
    assert hook["title"].startswith("[紧急] 一键呼叫 — Building 3 Room 301")
    msg = hook["message"]
    assert "情况：按下一键呼叫\n住户/地点：Qianjin Street / Riverside Community / Grid 1 / Building 3 / Room 301" in msg
    assert "开始时间：2026-11-02 08:00（刚刚）" in msg and "请立即回电或上门" in msg
    assert "Chen Jie（家属）" in msg
    link = re.search(r"http://console\.test/ack/[A-Za-z0-9_.-]+", msg).group(0)
    claim = AckLinks("k" * 40, "http://console.test", 3_600_000).verify(link.rsplit("/", 1)[1], setup.clock.now_ms())
    assert claim.contact == "c-gw1"
    # the family member's phone (ntfy, zh) gets their own link
    fam = http_receiver.wait(lambda rs: [r for r in rs if r.json().get("topic") == "fam1"])[0].json()
    assert "Room 301" in fam["title"] and "/ack/" in fam["message"] and "http://console.test/family" in fam["message"]
    # nobody acknowledges: 5 min -> community duty (DingTalk format), 15 min -> street duty (e-mail, en)
    for _ in range(16):
        setup.clock.advance(60)
        setup.engine.tick()
    ding = http_receiver.wait(lambda rs: [r for r in rs if r.path.startswith("/robot/send?access_token=TOKCM")])
    body = ding[0].json()
    assert body["msgtype"] == "text" and "【升级】" in body["text"]["content"]
    assert setup.notifier.flush(10)
    deadline_msgs = smtp_receiver.messages
    assert len(deadline_msgs) == 1
    mail = deadline_msgs[0]
    assert mail["To"] == "duty@example.org" and "[escalated] [CRITICAL] Call button pressed — Building 3 Room 301" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "What: call button pressed" in text and "Household/place: Qianjin Street" in text and "What to do: Call back or go there at once" in text
    assert "Since: 2026-11-02 08:00 (15 min ago)" in text
    # the stored record answers "was the family told?"
    [alert] = setup.store.active(Rule.CALL_BUTTON)
    report = delivery_report(setup.db, alert.id)
    fam_rows = [d for d in report if d["contact"] == "c-fam1"]
    assert fam_rows and fam_rows[0]["status"] == "sent" and fam_rows[0]["attempts"][0]["ok"] is True
    assert fam_rows[0]["attempts"][0]["scheme"] == "ntfy"
    assert {d["contact"]: d["status"] for d in report} == {"c-gw1": "sent", "c-fam1": "sent", "c-cm": "sent",
                                                            "c-st": "sent"}


def test_retries_with_backoff_store_every_attempt(setup: Setup, http_receiver: HttpReceiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fails = {"n": 0}

    def fail(r) -> bool:  # noqa: ANN001
        if r.path == "/hook/c-gw1" and fails["n"] < 2:
            fails["n"] += 1
            return True
        return False

    # the backoff each retry was scheduled with: the real gaps between attempts also contain the wait for the
    # notifier's timer round (0.2 s), so their order says nothing about the doubling
    delays: dict[int, list[float]] = {}
    schedule = setup.notifier._schedule

    def spy(job, delay_s: float) -> None:  # noqa: ANN001
        delays.setdefault(job.delivery_id, []).append(delay_s)
        schedule(job, delay_s)

    monkeypatch.setattr(setup.notifier, "_schedule", spy)
    http_receiver.fail = fail
    setup.press()
    assert setup.notifier.flush(10)
    [alert] = setup.store.active(Rule.CALL_BUTTON)
    gw = next(d for d in delivery_report(setup.db, alert.id) if d["contact"] == "c-gw1")
    assert gw["status"] == "sent"
    assert [a["ok"] for a in gw["attempts"]] == [False, False, True]
    assert "500" in gw["attempts"][0]["error"] or gw["attempts"][0]["error"]
    hits = http_receiver.on("/hook/c-gw1")
    assert len(hits) == 3
    # backoff: 0.05 s then 0.1 s (doubling), waited in real time before each retry
    assert list(delays.values()) == [[0.05, 0.1]]  # c-gw1's delivery; c-fam1's went through at once
    gaps = [(b.at_ns - a.at_ns) / 1e9 for a, b in zip(hits, hits[1:])]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095


def test_a_channel_that_never_answers_ends_failed_after_max_attempts(setup: Setup,
                                                                     http_receiver: HttpReceiver) -> None:
    http_receiver.fail = lambda r: r.path == "/hook/c-gw1"
    setup.press()
    assert setup.notifier.flush(10)
    [alert] = setup.store.active(Rule.CALL_BUTTON)
    report = {d["contact"]: d for d in delivery_report(setup.db, alert.id)}
    assert report["c-gw1"]["status"] == "failed" and len(report["c-gw1"]["attempts"]) == 3
    assert report["c-fam1"]["status"] == "sent"  # one bad channel delays nobody else


def _raise(store: AlertStore, rule: Rule, place: str, severity: Severity, at: int, episode: str) -> Notification:
    change = store.raise_alert(Raise(rule, place, severity, place, episode, f"{rule} test", {}, at), grid="gr-01",
                               now=at, next_escalation_at=None)
    assert change is not None
    return change


def test_quiet_hours_hold_non_critical_into_one_digest_but_critical_goes_at_once(
        notify_db: Database, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    s = Setup(notify_db, tmp_path, http_receiver, start=local_ms(2026, 11, 2, 23, 0))
    try:
        reg = load_snapshot(notify_db)
        fam2 = [c for c in reg.contacts["hh-0002"] if c.role is Role.FAMILY]
        at = s.clock.now_ms()
        for rule, ep in ((Rule.WATER_FLOW, "e1"), (Rule.BATTERY_LOW, "e2")):
            ch = _raise(s.store, rule, "hh-0002", Severity.WARNING, at, ep)
            s.notifier.notify(Notification(ch.alert, "opened", 0, tuple(fam2), reg.location("hh-0002"), (), at))
        assert s.notifier.flush(5)
        assert http_receiver.on("/hook/c-fam2") == []  # 23:00 is inside 22:00-07:00
        crit = _raise(s.store, Rule.CALL_BUTTON, "hh-0002", Severity.CRITICAL, at, "e3")
        s.notifier.notify(Notification(crit.alert, "opened", 0, tuple(fam2), reg.location("hh-0002"), (), at))
        first = http_receiver.wait(lambda rs: [r for r in rs if r.path == "/hook/c-fam2"])
        assert first[0].json()["title"].startswith("[CRITICAL] Call button pressed")
        # still quiet at 06:59: nothing more; at 07:00 one digest lists both held alerts
        s.clock.set(local_ms(2026, 11, 3, 6, 59))
        s.notifier.run_due(digests=True)
        assert s.notifier.flush(5) and len(http_receiver.on("/hook/c-fam2")) == 1
        s.clock.set(local_ms(2026, 11, 3, 7, 0))
        s.notifier.run_due(digests=True)
        assert s.notifier.flush(5)
        digests = http_receiver.on("/hook/c-fam2")[1:]
        assert len(digests) == 1
        d = digests[0].json()
        assert d["title"] == "[digest] 2 alerts during quiet hours"
        assert "Water running continuously — Building 3 Room 302: water running without a break — now: open" in d["message"]
        assert "Battery low — Building 3 Room 302" in d["message"] and "hh-0002" not in d["message"]
        statuses = [r["status"] for a in s.store.all() for r in delivery_report(notify_db, a.id)]
        assert sorted(statuses) == ["digested", "digested", "sent"]
        # a later check sends nothing twice
        s.notifier.run_due(digests=True)
        assert s.notifier.flush(5) and len(http_receiver.on("/hook/c-fam2")) == 2
    finally:
        s.notifier.close()


def test_a_family_member_never_receives_a_neighbours_alert(setup: Setup, http_receiver: HttpReceiver) -> None:
    reg = load_snapshot(setup.db)
    neighbour = [c for c in reg.contacts["hh-0002"] if c.role is Role.FAMILY]
    at = setup.clock.now_ms()
    ch = _raise(setup.store, Rule.CALL_BUTTON, "hh-0001", Severity.CRITICAL, at, "x")
    # even if a caller hands the wrong family member over, the notifier refuses
    setup.notifier.notify(Notification(ch.alert, "opened", 0, tuple(neighbour), reg.location("hh-0001"), (), at))
    assert setup.notifier.flush(5)
    assert http_receiver.on("/hook/c-fam2") == []
    [row] = delivery_report(setup.db, ch.alert.id)
    assert row["status"] == "refused" and row["attempts"] == []
    # and the engine's own audience for hh-0001 names only hh-0001's family
    setup.press("btn-0002")
    setup.notifier.flush(5)
    fams = {d["contact"] for a in setup.store.active(Rule.CALL_BUTTON) if a.subject == "hh-0002"
            for d in delivery_report(setup.db, a.id) if d["role"] == "family"}
    assert fams == {"c-fam2"}


def test_queued_deliveries_survive_a_restart(notify_db: Database, tmp_path: Path,
                                             http_receiver: HttpReceiver) -> None:
    http_receiver.fail = lambda r: True  # everything fails while the first notifier runs
    cfg_dir = tmp_path
    s = Setup(notify_db, cfg_dir, http_receiver)
    s.notifier.ncfg = s.notifier.ncfg.model_copy(update={"max_attempts": 50, "retry_base_s": 30})
    s.press()
    http_receiver.wait(lambda rs: len(rs) >= 2)
    s.notifier.close()
    [alert] = s.store.active(Rule.CALL_BUTTON)
    assert {d["status"] for d in delivery_report(notify_db, alert.id)} == {"queued"}
    http_receiver.fail = lambda r: False
    again = ChannelNotifier(notify_db, make_config(tmp_path / "state", http_receiver.port), s.clock)
    try:
        assert again.flush(10)
        assert {d["status"] for d in delivery_report(notify_db, alert.id)} == {"sent"}
        gw = next(d for d in delivery_report(notify_db, alert.id) if d["contact"] == "c-gw1")
        assert [a["ok"] for a in gw["attempts"]][-1] is True and len(gw["attempts"]) >= 2
    finally:
        again.close()


def test_ack_link_in_message_is_bound_to_alert_and_contact(setup: Setup, http_receiver: HttpReceiver) -> None:
    setup.press()
    fam = http_receiver.wait(lambda rs: [r for r in rs if r.json().get("topic") == "fam1"])[0].json()
    link = re.search(r"http://console\.test/ack/[A-Za-z0-9_.-]+", fam["message"]).group(0)
    token = urlsplit(link).path.rsplit("/", 1)[1]
    links = AckLinks("k" * 40, "http://console.test", 24 * 3_600_000)
    claim = links.verify(token, setup.clock.now_ms())
    [alert] = setup.store.active(Rule.CALL_BUTTON)
    assert (claim.alert_id, claim.contact) == (alert.id, "c-fam1")
    assert parse_qs(urlsplit(link).query) == {}
    assert json.dumps(fam, ensure_ascii=False).count("/ack/") == 1


def test_dev_mode_records_but_never_pushes(notify_db: Database, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    cfg = make_config(tmp_path / "state", http_receiver.port, notify={"enabled": None})
    assert cfg.mode == "dev"
    clock = ManualClock(MONDAY_8AM)
    notifier = ChannelNotifier(notify_db, cfg, clock)
    try:
        engine = Engine(cfg.alerts, notify_db, clock, notifier=notifier)
        notifier.bind_registry(engine.registry)
        engine.handle(Message("gw-a", "btn-0001", Channel.EVENT, Kind.CALL_BUTTON, clock.now_ms(), 1,
                              {"action": "press"}))
        assert notifier.flush(5)
        [alert] = AlertStore(notify_db).active(Rule.CALL_BUTTON)
        report = delivery_report(notify_db, alert.id)
        assert {d["status"] for d in report} == {"recorded"} and len(report) == 2
        assert "Room 301" in report[0]["title"]
        assert http_receiver.received == []
    finally:
        notifier.close()


def test_wecom_and_feishu_bot_formats(setup: Setup, http_receiver: HttpReceiver) -> None:
    setup.press("btn-0003")  # grid 2: grid worker on WeCom (English), family on Feishu
    wecom = http_receiver.wait(lambda rs: [r for r in rs if r.path == "/cgi-bin/webhook/send?key=KEYGW2"])[0]
    body = wecom.json()
    assert wecom.headers["content-type"].startswith("application/json")
    assert body["msgtype"] == "text"
    text = body["text"]["content"]
    assert text.startswith("[CRITICAL] Call button pressed — Building 7 Room 101")
    assert "Household/place: Qianjin Street / Riverside Community / Grid 2 / Building 7 / Room 101" in text
    assert "I'm on it (tap to acknowledge): http://console.test/ack/" in text
    feishu = http_receiver.wait(lambda rs: [r for r in rs if r.path == "/open-apis/bot/v2/hook/TOKF3/"])[0].json()
    assert feishu["msg_type"] == "text" and "一键呼叫" in feishu["content"]["text"]
    assert "住户/地点：Qianjin Street / Riverside Community / Grid 2 / Building 7 / Room 101" in feishu["content"]["text"]
    # nobody of grid 1 heard about it
    assert setup.notifier.flush(5)
    assert not http_receiver.on("/hook/c-gw1") and not [r for r in http_receiver.received
                                                        if r.path == "/" and r.json().get("topic") == "fam1"]
