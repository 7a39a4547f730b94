"""The fast backtest of a traffic file: the same engine, the same alerts at the same times, chunks at a time.

backtest.py's message-by-message loop spends ~100 us a reading in Python (building the message, every rule, the
engine's bookkeeping); a county month is 4 x 10^7 readings. Here the file is decoded in bulk (bulk.py) and the
readings of registered water meters - nearly all the traffic - are applied as numpy columns:

- the water rule's per-meter state (register at the last use, last reading, unbroken flow) is kept in arrays
  and stepped exactly as WaterRule.reading steps a MeterState, for every reading of a run at once, and the run's
  uses go to WaterRule.uses in one numpy step (the rule's own bookkeeping; a single use is a run of one);
- a reading whose effect is an action - a use that clears an inactivity alert, a flow alert raised or cleared,
  a silent device heard again - or that carries what only the engine reads (a battery voltage), and every other
  message, goes through the engine itself (Engine.handle) at its own time, its meter's state handed over and
  back, in file order;
- ticks run between readings exactly where the message-by-message loop runs them (every tick_s of the clock,
  before the first message at or after the tick), and the engine's own tick does all timer work;
- a run of readings is applied at once only when no household (a meter's place) appears twice in it, so every
  meter's readings are stepped in order and no two touch one household's state; a run is cut where one would.

The awake-hours timers' use tracker (scoring.UseTracker) is stepped the same way. The alert store is an
in-memory SQLite database (backtest.py), so the engine's few queries per simulated minute stay in memory.
tests/evaluation/test_fastpath.py checks both paths raise the same alerts at the same times and score the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from alerts.engine import Engine
from alerts.lifecycle import AlertChange
from alerts.notifier import Notification
from alerts.rules.water import DEFAULT_STEP_L
from alerts.store import AlertStore, DeliveryRecord
from alerts.types import AlertState
from evaluation.bulk import NONE_MS, BulkTraffic, Chunk
from evaluation.traffic import Item, LineError, foreign_error
from ground.clock import ManualClock
from notify.recorder import StoreNotifier
from storage.sql import Database
from wire.models import Channel, Kind, Message

if TYPE_CHECKING:
    from evaluation.backtest import Backtest


class RegistryChanged(RuntimeError):
    """The registry changed during a backtest (nothing in a backtest changes it)."""


class SoleWriterStore:
    """The engine's alert store when the engine is its only writer (a backtest's private database).

    The manager asks every simulated minute which escalations are due and when the next one is. With nobody else
    writing, every change to an alert is made through this object and returns the alert as it now is
    (AlertChange.alert), so the escalation time of every open alert is known here and the answers are given
    without asking the database: "nothing is due" and "the next one is at ..." (the store's own query is
    asked when something is due). A call this class does not know (or one that fails) makes it ask the store
    again, as before, until the end of the run."""

    #: calls that change no alert's state or escalation time (reads, and the deliveries of a notification)
    KEEPS = frozenset({"record_deliveries", "checkin_pending_for", "get", "active", "active_for", "list", "count",
                       "active_by_subject", "ids_in", "all", "events", "deliveries", "stats", "checkin_stats"})
    #: calls that change at most one alert and return it (AlertChange), or None when they changed nothing
    CHANGES = frozenset({"raise_alert", "clear", "cancel", "record_escalation", "push_staff", "checkin_ok",
                         "checkin_unreachable", "acknowledge", "dispatch", "resolve", "close"})

    def __init__(self, store: AlertStore) -> None:
        self._store = store
        # alert id -> next escalation time of every open alert that has one; None: not known here
        self._due: dict[int, int] | None = {} if store.next_escalation_at() is None else None

    def due_escalations(self, now: int) -> list:
        nxt = self.next_escalation_at()
        if nxt is None or now < nxt:
            return []
        return self._store.due_escalations(now)

    def next_escalation_at(self) -> int | None:
        if self._due is None:
            return self._store.next_escalation_at()
        return min(self._due.values()) if self._due else None

    def _changed(self, change: object) -> None:
        if self._due is None or change is None:
            return
        if not isinstance(change, AlertChange):
            self._due = None
            return
        a = change.alert
        if a.state is AlertState.OPEN and a.next_escalation_at is not None:
            self._due[a.id] = a.next_escalation_at
        else:
            self._due.pop(a.id, None)

    def __getattr__(self, name: str):
        attr = getattr(self._store, name)
        if not callable(attr) or name in self.KEEPS:
            return attr
        changes = name in self.CHANGES

        def call(*args, **kwargs):
            try:
                out = attr(*args, **kwargs)
            except BaseException:
                self._due = None
                raise
            if changes:
                self._changed(out)
            else:
                self._due = None
            return out

        return call


class UnstoredNotifier(StoreNotifier):
    """The fast backtest's notifier: every notification is rendered for every recipient exactly as StoreNotifier
    renders it (the same texts, statuses and events), and its deliveries are not written. A backtest's database
    is thrown away at its end and nothing in the engine reads deliveries back; writing them was a fifth of the
    store's work. The message-by-message path stores them; tests/evaluation/test_fastpath.py checks both paths
    hand over the same notifications with the same texts."""

    def __init__(self, db: Database, timezone: str) -> None:
        super().__init__(db, timezone)
        self.deliveries = 0  # how many were handed over (rendered, not stored)

    def record(self, n: Notification, records: Sequence[DeliveryRecord]) -> list[int]:
        if not records:
            return super().record(n, records)  # nobody to notify: logged as there
        self.deliveries += len(records)
        return [0] * len(records)  # no rows, so no ids


def sole_writer(engine: Engine) -> None:
    """Set an engine up as the only writer of its database: no polling of the store or the registry.

    Exact in a backtest: its database is private, so the registry cannot change under it (an explicit
    reload_registry(force=True) still reloads) and no one else opens, acknowledges or escalates alerts."""
    store = SoleWriterStore(engine.store)
    engine.store = engine.manager.store = store  # type: ignore[assignment]
    reload = engine.reload_registry
    engine.reload_registry = lambda force=False: reload(force=True) if force else False  # type: ignore[method-assign]


class FastRun:
    """One fast backtest over one engine: columns of readings in, the engine's alerts out (via bt._record)."""

    def __init__(self, bt: Backtest, engine: Engine, clock: ManualClock, bulk: BulkTraffic, ids: list[str],
                 start: int) -> None:
        self.bt, self.engine, self.clock, self.bulk = bt, engine, clock, bulk
        self.water, self.health = engine.water, engine.health
        self.snapshot = engine.registry()
        if sorted(self.water.meters) != ids:
            raise RuntimeError("the engine's water meters are not the registry's")
        cfg = engine.cfg
        self.ids = ids
        self.index = {d: i for i, d in enumerate(ids)}
        self.state = ms = [self.water.meters[d] for d in ids]
        self.h = np.array([m.household for m in ms], dtype=np.int64)
        self.step = np.array([self.water.step.get(d, DEFAULT_STEP_L) for d in ids], dtype=np.float64)
        self.interval = np.array([self.water.interval.get(d, cfg.default_interval_s * 1000) for d in ids],
                                 dtype=np.int64)
        self.hidx = np.array([self.health.index[d] for d in ids], dtype=np.int64)
        places: dict[str, int] = {}
        self.key = np.array([places.setdefault(m.place, len(places)) for m in ms], dtype=np.int64)
        self._mark = np.zeros(max(len(places), 1), dtype=np.int64)  # _rows: a household's position in a run
        self._slow = np.zeros(0, dtype=np.int64)
        self.flow_limit = cfg.flow_continuous_h * 3_600_000
        n = len(ids)
        self.base = np.full(n, np.nan)
        self.last_total = np.full(n, np.nan)
        self.last_ts = np.zeros(n, dtype=np.int64)
        self.flow_since = np.full(n, NONE_MS, dtype=np.int64)
        self.flow_alerted = np.zeros(n, dtype=bool)
        for i in range(n):
            self._from_state(i)
        # the timers' use tracker (scoring.UseTracker) on the monitored meters, same dating
        self.tr_base = np.full(n, np.nan)
        self.tr_last = np.full(n, NONE_MS, dtype=np.int64)
        self.tr_last_use = np.full(len(self.water.codes), start, dtype=np.int64)
        self.tr_uses: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # households, dated, seen
        self.messages = 0

    # --- a meter's state, handed to the engine and back ------------------------------

    def _to_state(self, i: int) -> None:
        m = self.state[i]
        m.base_total = None if np.isnan(self.base[i]) else float(self.base[i])
        m.last_total = None if np.isnan(self.last_total[i]) else float(self.last_total[i])
        m.last_ts = int(self.last_ts[i])
        m.flow_since = None if self.flow_since[i] == NONE_MS else int(self.flow_since[i])
        m.flow_alerted = bool(self.flow_alerted[i])

    def _from_state(self, i: int) -> None:
        m = self.state[i]
        self.base[i] = np.nan if m.base_total is None else m.base_total
        self.last_total[i] = np.nan if m.last_total is None else m.last_total
        self.last_ts[i] = m.last_ts
        self.flow_since[i] = NONE_MS if m.flow_since is None else m.flow_since
        self.flow_alerted[i] = m.flow_alerted

    def finish(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """Hand every meter's state back to the engine; the tracker's uses per monitored household, and when each
        was seen (scoring.UseTracker.uses, .seen)."""
        for i in range(len(self.ids)):
            self._to_state(i)
        codes = self.water.codes
        uses: dict[str, list[int]] = {c: [int(self.bt.start)] for c in codes}
        seen: dict[str, list[int]] = {c: [int(self.bt.start)] for c in codes}
        if self.tr_uses:
            hh = np.concatenate([u[0] for u in self.tr_uses])
            at = np.concatenate([u[1] for u in self.tr_uses])
            ts = np.concatenate([u[2] for u in self.tr_uses])
            order = np.argsort(hh, kind="stable")  # within a household, appended in time order
            hh, at, ts = hh[order], at[order], ts[order]
            cuts = np.flatnonzero(np.diff(hh)) + 1
            for part_h, part_at, part_ts in zip(np.split(hh, cuts), np.split(at, cuts), np.split(ts, cuts),
                                                strict=True):
                if len(part_h):
                    uses[codes[int(part_h[0])]] += part_at.tolist()
                    seen[codes[int(part_h[0])]] += part_ts.tolist()
        return uses, seen

    # --- the stream ------------------------------------------------------------------

    def chunk(self, ch: Chunk, next_tick: int) -> int:
        """Every row of a chunk, with the ticks due between them; returns the next tick."""
        n = len(ch)
        if n == 0:
            return next_tick
        t = np.maximum.accumulate(np.maximum(ch.t, self.clock.now_ms()))
        self._slow = np.array(sorted(ch.slow), dtype=np.int64)  # the chunk's slow rows, for _rows to slice
        tick_ms = self.bt.tick_ms
        i = 0
        while i < n:
            while next_tick <= t[i]:
                self.tick(next_tick)
                next_tick += tick_ms
            j = int(np.searchsorted(t, next_tick, side="left"))
            self._rows(ch, t, i, j)
            i = j
        return next_tick

    def tick(self, at: int) -> None:
        self.clock.set(at)
        self.bt._record(self.engine.tick())
        if self.engine.registry() is not self.snapshot:
            raise RegistryChanged("the registry changed during a backtest; the fast path cannot follow it")

    def _rows(self, ch: Chunk, t: np.ndarray, a: int, b: int) -> None:
        """Rows a..b (no tick between them), cut into runs in which no household appears twice."""
        sl = self._slow
        slow = sl[np.searchsorted(sl, a):np.searchsorted(sl, b)].tolist() if len(sl) else []
        keyed = self._keys(ch, a, b, slow)
        k = keyed[keyed >= 0]
        # no household twice: each key's last position written, then read back at every position
        mark = self._mark
        at = np.arange(len(k))
        mark[k] = at
        if (mark[k] == at).all():
            self._run(ch, t, a, b, slow)
            return
        seen: set[int] = set()
        start = a
        for p, k in enumerate(keyed.tolist(), a):
            if k >= 0:
                if k in seen:
                    self._run(ch, t, start, p, [s for s in slow if start <= s < p])
                    start, seen = p, set()
                seen.add(k)
        self._run(ch, t, start, b, [s for s in slow if start <= s < b])

    def _keys(self, ch: Chunk, a: int, b: int, slow: list[int]) -> np.ndarray:
        """The household key of every row that steps a meter (-1 for rows that do not)."""
        meter = ch.meter[a:b]
        keyed = np.where(meter >= 0, self.key[np.maximum(meter, 0)] if len(self.key) else -1, -1)
        for p in slow:
            i = self._meter_of(ch.slow[p])
            if i is not None:
                keyed[p - a] = self.key[i]
        return keyed

    def _meter_of(self, it: Item | LineError) -> int | None:
        if isinstance(it, Item) and isinstance(it.msg, Message) and it.msg.kind is Kind.WATER_METER and \
                it.msg.channel is Channel.READING:
            return self.index.get(it.msg.device)
        return None

    def _run(self, ch: Chunk, t: np.ndarray, a: int, b: int, slow: list[int]) -> None:
        """A run of rows: the plain readings at once, then the rest one by one in file order."""
        if a >= b:
            return
        fast = np.flatnonzero(ch.meter[a:b] >= 0) + a
        to_engine = self._readings(ch, t, fast) if len(fast) else fast
        order = sorted([*slow, *to_engine.tolist()])
        for p in order:
            it = ch.slow.get(p) if p in ch.slow else self.bulk.item(ch, p)
            if isinstance(it, LineError):
                if p not in ch.slow:  # the bulk decode took a line the per-line decode refuses: a bug here
                    raise RuntimeError(f"line {it.line}: the bulk and the per-line decode disagree: {it.reason}")
                continue
            self._item(it, int(t[p]))
        self.clock.set(int(t[b - 1]))
        self.water._now = max(self.water._now, int(t[b - 1]))

    def _item(self, it: Item, at: int) -> None:
        """One message as backtest.py's loop handles it; a meter's state is handed over and back."""
        bt, clock = self.bt, self.clock
        clock.set(at)
        msg = it.msg
        i = None
        if isinstance(msg, Message):
            dev = self.snapshot.devices.get(msg.device)
            if dev is None:
                bt.errors.append(LineError(it.line, f"unknown device {msg.device!r} (not in the registry); skipped"))
                return
            if dev.kind != msg.kind.value:
                bt.errors.append(LineError(it.line, f"device {msg.device!r} is a {dev.kind} in the registry, the "
                                                    f"message says {msg.kind.value}; skipped"))
                return
            if dev.gateway and dev.gateway != msg.gateway:
                bt.errors.append(foreign_error(it.line, msg, dev.gateway))
                return
            if msg.kind is Kind.WATER_METER and msg.channel is Channel.READING:
                i = self.index.get(msg.device)
                if i is not None:
                    self._track(np.array([i]), np.array([msg.ts], dtype=np.int64),
                                np.array([float(msg.data["total_l"])]))
                    self._to_state(i)
        self.messages += 1
        bt._record(self.engine.handle(msg))
        if i is not None:
            self._from_state(i)

    def _readings(self, ch: Chunk, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Readings of distinct households' meters, stepped as WaterRule.reading steps them; returns the rows
        that must go through the engine itself (their effect is an action)."""
        water, health = self.water, self.health
        mi = ch.meter[rows]
        ts, total, flow, leak, now = ch.ts[rows], ch.total[rows], ch.flow[rows], ch.leak[rows], t[rows]
        last_total, last_ts, base = self.last_total[mi], self.last_ts[mi], self.base[mi]
        has_last = ~np.isnan(last_total)
        late = has_last & (ts <= last_ts)  # late or repeated: the register has moved on
        reset = np.isnan(base) | (total < base)  # first reading, or meter replaced/reset
        with np.errstate(invalid="ignore"):
            used = ~reset & (total - base >= self.step[mi])
        close = has_last & (ts - last_ts <= 2 * self.interval[mi])
        used_at = np.where(close, last_ts, ts)
        h = self.h[mi]
        hh = np.maximum(h, 0)
        if len(water.last_use):
            lu, al = water.last_use[hh], water.alerted[hh]
        else:
            lu = al = np.zeros(len(rows), dtype=np.int64)
        bump = used & (h >= 0) & (used_at > lu)
        clear_inactivity = bump & (al == lu)
        advancing = has_last & (total > last_total) & close
        flowing = (advancing & (np.isnan(flow) | (flow > 0))) | leak
        fs = self.flow_since[mi]
        since = np.where(fs == NONE_MS, np.where(advancing, last_ts, ts), fs)
        fa = self.flow_alerted[mi]
        raise_flow = flowing & ~fa & (ts - since >= self.flow_limit)
        clear_flow = ~flowing & fa
        silent = health.silent[self.hidx[mi]]
        engine = (~late & (clear_inactivity | raise_flow | clear_flow)) | silent
        ok = ~engine
        if ok.all():
            self.messages += len(rows)
        else:
            self.messages += int(ok.sum())
        # the health rule hears the device (HealthRule.seen)
        hi = self.hidx[mi[ok]]
        health.last_seen[hi] = np.maximum(health.last_seen[hi], now[ok])
        self._track(mi[ok], ts[ok], total[ok])
        w = ok & ~late
        mw = mi[w]
        self.base[mw] = np.where((reset | used)[w], total[w], base[w])
        up = np.flatnonzero(bump & w)
        # uses: the rule's own household bookkeeping (last use, what it learns) in one step, no action
        if len(up) and water.uses(h[up], used_at[up], ts[up]):
            raise RuntimeError("a use cleared an alert the fast path did not foresee")
        self.flow_since[mw] = np.where(flowing[w], since[w], NONE_MS)
        self.flow_alerted[mw] = flowing[w] & fa[w]
        self.last_total[mw] = total[w]
        self.last_ts[mw] = ts[w]
        return rows[engine]

    def _track(self, mi: np.ndarray, ts: np.ndarray, total: np.ndarray) -> None:
        """scoring.UseTracker.reading for readings of distinct monitored households' meters."""
        mon = self.h[mi] >= 0
        if not mon.all():
            mi, ts, total = mi[mon], ts[mon], total[mon]
        if not len(mi):
            return
        prev = self.tr_last[mi]
        has = prev != NONE_MS
        late = has & (ts <= prev)
        base = self.tr_base[mi]
        reset = np.isnan(base) | (total < base)
        with np.errstate(invalid="ignore"):
            used = ~late & ~reset & (total - base >= self.step[mi])
        at = np.where(has & (ts - prev <= 2 * self.interval[mi]), prev, ts)
        hh = self.h[mi]
        add = used & (at > self.tr_last_use[hh])
        if add.any():
            self.tr_last_use[hh[add]] = at[add]
            self.tr_uses.append((hh[add], at[add], ts[add]))
        self.tr_base[mi] = np.where(~late & (reset | used), total, base)
        self.tr_last[mi] = np.where(late, prev, ts)
