"""Fill an InfluxDB database with what the whole system writes for the demo scenario.

From midnight (scenario time zone) of yesterday until now:
- the simulator's device traffic (firmware_sim generator), with a share of corrupted payloads
  and two gateway outages (demo-gw-1 in the afternoon, demo-gw-2 still down at the end), as
  ingest turns them into points (ingest.lineproto): measurements per kind, device_status,
  gateway_state from births and last wills, dead_letter for rejected payloads;
- edge-agent health (gateway/status every 5 minutes: outbox depth grows while the uplink is down
  and the held messages arrive after it returns, as the agent's outbox does);
- alert points: the real rules engine run over the same stream with the real InfluxAlertSink, and
  staff acknowledging and resolving alerts through the store some minutes after they open.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alerts.actions import Actor, AlertActions
from alerts.engine import Engine
from alerts.lifecycle import LifecycleError
from alerts.sinks import InfluxAlertSink
from alerts.types import ACTIVE_STATES, AlertState
from firmware_sim.faults import FaultInjector, FaultSpec, OutageWindow
from firmware_sim.generate import Simulation, birth_message
from firmware_sim.scenario import load_scenario
from firmware_sim.stream import Control, Item, Outgoing, fast_payload
from ground.clock import ManualClock
from ingest.lineproto import dead_letter_line, message_line, state_line
from notify.recorder import StoreNotifier
from registry.model import RegistrySnapshot, load_snapshot
from registry.scenario import import_community
from shouwang.config import AlertsConfig
from storage.influx import InfluxClient
from storage.sql import Database
from wire import ContractError
from wire.models import Channel, Kind, StateMessage, decode
from wire.topics import device_topic

MINUTE = 60_000
HEALTH_EVERY = 5 * MINUTE
TICK = MINUTE


@dataclass
class Filled:
    """What was written, for the tests to query against."""

    start_ms: int
    end_ms: int
    registry: RegistrySnapshot
    points: int
    dead_letters: int
    alert_points: int
    offline_gateway: str


def _health(gateways: tuple[str, ...], start: int, end: int, held: dict[str, list[int]],
            outages: list[OutageWindow]) -> Iterator[Outgoing]:
    """Agent health every 5 minutes; outbox depth = messages held by the outage at that instant."""
    seq = defaultdict(int)
    for t in range(start + HEALTH_EVERY, end, HEALTH_EVERY):
        for gw in gateways:
            down = [o for o in outages if o.gateway == gw and o.start_ms <= t < o.end_ms]
            depth = 0
            oldest = 0.0
            if down:
                times = held[gw]
                lo = bisect.bisect_left(times, down[0].start_ms)
                hi = bisect.bisect_left(times, t)
                depth = hi - lo
                oldest = (t - times[lo]) / 1000 if depth else 0.0
            seq[gw] += 1
            data = {"uptime_s": (t - start) / 1000, "outbox_depth": depth, "outbox_bytes": depth * 120,
                    "outbox_oldest_s": oldest, "sent": seq[gw] * 40, "cpu_pct": 3.5 + (seq[gw] % 7) / 2,
                    "rss_mb": 41.0, "connected": not down, "drivers_down": 0, "shed_readings": 0,
                    "shed_events": 0, "shed_status": 0, "rejected": 0}
            yield Outgoing(t, device_topic(gw, gw, Channel.STATUS), fast_payload(Kind.GATEWAY.value, t, seq[gw], data),
                           gw)


def _merge(a: list[Outgoing], b: Iterator[Outgoing]) -> list[Outgoing]:
    out = a + list(b)
    out.sort(key=lambda o: o.at_ms)
    return out


def fill(influx: InfluxClient, workdir: Path, now_ms: int) -> Filled:
    """Write the demo scenario from yesterday's local midnight until now_ms; returns what was written."""
    c = load_scenario("demo")
    start = c.start_ms()
    end = now_ms - now_ms % MINUTE
    sim = Simulation(c, start, end)
    gateways = sim.gateways
    traffic = list(sim.outgoing())
    t13 = int(dt.datetime.fromtimestamp(start / 1000, c.zone).replace(hour=13).timestamp() * 1000)
    outages = [OutageWindow("demo-gw-1", t13, t13 + 40 * MINUTE),
               OutageWindow("demo-gw-2", end - 25 * MINUTE, end + 60 * MINUTE)]
    held: dict[str, list[int]] = defaultdict(list)
    for o in traffic:
        held[o.gateway].append(o.at_ms)
    stream = _merge(traffic, _health(gateways, start, end, held, outages))
    births: list[Item] = [birth_message(gw, start) for gw in gateways]
    faults = FaultInjector(FaultSpec(corrupt_pct=0.2, outages=tuple(outages), seed=7))
    items = [*births, *faults.apply(stream)]

    influx.ensure_database()
    with Database(f"sqlite:///{workdir / 'alerts.db'}") as db:
        report = import_community(db, c)
        assert not report.errors, report.errors
        clock = ManualClock(start)
        sink = InfluxAlertSink(influx, lambda: True)
        acfg = AlertsConfig(timezone=c.meta.timezone)
        engine = Engine(acfg, db, clock, notifier=StoreNotifier(db, acfg.timezone), sinks=[sink])
        actions = AlertActions(engine.store, clock, sinks=[sink])
        lines: list[str] = []
        dead = 0
        next_tick = start + TICK
        staff: list[tuple[int, int, str]] = []  # (due ms, alert id, action)

        def flush() -> None:
            if lines:
                influx.write("\n".join(lines).encode(), precision="ns")
                lines.clear()

        def run_until(t: int) -> None:
            nonlocal next_tick
            while next_tick <= t:
                clock.set(next_tick)
                for ch in engine.tick():
                    _schedule(staff, ch)
                _staff(actions, staff, next_tick)
                next_tick += TICK

        for n, item in enumerate(items):
            if item.at_ms > end:
                break  # still in a gateway's outbox when the window ends
            run_until(item.at_ms)
            clock.set(item.at_ms)
            if isinstance(item, Control):
                state = StateMessage(item.gateway, item.online, None, {"online": item.online})
                lines.append(state_line(state, item.at_ms))
                for ch in engine.handle(state):
                    _schedule(staff, ch)
                continue
            try:
                msg = decode(item.topic, item.payload)
            except ContractError as exc:
                lines.append(dead_letter_line(exc.code, exc.reason, item.topic, item.payload,
                                              item.at_ms * 1_000_000 + n % 1_000_000))
                dead += 1
                continue
            if isinstance(msg, StateMessage):
                lines.append(state_line(msg, item.at_ms))
                changes = engine.handle(msg)
            else:
                lines.append(message_line(msg))
                changes = engine.handle(msg)
            for ch in changes:
                _schedule(staff, ch)
            if len(lines) >= 5000:
                flush()
        run_until(end)
        flush()
        assert sink.flush(20), "alert points were not written"
        sink.close()
        registry = load_snapshot(db)
    return Filled(start, end, registry, n, dead, sink.written, "demo-gw-2")


def _schedule(staff: list[tuple[int, int, str]], change) -> None:  # noqa: ANN001
    """Staff take an opened alert some minutes later and resolve it later still."""
    if change.action != "opened":
        return
    a = change.alert
    ack = change.at + (2 + 3 * (a.id % 5)) * MINUTE
    staff.append((ack, a.id, "ack"))
    staff.append((ack + (15 + 20 * (a.id % 4)) * MINUTE, a.id, "resolve"))
    staff.sort()


def _staff(actions: AlertActions, staff: list[tuple[int, int, str]], now: int) -> None:
    """People's changes due by now, through the actions (store, trail, the engine's sinks); now is the clock's."""
    worker = Actor("worker-on-duty", "console")
    while staff and staff[0][0] <= now:
        _, alert_id, what = staff.pop(0)
        a = actions.store.get(alert_id)
        try:
            if what == "ack" and a.state is AlertState.OPEN:
                actions.acknowledge(alert_id, worker)
            elif what == "resolve" and a.state in ACTIVE_STATES and a.state is not AlertState.OPEN:
                actions.resolve(alert_id, worker)
            else:
                continue  # auto-cleared or closed as a false alarm before staff got to it
        except LifecycleError:
            continue
