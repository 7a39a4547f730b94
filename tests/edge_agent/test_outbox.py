"""The durable outbox on real SQLite: order, seq, shedding policy, age, and surviving SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge_agent.clock import SystemClock
from edge_agent.emit import Emitter
from edge_agent.outbox import Outbox, Priority
from ground.clock import ManualClock
from wire import ContractError, decode
from wire.models import Channel, Kind


class FakeClock(ManualClock):
    """A clock the test moves by hand; its monotonic time moves with it."""

    def __init__(self, ms: int = 1_795_450_000_000) -> None:
        super().__init__(ms)

    def monotonic(self) -> float:
        return self.now_ms() / 1000


def make(path: Path, clock=None, **kw) -> Outbox:
    opts = {"max_messages": 1000, "max_bytes": 10**8, "max_age_ms": 3_600_000} | kw
    return Outbox(path, clock or FakeClock(), **opts)


def put(box: Outbox, device: str, prio: Priority, body: bytes = b"x" * 100) -> int:
    return box.put(device, prio, lambda seq: (f"t/{device}/{seq}", body))


def test_send_order_events_first_then_the_rest_in_append_order(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db")
    put(box, "a", Priority.READING)
    put(box, "b", Priority.EVENT)
    put(box, "a", Priority.STATUS)
    put(box, "c", Priority.EVENT)
    put(box, "a", Priority.READING)
    events, rest = box.fetch(0, 0, 10, 10)
    assert [r.topic for r in events] == ["t/b/1", "t/c/1"]
    assert [r.topic for r in rest] == ["t/a/1", "t/a/2", "t/a/3"]  # seq per device, across classes
    assert box.delete([r.id for r in events]) == 2
    assert box.depth == 3
    box.close()


def test_seq_survives_reopen_and_a_refused_message_uses_none(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db")
    emitter = Emitter("gw-1", box, SystemClock())
    assert emitter.emit("wm-1", Kind.WATER_METER, Channel.READING, {"total_l": 1.0})
    assert not emitter.emit("wm-1", Kind.WATER_METER, Channel.READING, {"total_l": -1.0})  # out of range
    assert not emitter.emit("wm-1", Kind.WATER_METER, Channel.READING, {"total_l": 1.0, "colour": "red"})
    box.close()
    box = make(tmp_path / "o.db")
    assert box.counters["rejected"] == 2
    emitter = Emitter("gw-1", box, SystemClock())
    assert emitter.emit("wm-1", Kind.WATER_METER, Channel.READING, {"total_l": 2.0})
    _, rows = box.fetch(0, 0, 0, 10)
    msgs = [decode(r.topic, r.payload) for r in rows]
    assert [(m.seq, m.data["total_l"]) for m in msgs] == [(1, 1.0), (2, 2.0)]
    box.close()


def test_build_errors_store_nothing(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db")

    def bad(seq: int) -> tuple[str, bytes]:
        raise ContractError("schema", "nope")

    with pytest.raises(ContractError):
        box.put("a", Priority.READING, bad)
    assert box.depth == 0 and put(box, "a", Priority.READING) and box.fetch(0, 0, 0, 5)[1][0].topic == "t/a/1"
    box.close()


def test_full_outbox_sheds_status_then_readings_never_events_while_readings_remain(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db", max_messages=100)
    for i in range(30):
        put(box, "btn", Priority.EVENT)
        put(box, "st", Priority.STATUS)
        put(box, "wm", Priority.READING)
    for i in range(200):
        put(box, "wm", Priority.READING)
        if i % 10 == 0:
            put(box, "btn", Priority.EVENT)
    assert box.depth <= 100
    events, rest = box.fetch(0, 0, 1000, 1000)
    assert len(events) == 50                                   # every event survived
    assert [r.topic for r in events] == [f"t/btn/{i}" for i in range(1, 51)]
    assert all(r.topic.startswith("t/wm/") for r in rest)     # status went first
    seqs = [int(r.topic.rsplit("/", 1)[1]) for r in rest]
    assert seqs == sorted(seqs) and seqs[-1] == 230           # the oldest readings went, the newest stayed
    assert box.counters["shed_status"] == 30
    assert box.counters["shed_readings"] == 230 - len(rest)
    assert box.counters["shed_events"] == 0
    box.close()
    assert make(tmp_path / "o.db").counters["shed_readings"] == 230 - len(rest)  # counters are persisted


def test_events_are_shed_only_when_no_reading_remains(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db", max_messages=20)
    put(box, "wm", Priority.READING)
    for _ in range(25):
        put(box, "btn", Priority.EVENT)
    assert box.counters["shed_readings"] == 1
    assert box.counters["shed_events"] > 0 and box.depth <= 20
    events, _ = box.fetch(0, 0, 100, 0)
    assert events[-1].topic == "t/btn/25"                     # the newest events are kept
    # a reading arriving at an outbox full of events does not push an event out
    before = box.counters["shed_events"]
    put(box, "wm", Priority.READING)
    assert box.counters["shed_events"] == before
    box.close()


def test_size_bound_in_bytes(tmp_path: Path) -> None:
    box = make(tmp_path / "o.db", max_bytes=50_000)
    for _ in range(100):
        put(box, "wm", Priority.READING, b"y" * 1000)
    assert box.size_bytes <= 50_000 and box.counters["shed_readings"] >= 50
    box.close()


def test_age_sweep_sheds_old_readings_and_keeps_events(tmp_path: Path) -> None:
    clock = FakeClock()
    box = make(tmp_path / "o.db", clock, max_age_ms=60_000)
    put(box, "wm", Priority.READING)
    put(box, "btn", Priority.EVENT)
    put(box, "st", Priority.STATUS)
    clock.advance(30)
    put(box, "wm", Priority.READING)
    clock.advance(45)
    assert box.oldest_age_s() == 75.0
    assert box.shed_expired() == 2
    events, rest = box.fetch(0, 0, 10, 10)
    assert [r.topic for r in events] == ["t/btn/1"] and [r.topic for r in rest] == ["t/wm/2"]
    assert box.counters["shed_readings"] == 1 and box.counters["shed_status"] == 1
    box.close()


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from edge_agent.clock import SystemClock
    from edge_agent.outbox import Outbox, Priority
    box = Outbox(Path(sys.argv[1]), SystemClock(), max_messages=10**6, max_bytes=10**9, max_age_ms=10**9,
                 synchronous=sys.argv[2])
    i = 0
    while True:
        i += 1
        box.put("wm", Priority.READING, lambda seq: ("t", b"%d" % seq))
        print(i, flush=True)   # printed only after the commit returned
""")


@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_appends_survive_sigkill(tmp_path: Path, synchronous: str) -> None:
    db = tmp_path / "o.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), synchronous], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    last = 0
    deadline = time.monotonic() + 10
    while last < 300 and time.monotonic() < deadline:
        last = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read().split()
    proc.wait()
    proc.stdout.close()
    confirmed = int(rest[-1]) if rest else last
    box = make(db)
    _, rows = box.fetch(0, 0, 0, 10**6)
    seqs = [int(r.payload) for r in rows]
    assert seqs[:confirmed] == list(range(1, confirmed + 1))  # every confirmed append is there, in order
    assert box.depth == len(rows)
    box.close()
