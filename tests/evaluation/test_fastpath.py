"""The fast backtest (evaluation/fastpath.py, bulk.py) raises exactly the alerts of the message-by-message path, at
the same times, and scores the same: on recorded population traffic with labels, and on a hand-built file of
everything the fast path hands to the engine (a leak, battery readings, a silent meter heard again, a meter reset,
late and repeated readings, two meters in one household, other kinds, bad and blank lines, payloads as objects)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerts.settings import AlertsConfig
from evaluation.backtest import backtest_file, registry_csv, slow_backtest_file
from evaluation.populations import population_registry
from firmware_sim.models.populations import TIMEZONE, Population
from firmware_sim.recordfile import Record, RecordWriter
from wire.models import encode

MIN = 60_000
CFG = AlertsConfig(timezone=TIMEZONE)


def same(fast, slow) -> None:
    """Both reports agree on everything but the wall time."""
    f, s = fast.as_json(), slow.as_json()
    f.pop("wall_s"), s.pop("wall_s")
    assert [(a["rule"], a["subject"], a["at_ms"]) for a in f["alerts"]] == \
        [(a["rule"], a["subject"], a["at_ms"]) for a in s["alerts"]]
    assert f == s


@pytest.mark.parametrize("name", ["typical", "shared_meter", "low_use"])
def test_fast_path_raises_the_same_alerts_on_population_traffic(tmp_path: Path, name: str) -> None:
    pop = Population(name, 10, 9, seed=3)  # 9 days: the learned routine speaks from day 8
    rec = tmp_path / "traffic.jsonl.gz"
    with RecordWriter(rec, "test") as w:
        for k, msg in enumerate(pop.messages()):
            topic, payload = encode(msg)
            w.write(Record(msg.ts + 40 + k % 900, topic, payload))  # captured a little later, as live
    reg, labels = tmp_path / "registry.csv", tmp_path / "labels.csv"
    reg.write_text(population_registry(pop))
    rows = ["household,device,start,end,kind,note"] + [
        f"{i.household},,{i.start_ms},{'' if i.end_ms is None else i.end_ms},{i.kind}," for i in pop.incidents]
    labels.write_text("\n".join(rows) + "\n")
    fast = backtest_file(CFG, rec, reg, labels)
    slow = slow_backtest_file(CFG, rec, reg, labels)
    assert fast.messages == slow.messages == 10 * 9 * 144
    assert any(a.rule == "water_inactivity" for a in slow.alerts)  # there is something to agree on
    assert slow.labelled and slow.labels > 0
    same(fast, slow)


T0 = 1_772_380_800_000  # 2026-03-02 00:00 Asia/Shanghai
REGISTRY_ROWS = [
    {"record": "street", "code": "st-1"}, {"record": "community", "code": "cm-1", "parent": "st-1"},
    {"record": "grid", "code": "gr-1", "parent": "cm-1"},
    {"record": "contact", "code": "worker-1", "parent": "gr-1", "role": "grid_worker", "channels": "ntfy://sw-gr-1"},
    {"record": "building", "code": "bd-1", "parent": "gr-1"},
    *[{"record": "household", "code": f"hh-{k}", "parent": "bd-1", "flags": "solitary_elderly",
       "sleep": "22:00-06:30", "window_h": "7"} for k in range(4)],
    *[{"record": "device", "code": f"wm-{k}", "parent": f"hh-{k}", "gateway": "gw-1", "kind": "water_meter",
       "interval_s": "600", "step_l": "1"} for k in range(4)],
    {"record": "device", "code": "wm-3b", "parent": "hh-3", "gateway": "gw-1", "kind": "water_meter",
     "interval_s": "600", "step_l": "1"},
    {"record": "device", "code": "cb-0", "parent": "hh-0", "gateway": "gw-1", "kind": "call_button"},
]
REGISTRY = registry_csv(REGISTRY_ROWS)


def edge_lines(junk: bool = True) -> list[bytes]:
    """Two days of four households' readings with every case the fast path must hand to the engine."""
    out: list[bytes] = []
    totals = {"wm-0": 100.0, "wm-1": 200.0, "wm-2": 300.0, "wm-3": 400.0, "wm-3b": 50.0}
    seq = 0

    def line(t_ms: int | None, topic: str, payload, **extra) -> bytes:
        obj = {"topic": topic, "payload": payload, **extra}
        if t_ms is not None:
            obj["t_ms"] = t_ms
        return json.dumps(obj, separators=(",", ":")).encode() + b"\n"

    for step in range(2 * 144):
        ts = T0 + step * 10 * MIN
        minute = step * 10 % 1440
        awake = 7 * 60 <= minute < 21 * 60
        for k, m in enumerate(totals):
            if m == "wm-2" and 20 * 6 <= step < 26 * 6:
                continue  # silent for 6 h: device_silent, then heard again
            flow = 0.0
            if awake and (step + k) % 3 == 0 and not (m == "wm-0" and step > 144 + 9 * 6):
                totals[m] += 2  # hh-0 stops using water on day 1 at 09:00: an inactivity alert
            if m == "wm-1" and 30 * 6 <= step < 34 * 6:
                totals[m] += 60  # a tap running for 4 h: a flow alert, then cleared
                flow = 6.0
            if m == "wm-3" and step == 150:
                totals[m] = 5.0  # the meter replaced: the register starts again
            seq += 1
            data = {"total_l": totals[m], "flow_lpm": flow}
            if m == "wm-3b" and step % 37 == 0:
                data["battery_v"] = 2.4 if step < 100 else 3.0  # battery low, then ok: only the engine reads it
            payload = {"v": 1, "kind": "water_meter", "ts": ts, "seq": seq, "data": data}
            text = json.dumps(payload, separators=(",", ":"))
            cap = ts + 500 + 97 * k
            if step % 50 == 7 and k == 1:
                cap = ts - 20 * MIN  # captured out of order (the clock does not go back)
            out.append(line(cap, f"sw/v1/gw-1/{m}/reading", payload if step % 11 == 0 else text))
            if step % 29 == 0 and k == 2:
                out.append(line(cap + 5, f"sw/v1/gw-1/{m}/reading", text))  # repeated
        if step == 60 and junk:
            press = {"v": 1, "kind": "call_button", "ts": ts + 1, "seq": 1, "data": {"action": "press"}}
            out.append(line(ts + 2, "sw/v1/gw-1/cb-0/event", json.dumps(press)))
            out.append(line(ts + 3, "sw/v1/gw-1/state", json.dumps({"online": True})))
            out.append(b"\n")
            out.append(b"not json\n")
            out.append(line(ts + 4, "sw/v1/gw-1/wm-zz/reading", json.dumps(
                {"v": 1, "kind": "water_meter", "ts": ts, "seq": 1, "data": {"total_l": 1.0}})))
            out.append(line(ts + 5, "sw/v1/gw-1/wm-1/reading", json.dumps(
                {"v": 1, "kind": "water_meter", "ts": ts, "seq": 1, "data": {"total_l": "1"}})))
            out.append(line(ts + 6, "sw/v1/gw-1/wm-1/reading", json.dumps(
                {"v": 1, "kind": "water_meter", "ts": 1000, "seq": 1, "data": {"total_l": 1.0}})))
        if step == 144 + 12 * 6 and junk:  # hh-0 silent since 09:00: another gateway "reads" its meter, used
            out.append(line(ts + 7, "sw/v1/gw-9/wm-0/reading", json.dumps(
                {"v": 1, "kind": "water_meter", "ts": ts, "seq": 9, "data": {"total_l": totals["wm-0"] + 50}})))
    return out


