"""Rebuild the engine's state after a (re)start from InfluxDB (last readings) and the store (open alerts).

- device last-seen and gateway presence, so silence and outages keep counting across a restart;
- each water meter's register and the time of the household's last use, so an inactivity
  already running is neither forgotten nor restarted;
- recent river levels, replayed through the filter, with each station's stage taken from
  its open alert, so a flood in progress is not raised again;
- the learned water routine from the state file.
Handled alerts are never raised again because every episode is remembered by the store. Alerts that a
previous run left open are checked against what the readings say now: an inactivity whose household has
used water since, a silent device that has spoken since, an offline gateway that is back, are cleared by
the engine (outcome auto_cleared, at the engine's now); the others keep their flags so that the next
message clears them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from alerts.engine import Engine
from alerts.rules.routine import Routine
from alerts.types import Clear, Rule, Severity
from ground.errors import InfluxRejected, InfluxUnavailable
from storage.escape import string_literal
from storage.influx import InfluxClient
from storage.measurements import DEVICE_MEASUREMENTS

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class RebuildReport:
    devices_seen: int = 0
    meters: int = 0
    households_last_use: int = 0
    gauge_samples: int = 0
    gateways_offline: int = 0
    routine_loaded: bool = False
    stale_cleared: int = 0
    devices_heard: dict[str, int] = field(default_factory=dict, repr=False)  # last report in InfluxDB
    gateways_online: set[str] = field(default_factory=set, repr=False)
    households_used: dict[str, int] = field(default_factory=dict, repr=False)  # a register movement found

    def __str__(self) -> str:
        return (f"{self.devices_seen} devices last seen, {self.meters} meters, {self.households_last_use} "
                f"households' last use, {self.gauge_samples} gauge samples, {self.gateways_offline} gateways offline, "
                f"routine {'loaded' if self.routine_loaded else 'cold'}, "
                f"{self.stale_cleared} alerts of an earlier run cleared")


def _ns(ms: int) -> int:
    return ms * 1_000_000


def rebuild(engine: Engine, influx: InfluxClient, routine_file: Path | None = None) -> RebuildReport:
    """Restore engine state; InfluxDB being unreachable is logged and the engine starts cold."""
    rep = RebuildReport()
    if routine_file is not None:
        rep.routine_loaded = load_routine(engine, routine_file)
    now = engine.clock.now_ms()
    lookback = int(max(engine.cfg.inactivity_hard_cap_h + 2, 26) * 3_600_000)
    try:
        _last_seen(engine, influx, now, lookback, rep)
        _gateways(engine, influx, now, rep)
        _water(engine, influx, now, lookback, rep)
        _river(engine, influx, now, rep)
    except InfluxRejected as exc:
        if "database not found" in str(exc):
            log.info("InfluxDB has no data yet: nothing to rebuild from it")
        else:
            log.error("could not rebuild state from InfluxDB (%s): starting with what the store knows", exc)
    except InfluxUnavailable as exc:
        log.error("could not rebuild state from InfluxDB (%s): starting with what the store knows", exc)
    rep.stale_cleared = _open_alerts(engine, now, rep)
    log.info("state rebuilt: %s", rep)
    return rep


def _own(engine: Engine, row: dict) -> bool:
    """A stored row counts for its device only if it came from the device's registered gateway, as the engine
    takes messages live (Engine.own_gateway): another gateway's rows about it are not its history."""
    dev = engine.registry().devices.get(row.get("device", ""))
    return dev is None or not dev.gateway or row.get("gateway") == dev.gateway


def _gateway_clause(engine: Engine, device: str) -> str:
    dev = engine.registry().devices.get(device)
    return f" AND gateway = {string_literal(dev.gateway)}" if dev is not None and dev.gateway else ""


def _last_seen(engine: Engine, influx: InfluxClient, now: int, lookback: int, rep: RebuildReport) -> None:
    frm = ",".join(f'"{m}"' for m in DEVICE_MEASUREMENTS)
    rows = influx.rows(f"SELECT last(seq) FROM {frm} WHERE time > {_ns(now - lookback)} AND time <= {_ns(now)} "
                       "GROUP BY device, gateway")
    best: dict[str, int] = {}
    for r in rows:
        if not _own(engine, r):
            continue
        best[r["device"]] = max(best.get(r["device"], 0), int(r["time"]))
    for dev, t in best.items():
        engine.health.seen(dev, t)
    rep.devices_seen = len(best)
    rep.devices_heard = best


