"""Virtual clock and fault injection: rates within tolerance, seeded, reported; outages hold and release."""

from __future__ import annotations

from collections import Counter

import pytest

from firmware_sim.clock import FastClock, ScaledClock
from firmware_sim.faults import FaultInjector, FaultSpec, OutageWindow, apply_outages, rewrite_ts
from firmware_sim.generate import Simulation
from firmware_sim.stream import Control, Outgoing
from firmware_sim.timeparse import DAY_MS, HOUR_MS
from tests.firmware_sim.conftest import DEMO_DAY
from wire import ContractError, decode


class FakeTime:
    def __init__(self, mono: float = 100.0, epoch_ms: int = 1_800_000_000_000) -> None:
        self.mono, self.epoch = mono, epoch_ms

    def advance(self, s: float) -> None:
        self.mono += s
        self.epoch += int(s * 1000)


def test_scaled_clock_maps_simulated_time_to_wall_deadlines() -> None:
    ft = FakeTime()
    start = ft.epoch - DAY_MS
    clock = ScaledClock(start, 600, monotonic=lambda: ft.mono, epoch_ms=lambda: ft.epoch)
    clock.start()
    assert clock.deadline(start) == 100.0
    assert clock.deadline(start + 600_000) == pytest.approx(101.0)  # ten simulated minutes a second
    ft.advance(2)
    assert clock.now_ms() == start + 1_200_000


def test_capped_clock_never_runs_ahead_of_real_time() -> None:
    ft = FakeTime()
    start = ft.epoch - 10_000  # 10 s in the past, at speed 100
    clock = ScaledClock(start, 100, cap_to_real=True, monotonic=lambda: ft.mono, epoch_ms=lambda: ft.epoch)
    clock.start()
    # catching up: 5 s of simulated time is due after 0.05 s
    assert clock.deadline(start + 5_000) == pytest.approx(100.05)
    # beyond the real now it waits for the real time, not the scaled one
    assert clock.deadline(ft.epoch + 30_000) == pytest.approx(130.0)
    ft.advance(1)
    assert clock.now_ms() == ft.epoch


def test_fast_clock_is_always_due() -> None:
    clock = FastClock(0)
    assert clock.deadline(10**12) is None and clock.now_ms() == 10**12


@pytest.fixture(scope="module")
def stream(demo) -> list[Outgoing]:  # noqa: ANN001
    start = demo.start_ms(DEMO_DAY)
    sim = Simulation(demo, start, start + DAY_MS)
    return list(sim.outgoing())


def _apply(stream: list[Outgoing], **kw) -> tuple[list, FaultInjector]:
    inj = FaultInjector(FaultSpec(seed=11, **kw))
    return list(inj.apply(iter(stream))), inj


def test_drop_duplicate_corrupt_rates_are_within_tolerance(stream: list[Outgoing]) -> None:
    n = len(stream)
    out, inj = _apply(stream, drop_pct=10, duplicate_pct=5, corrupt_pct=4)
    rep = inj.report
    assert rep.seen == n
    for count, pct in ((rep.dropped, 10), (rep.duplicated, 5), (sum(rep.corrupted.values()), 4)):
        assert abs(count / n * 100 - pct) < 1.0, (count, pct)
    assert len(out) == n - rep.dropped + rep.duplicated
    # the report is what really happened
    original = Counter(o.payload for o in stream)
    sent = Counter(o.payload for o in out)
    broken = [p for p in sent if p not in original]
    assert len(broken) == sum(rep.corrupted.values())  # each corrupted payload is unique
    assert set(rep.corrupted) == {"truncate", "not_utf8", "ts_as_string"}
    for p in broken:
        topic = next(o.topic for o in out if o.payload == p)
        with pytest.raises(ContractError):
            decode(topic, p)
    assert sum(1 for p, c in sent.items() if c == 2) == pytest.approx(rep.duplicated, abs=3)


def test_faults_are_seeded(stream: list[Outgoing]) -> None:
    a, _ = _apply(stream[:5000], drop_pct=20, reorder_window=8, corrupt_pct=5)
    b, _ = _apply(stream[:5000], drop_pct=20, reorder_window=8, corrupt_pct=5)
    assert a == b
    c = list(FaultInjector(FaultSpec(drop_pct=20, reorder_window=8, corrupt_pct=5, seed=12)).apply(iter(stream[:5000])))
    assert c != a


def test_reorder_stays_within_its_window_and_loses_nothing(stream: list[Outgoing]) -> None:
    part = stream[:4000]
    out, inj = _apply(part, reorder_window=10)
    assert sorted(o.payload for o in out) == sorted(o.payload for o in part)
    pos = {o.payload: i for i, o in enumerate(part)}
    moves = [abs(pos[o.payload] - i) for i, o in enumerate(out)]
    assert max(moves) < 4000 and sum(m > 0 for m in moves) > 1000
    assert inj.report.reordered > 500
    assert all(a.at_ms <= b.at_ms for a, b in zip(out, out[1:], strict=False)), "send times never go back"


def test_delay_keeps_payload_times_and_send_order(stream: list[Outgoing]) -> None:
    part = stream[:4000]
    out, inj = _apply(part, delay_pct=20, delay_max_ms=60_000)
    assert abs(inj.report.delayed / len(part) * 100 - 20) < 2.5
    assert sorted(o.payload for o in out) == sorted(o.payload for o in part)
    assert all(a.at_ms <= b.at_ms for a, b in zip(out, out[1:], strict=False))
    late = [o for o, p in zip(out, part, strict=True) if o.payload != p.payload]
    assert late


def test_skew_shifts_one_gateways_timestamps(stream: list[Outgoing]) -> None:
    out, inj = _apply(stream[:2000], skew_ms=(("demo-gw-2", -90_000),))
    for before, after in zip(stream[:2000], out, strict=True):
        a, b = decode(before.topic, before.payload), decode(after.topic, after.payload)
        assert b.ts == a.ts - (90_000 if before.gateway == "demo-gw-2" else 0)
    assert inj.report.skewed == sum(o.gateway == "demo-gw-2" for o in stream[:2000])
    assert rewrite_ts(b'{"online":true}', 5) is None


def test_outage_takes_the_gateway_down_and_forwards_its_messages_late(stream: list[Outgoing]) -> None:
    t0 = stream[0].at_ms
    window = OutageWindow("demo-gw-1", t0 + 2 * HOUR_MS, t0 + 3 * HOUR_MS)
    out = list(apply_outages(iter(stream), [window]))
    controls = [o for o in out if isinstance(o, Control)]
    assert controls == [Control(window.start_ms, "demo-gw-1", False), Control(window.end_ms, "demo-gw-1", True)]
    msgs = [o for o in out if isinstance(o, Outgoing)]
    assert sorted(o.payload for o in msgs) == sorted(o.payload for o in stream), "store and forward: nothing lost"
    down_at, up_at = out.index(controls[0]), out.index(controls[1])
    assert not [o for o in out[down_at:up_at] if isinstance(o, Outgoing) and o.gateway == "demo-gw-1"]
    held = [o for o in msgs if o.gateway == "demo-gw-1" and
            window.start_ms <= decode(o.topic, o.payload).ts < window.end_ms]  # payload ts stays the original
    assert len(held) > 100
    assert all(o.at_ms == window.end_ms for o in held), "sent when the uplink comes back"
    assert all(a.at_ms <= b.at_ms for a, b in zip(out, out[1:], strict=False))