@pytest.mark.parametrize(("chunk", "junk"), [(1 << 12, True), (1 << 22, False)])
def test_fast_path_agrees_on_every_case_it_hands_to_the_engine(tmp_path: Path, chunk: int, junk: bool,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks: runs cut at chunk ends, and a chunk with a blank line read line by line; one chunk without
    junk: all of it through the bulk decode."""
    monkeypatch.setattr("evaluation.bulk.CHUNK_BYTES", chunk)
    traffic, reg = tmp_path / "edge.jsonl", tmp_path / "registry.csv"
    traffic.write_bytes(b"".join(edge_lines(junk)))
    reg.write_text(REGISTRY)
    fast = backtest_file(CFG, traffic, reg)
    slow = slow_backtest_file(CFG, traffic, reg)
    rules = {a.rule for a in slow.alerts}
    assert {"water_inactivity", "water_flow", "device_silent", "battery_low"} <= rules, rules
    assert len(slow.traffic_errors) >= (4 if junk else 0)
    assert ("call_button" in rules) == junk
    foreign = [e for e in slow.traffic_errors if "registered on gateway 'gw-1', the message came from 'gw-9'" in e.reason]
    assert len(foreign) == junk
    same(fast, slow)


def test_sole_writer_store_answers_as_the_database_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path's store knows every open alert's next escalation from the changes it made and answers the
    manager's two questions a minute without the database: at every tick of a run with escalations, clears and
    check-ins, both answers are the database's own."""
    import evaluation.fastpath as fp

    asked = {"ticks": 0, "due": 0, "known": 0}

    class Checked(fp.SoleWriterStore):
        def due_escalations(self, now: int) -> list:
            mine = super().due_escalations(now)
            assert [a.id for a in mine] == [a.id for a in self._store.due_escalations(now)]
            asked["ticks"] += 1
            asked["due"] += bool(mine)
            asked["known"] += self._due is not None
            return mine

        def next_escalation_at(self) -> int | None:
            mine = super().next_escalation_at()
            assert mine == self._store.next_escalation_at()
            return mine

    monkeypatch.setattr(fp, "SoleWriterStore", Checked)
    traffic, reg = tmp_path / "edge.jsonl", tmp_path / "registry.csv"
    traffic.write_bytes(b"".join(edge_lines(True)))
    reg.write_text(REGISTRY)
    fast = backtest_file(CFG, traffic, reg)
    same(fast, slow_backtest_file(CFG, traffic, reg))
    assert asked["ticks"] >= 2 * 1440 - 20  # two days, a tick a minute
    assert asked["due"] >= 5, asked  # escalations were due (7 ticks)
    assert asked["known"] == asked["ticks"]  # and the store never had to fall back to asking


def test_fast_path_hands_over_the_notifications_the_slow_path_stores(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path renders every notification and does not store its deliveries (its database is thrown away):
    it hands over the same notifications, recipients, statuses and texts as the slow path stores, in order."""
    import evaluation.fastpath as fp
    import notify.base

    seen: dict[str, list] = {"fast": [], "slow": []}

    def watch(path: str, record):
        def rec(self, n, records):
            if records:
                seen[path].append((n.alert.id, n.event, n.step, n.at, [(r.contact, r.role, r.status, r.title, r.body)
                                                                      for r in records]))
            return record(self, n, records)
        return rec

    monkeypatch.setattr(notify.base.NotifierBase, "record", watch("slow", notify.base.NotifierBase.record))
    monkeypatch.setattr(fp.UnstoredNotifier, "record", watch("fast", fp.UnstoredNotifier.record))
    traffic, reg = tmp_path / "edge.jsonl", tmp_path / "registry.csv"
    traffic.write_bytes(b"".join(edge_lines(True)))
    reg.write_text(registry_csv([*REGISTRY_ROWS, *[  # someone on every rung of the ladder
        {"record": "contact", "code": f"duty-{lvl}", "parent": code, "role": f"{lvl}_duty", "channels": "ntfy://sw-d"}
        for lvl, code in (("community", "cm-1"), ("street", "st-1"))]]))
    fast = backtest_file(CFG, traffic, reg)
    assert seen["slow"] == []  # the fast path stored none
    slow = slow_backtest_file(CFG, traffic, reg)
    same(fast, slow)
    assert len(seen["slow"]) >= 15 and {e for _, e, *_ in seen["slow"]} >= {"opened", "escalated", "auto_cleared"}
    assert seen["fast"] == seen["slow"]


def test_read_chunks_inflates_ahead_and_stops(tmp_path: Path) -> None:
    """The gzip reader's thread: every line in order, a file cut short gives its whole lines and then EOFError,
    and a reader closed early stops the thread."""
    import gzip
    import threading
    import zlib

    from evaluation.bulk import read_chunks

    data = b"".join(b'{"n":%d,"pad":"%s"}\n' % (k, b"x" * (k % 50)) for k in range(60_000))
    whole = tmp_path / "t.jsonl.gz"
    whole.write_bytes(gzip.compress(data, compresslevel=1))
    chunks = list(read_chunks(whole, 1 << 14))
    assert b"".join(c for c, _ in chunks) == data and len(chunks) > 10
    assert [f for _, f in chunks] == [True] + [False] * (len(chunks) - 1)
    cut = tmp_path / "cut.jsonl.gz"
    packed = whole.read_bytes()
    cut.write_bytes(packed[: len(packed) // 2])
    got: list[bytes] = []
    with pytest.raises(EOFError):
        for c, _ in read_chunks(cut, 1 << 14):
            got.append(c)
    prefix = zlib.decompressobj(wbits=31).decompress(packed[: len(packed) // 2])
    assert b"".join(got) == prefix[: prefix.rfind(b"\n") + 1] and len(got) > 3
    it = read_chunks(whole, 1 << 14)
    next(it)
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "traffic-inflate"]