def _gateways(engine: Engine, influx: InfluxClient, now: int, rep: RebuildReport) -> None:
    rows = influx.rows(f"SELECT last(online) FROM gateway_state WHERE time <= {_ns(now)} GROUP BY gateway")
    for r in rows:
        if r.get("last") is False:
            engine.health.offline_since.setdefault(r["gateway"], int(r["time"]))
            rep.gateways_offline += 1
        elif r.get("last") is True:
            rep.gateways_online.add(r["gateway"])


def _water(engine: Engine, influx: InfluxClient, now: int, lookback: int, rep: RebuildReport) -> None:
    water = engine.water
    window = f"time > {_ns(now - lookback)} AND time <= {_ns(now)}"
    last: dict[str, tuple[int, float]] = {}
    for r in influx.rows(f"SELECT last(total_l) FROM water_meter WHERE {window} GROUP BY device, gateway"):
        if r["device"] in water.meters and _own(engine, r) and int(r["time"]) > last.get(r["device"], (-1, 0.0))[0]:
            last[r["device"]] = (int(r["time"]), float(r["last"]))
    rep.meters = len(last)
    # the household's last use, dated as the live rule dates it: at the last reading before the
    # register came within one step of its final value - or, when the next reading came after a gap
    # (more than two intervals), at that next reading
    devices = sorted(last)
    before: dict[str, int] = {}
    for i in range(0, len(devices), BATCH):
        chunk = devices[i:i + BATCH]
        stmts = []
        for d in chunk:
            threshold = last[d][1] - water.step.get(d, 1.0) + 1e-6
            stmts.append(f"SELECT last(total_l) FROM water_meter WHERE device = {string_literal(d)} AND "
                         f"total_l < {threshold!r} AND {window}{_gateway_clause(engine, d)}")
        for d, series in zip(chunk, _multi(influx, ";".join(stmts)), strict=True):
            if series:
                before[d] = int(series[0]["values"][0][0])
    use_time: dict[str, int] = {}
    moved = sorted(before)
    for i in range(0, len(moved), BATCH):
        chunk = moved[i:i + BATCH]
        stmts = [f"SELECT first(total_l) FROM water_meter WHERE device = {string_literal(d)} AND "
                 f"time > {_ns(before[d])} AND time <= {_ns(now)}{_gateway_clause(engine, d)}" for d in chunk]
        for d, series in zip(chunk, _multi(influx, ";".join(stmts)), strict=True):
            t_prev = before[d]
            t_next = int(series[0]["values"][0][0]) if series else t_prev
            interval = water.interval.get(d, engine.cfg.default_interval_s * 1000)
            use_time[d] = t_prev if t_next - t_prev <= 2 * interval else t_next
    first_seen: dict[str, int] = {}
    for r in influx.rows(f"SELECT first(total_l) FROM water_meter WHERE {window} GROUP BY device, gateway"):
        if _own(engine, r):
            first_seen[r["device"]] = min(first_seen.get(r["device"], int(r["time"])), int(r["time"]))
    per_household: dict[str, int] = defaultdict(int)
    for d, (ts, total) in last.items():
        m = water.meters[d]
        m.last_total, m.last_ts, m.base_total = total, ts, total
        # a register that never moved in the look-back: its first reading there (the gap is at least that)
        per_household[m.place] = max(per_household[m.place], use_time.get(d, first_seen.get(d, ts)))
        if d in use_time:
            rep.households_used[m.place] = max(rep.households_used.get(m.place, 0), use_time[d])
    for hh, ts in per_household.items():
        water.restore_last_use(hh, ts)
    rep.households_last_use = len(per_household)


def _multi(influx: InfluxClient, q: str) -> list[list[dict]]:
    """Run several statements at once; the series of each, in order."""
    resp = influx._request("POST", "/query", data={"q": q, "db": influx.cfg.database, "epoch": "ms"})
    out = []
    for res in resp.json().get("results", []):
        if "error" in res:
            raise InfluxRejected(f"InfluxQL error: {res['error']}", resp.status_code, res["error"])
        out.append(res.get("series", []))
    return out


def _river(engine: Engine, influx: InfluxClient, now: int, rep: RebuildReport) -> None:
    river = engine.river
    reg = engine.registry()
    for a in engine.store.active(Rule.RIVER_LEVEL):
        st = river.state.setdefault(a.subject, type(river).new_state())
        st.stage = 2 if a.severity is Severity.CRITICAL else 1
        st.episode = a.episode
    for a in engine.store.active(Rule.RIVER_RISE):
        st = river.state.setdefault(a.subject, type(river).new_state())
        st.rising, st.rise_episode = True, a.episode
    for a in engine.store.active(Rule.RIVER_SENSOR):
        river.state.setdefault(a.subject, type(river).new_state()).stuck = True
    horizon = int(max(engine.cfg.river_rate_window_min, engine.cfg.river_clear_hold_min) * 60_000 * 2)
    rows = influx.rows(f"SELECT level_m FROM river_gauge WHERE time > {_ns(now - horizon)} AND time <= {_ns(now)} "
                       "GROUP BY device, gateway")
    actions = []
    for r in sorted(rows, key=lambda r: r["time"]):
        if not _own(engine, r):
            continue
        dev = reg.devices.get(r["device"])
        st = reg.stations.get(dev.place) if dev else None
        if st is not None and r.get("level_m") is not None:
            actions += river.sample(st, int(r["time"]), float(r["level_m"]))
            rep.gauge_samples += 1
    engine.manager.apply(actions, now)


def _open_alerts(engine: Engine, now: int, found: RebuildReport) -> int:
    """Set the rules' flags from the store's open alerts; clear those whose condition no longer holds."""
    water, health = engine.water, engine.health
    stale: list[Clear] = []
    for a in engine.store.active(Rule.WATER_INACTIVITY):
        i = water.hindex.get(a.subject)
        since = a.details.get("since")
        if i is None or since is None:
            continue
        if int(since) == int(water.last_use[i]):
            water.alerted[i] = int(since)
        elif found.households_used.get(a.subject, 0) > int(since):
            stale.append(Clear(Rule.WATER_INACTIVITY, a.subject, "water_used", now))  # used while we were down
    for a in engine.store.active(Rule.DEVICE_SILENT):
        i = health.index.get(a.subject)
        if i is None:
            continue
        last = a.details.get("last_seen")
        heard = found.devices_heard.get(a.subject)
        if heard is not None and last is not None and heard > int(last) and now - heard <= int(health.limit_ms[i]):
            stale.append(Clear(Rule.DEVICE_SILENT, a.subject, "reporting_again", now))
        else:
            health.silent[i] = True
    for a in engine.store.active(Rule.BATTERY_LOW):
        health.battery_low.setdefault(a.subject, a.opened_at)
    for a in engine.store.active(Rule.GATEWAY_OFFLINE):
        if a.subject in health.offline_since or a.subject not in found.gateways_online:
            health.offline_alerted.add(a.subject)
        else:
            stale.append(Clear(Rule.GATEWAY_OFFLINE, a.subject, "back_online", now))
    for a in engine.store.active(Rule.WATER_FLOW):
        for m in water.meters.values():
            if m.place == a.subject:
                m.flow_alerted = True
    if stale:
        log.info("%d alerts of an earlier run no longer hold: clearing them", len(stale))
    return len(engine.manager.apply(stale, now))


def save_routine(engine: Engine, path: Path) -> None:
    """Persist the learned water routine (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    engine.water.routine.save(str(tmp), engine.water.codes)
    tmp.replace(path)


def load_routine(engine: Engine, path: Path) -> bool:
    """Load a saved routine, matching households by code; False if there is none."""
    import numpy as np

    if not path.exists():
        return False
    try:
        routine, codes = Routine.load(str(path))
    except (OSError, ValueError, KeyError) as exc:
        log.error("routine file %s unreadable (%s); learning from scratch", path, exc)
        return False
    pos = {c: i for i, c in enumerate(codes)}
    order = np.array([pos.get(c, -1) for c in engine.water.codes], dtype=np.int64)
    engine.water.routine = routine.take(order)
    return True
