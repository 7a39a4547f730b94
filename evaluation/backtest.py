"""Backtest: traffic the evaluation did not generate, through the project's own engine, with a registry CSV and
optionally labels (`shouwang evaluate --record FILE --registry CSV [--labels CSV]`, docs/evaluation.md).

The registry CSV (registry/csvio.py's import format) is imported into a temporary SQLite store; every row it
refuses is reported and the good rows are kept. The engine (alerts/engine.py, the recording notifier) runs on a
manual clock set to each message's time - the capture time of a record file, the payload's ts otherwise - and
ticked every `tick_s` simulated seconds, as the live service would have seen the traffic. A message from a
device the registry does not know is reported by line and skipped. Beside the engine, plain awake-hours timers
(6, 7, 8, 10 h; sleep 22:00-06:30 not counted: scoring.py) run on the same readings: the frontier to beat.
Without labels the report lists the alerts the rules would have raised (what-if); with labels it scores every
detector: emergencies caught, delay (median, p90), false alarms per household-month.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alerts.engine import Engine
from alerts.lifecycle import AlertChange
from alerts.settings import AlertsConfig
from alerts.types import Rule
from evaluation.bulk import NONE_MS, BulkTraffic
from evaluation.fastpath import FastRun, UnstoredNotifier, sole_writer
from evaluation.labelfile import LabelError, read_labels
from evaluation.scoring import TIMER_HOURS, Alarm, AwakeTimer, Incident, Score, UseTracker, score
from evaluation.traffic import Item, LineError, TrafficFile, TrafficFileError, foreign_error
from ground.clock import ManualClock
from ground.csvfile import decode
from notify.recorder import StoreNotifier
from notify.texts import RULE_TITLES
from registry.csvio import COLUMNS, import_rows
from registry.model import load_snapshot
from storage.sql import Database
from wire.models import Channel, Kind, Message

SHOWN_ERRORS = 20  # in the table; the JSON holds up to JSON_ERRORS of each kind
JSON_ERRORS = 1000
ENGINE = "engine"

WORDS = {
    "zh": {"source": "数据", "lines": "行", "messages": "条消息", "days": "天", "households": "户",
           "monitored": "户纳入无用水监测", "wall": "用时", "errors": "无法使用的行", "registry_errors": "登记表错误行",
           "label_errors": "标注文件错误行", "more": "另有 {n} 条", "alerts": "规则会发出的告警",
           "none": "（无）", "detector": "检测方式", "caught": "发现/紧急事件", "fa": "误报", "fa_hm": "误报/户·月",
           "alarms": "告警", "alarms_hm": "告警/户·月", "absent": "其中离家期间", "median": "延迟中位数",
           "p90": "延迟 p90", "missed": "漏报", "timer": "清醒时长计时 {h} 小时", "engine": "本系统规则",
           "no_labels": "未提供标注：以下为假设分析（不区分误报）"},
    "en": {"source": "traffic", "lines": "lines", "messages": "messages", "days": "days", "households": "households",
           "monitored": "monitored for inactivity", "wall": "took", "errors": "lines not used",
           "registry_errors": "registry rows refused", "label_errors": "label rows refused",
           "more": "and {n} more", "alerts": "alerts the rules would have raised", "none": "(none)",
           "detector": "detector", "caught": "caught/emergencies", "fa": "false", "fa_hm": "FA/hh-month",
           "alarms": "alarms", "alarms_hm": "alarms/hh-month", "absent": "of which away", "median": "delay med",
           "p90": "delay p90", "missed": "missed", "timer": "awake-hours timer {h} h", "engine": "this engine",
           "no_labels": "no labels: a what-if (alarms are not told apart from false alarms)"},
}


@dataclass(frozen=True, slots=True)
class RaisedAlert:
    rule: str
    subject: str
    at: int
    severity: str
    summary: str
    reason: str


@dataclass
class BacktestReport:
    source: str
    format: str
    timezone: str
    lines: int
    messages: int
    start_ms: int
    end_ms: int
    households: int
    monitored: list[str]
    alerts: list[RaisedAlert]
    scores: list[Score]
    labelled: bool
    labels: int
    wall_s: float
    traffic_errors: list[LineError] = field(default_factory=list)
    registry_errors: list[str] = field(default_factory=list)
    label_errors: list[LabelError] = field(default_factory=list)
    checkin: dict[str, Any] | None = None  # the check-in step with answers (populations: evaluation/checkin.py)

    @property
    def days(self) -> float:
        return (self.end_ms - self.start_ms) / 86_400_000

    def detector_name(self, name: str, lang: str) -> str:
        w = WORDS[lang]
        if name == ENGINE:
            return w["engine"]
        return w["timer"].format(h=name.split()[1])

    def table(self, lang: str = "zh") -> str:
        w = WORDS[lang if lang in WORDS else "zh"]
        lang = lang if lang in WORDS else "zh"
        zone = ZoneInfo(self.timezone)
        out = [(f"{w['source']}: {self.source} ({self.format}), {self.lines} {w['lines']}, {self.messages} "
                f"{w['messages']}, {self.days:.2f} {w['days']}, {self.households} {w['households']}, "
                f"{len(self.monitored)} {w['monitored']}; {w['wall']} {self.wall_s:.1f} s")]
        for key, errs in (("errors", self.traffic_errors), ("registry_errors", self.registry_errors),
                          ("label_errors", self.label_errors)):
            if errs:
                out.append(f"{w[key]}: {len(errs)}")
                out += [f"  {e}" for e in errs[:SHOWN_ERRORS]]
                if len(errs) > SHOWN_ERRORS:
                    out.append("  " + w["more"].format(n=len(errs) - SHOWN_ERRORS))
        out += ["", f"{w['alerts']}: {len(self.alerts)}"]
        idx = 0 if lang == "zh" else 1
        for a in self.alerts[:200]:
            title = RULE_TITLES[Rule(a.rule)][idx] if a.rule in Rule._value2member_map_ else a.rule
            why = f" [{a.reason}]" if a.reason else ""
            out.append(f"  {_local(a.at, zone)}  {a.subject:16} {title}{why}")
        if len(self.alerts) > 200:
            out.append("  " + w["more"].format(n=len(self.alerts) - 200))
        if not self.alerts:
            out.append("  " + w["none"])
        if self.monitored:
            out += ["", *score_table(self.scores, lang, self.labelled, name=self.detector_name)]
        return "\n".join(out)

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "format": self.format, "timezone": self.timezone, "lines": self.lines,
                "messages": self.messages, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "days": round(self.days, 4), "households": self.households, "monitored": len(self.monitored),
                "labelled": self.labelled, "labels": self.labels, "wall_s": round(self.wall_s, 2),
                "alerts": [{"rule": a.rule, "subject": a.subject, "at_ms": a.at, "severity": a.severity,
                            "reason": a.reason, "summary": a.summary} for a in self.alerts],
                "detectors": [s.as_json() for s in self.scores],
                "errors": {"traffic": [str(e) for e in self.traffic_errors[:JSON_ERRORS]],
                           "traffic_count": len(self.traffic_errors),
                           "registry": self.registry_errors[:JSON_ERRORS],
                           "registry_count": len(self.registry_errors),
                           "labels": [str(e) for e in self.label_errors[:JSON_ERRORS]],
                           "labels_count": len(self.label_errors)},
                **({"checkin": self.checkin} if self.checkin is not None else {})}


def score_table(scores: list[Score], lang: str, labelled: bool, *, name=None) -> list[str]:
    """The detectors side by side."""
    w = WORDS[lang]
    name = name or (lambda n, _lang: n)
    if not labelled:
        rows = [f"{w['no_labels']}", f"{w['detector']:24} {w['alarms']:>8} {w['alarms_hm']:>14}"]
        rows += [f"{name(s.detector, lang):24} {s.alarms:>8} {s.fa_per_household_month:>14.3f}" for s in scores]
        return rows
    rows = [(f"{w['detector']:24} {w['caught']:>12} {w['fa']:>6} {w['fa_hm']:>11} {w['absent']:>8} "
             f"{w['median']:>10} {w['p90']:>10}")]
    for s in scores:
        rows.append(f"{name(s.detector, lang):24} {f'{s.caught}/{s.emergencies}':>12} {s.false_alarms:>6} "
                    f"{s.fa_per_household_month:>11.3f} {s.in_absence:>8} {duration(s.delay_median_s):>10} "
                    f"{duration(s.delay_p90_s):>10}")
    for s in scores:
        rows += [f"  {name(s.detector, lang)} {w['missed']}: {m}" for m in s.missed[:SHOWN_ERRORS]]
    return rows


def duration(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 7200:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.2f} h"


def _local(ms: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")


def registry_csv(rows: list[dict[str, str]]) -> str:
    """Registry rows (dicts of registry.csvio columns) as CSV text."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class Backtest:
    """One run: a registry, a stream of items, the engine and the timers."""

    def __init__(self, cfg: AlertsConfig, registry_text: str, *, registry_source: str = "<registry>",
                 tick_s: float = 60.0, timer_hours: tuple[float, ...] = TIMER_HOURS, checkin: Any = None) -> None:
        """checkin: answers the engine's check-ins during the run (evaluation/checkin.py CheckinLoop; message by
        message only)."""
        self.cfg = cfg
        self.registry_text, self.registry_source = registry_text, registry_source
        self.tick_ms = int(tick_s * 1000)
        self.zone = ZoneInfo(cfg.timezone)
        self.timers = [AwakeTimer(h, self.zone) for h in timer_hours]
        self.alerts: list[RaisedAlert] = []
        self.errors: list[LineError] = []
        self.checkin = checkin

    def run(self, items: Iterable[Item] | Path, *, labels_text: str | None = None, labels_source: str = "<labels>",
            incidents: list[Incident] | None = None, end_ms: int | None = None, source: str = "",
            traffic_errors: list[LineError] | None = None,
            lines: Any = None) -> BacktestReport:
        wall = time.perf_counter()
        fast = isinstance(items, Path)
        with tempfile.TemporaryDirectory(prefix="sw-backtest-") as tmp, \
                Database("sqlite://" if fast else f"sqlite:///{Path(tmp) / 'backtest.db'}") as db:
            imp = import_rows(db, self.registry_text, self.registry_source)
            registry_errors = [str(e) for e in imp.errors]
            if fast:  # a file: read in bulk, readings as columns (fastpath.py), the store in memory
                report = self._run_fast(db, items, end_ms)
                traffic_errors = [*(traffic_errors or []), *self._bulk.errors]
                lines = self._bulk.file.lines
            else:
                report = self._run(db, items, end_ms)
                if self.checkin is not None:
                    self.checkin.collect(db)
        reg = self._reg
        meters = {d.id: d.place for d in reg.devices.values() if d.kind == "water_meter" and d.place in
                  reg.households}
        monitored = set(self._monitored)
        label_errors: list[LabelError] = []
        if labels_text is not None:
            incidents, label_errors = read_labels(labels_text, self.zone,
                                                  {h: h in monitored for h in reg.households}, meters, labels_source)
        labelled = incidents is not None
        incidents = incidents or []
        start, end = report
        alarms = [Alarm(a.subject, a.at, a.reason) for a in self.alerts if a.rule == Rule.WATER_INACTIVITY.value]
        scores = [score(ENGINE, alarms, incidents, self._monitored, start, end)]
        for timer in self.timers:
            timer_alarms = timer.alarms(self.tracker.uses, end, self.tracker.seen)
            scores.append(score(timer.name, timer_alarms, incidents, self._monitored, start, end))
        errors = sorted([*(traffic_errors or []), *self.errors], key=lambda e: e.line)
        return BacktestReport(source, "messages", self.cfg.timezone, lines() if callable(lines) else (lines or 0),
                              self.messages, start, end, len(reg.households), list(self._monitored), self.alerts,
                              scores, labelled, len(incidents), time.perf_counter() - wall, errors,
                              registry_errors, label_errors)

    def _run(self, db: Database, items: Iterable[Item], end_ms: int | None) -> tuple[int, int]:
        it = iter(items)
        self.messages = 0
        first = next(it, None)
        t0 = _time(first) if first is not None else (end_ms or 0)
        clock = ManualClock(t0 if t0 is not None else 0)
        engine = Engine(self.cfg, db, clock, notifier=StoreNotifier(db, self.cfg.timezone))
        self._start(engine, clock)
        if self.checkin is not None:
            self.checkin.start(engine, clock)
        reg = self._reg
        start = clock.now_ms()
        next_tick = start + self.tick_ms
        if first is not None:
            for item in _chain(first, it):
                t = _time(item)
                t = clock.now_ms() if t is None else max(t, clock.now_ms())
                next_tick = self._until(engine, clock, next_tick, t)
                clock.set(t)
                msg = item.msg
                if isinstance(msg, Message):
                    dev = reg.devices.get(msg.device)
                    if dev is None:
                        self.errors.append(LineError(item.line, f"unknown device {msg.device!r} (not in the "
                                                                f"registry); skipped"))
                        continue
                    if dev.kind != msg.kind.value:
                        self.errors.append(LineError(item.line, f"device {msg.device!r} is a {dev.kind} in the "
                                                                f"registry, the message says {msg.kind.value}; "
                                                                "skipped"))
                        continue
                    if dev.gateway and dev.gateway != msg.gateway:
                        self.errors.append(foreign_error(item.line, msg, dev.gateway))
                        continue
                    if msg.kind is Kind.WATER_METER and msg.channel is Channel.READING:
                        self.tracker.reading(msg.device, msg.ts, float(msg.data["total_l"]))
                self.messages += 1
                self._record(engine.handle(msg))
        end = max(clock.now_ms(), end_ms or 0)
        self._until(engine, clock, next_tick, end)
        return start, end

    def _until(self, engine: Engine, clock: ManualClock, next_tick: int, t: int) -> int:
        """Ticks (and check-in answers, at their own times) up to t, in time order; returns the next tick."""
        while True:
            ans = self.checkin.next_at() if self.checkin is not None else None
            if ans is not None and ans <= t and ans <= next_tick:
                clock.set(max(ans, clock.now_ms()))
                self._record(self.checkin.fire())
            elif next_tick <= t:
                clock.set(next_tick)
                self._record(engine.tick())
                next_tick += self.tick_ms
            else:
                return next_tick

    def _run_fast(self, db: Database, path: Path, end_ms: int | None) -> tuple[int, int]:
        """The same as _run over a file, chunks at a time (evaluation/fastpath.py)."""
        snap = load_snapshot(db)
        ids = sorted(d.id for d in snap.devices.values() if d.kind == "water_meter")
        self._bulk = bulk = BulkTraffic(path, {d: i for i, d in enumerate(ids)},
                                        {d: snap.devices[d].gateway or "" for d in ids})
        self.messages = 0
        run: FastRun | None = None
        next_tick = 0
        for ch in bulk.chunks():
            if run is None:
                first = next((p for p in range(len(ch)) if ch.meter[p] >= 0 or isinstance(ch.slow.get(p), Item)),
                             None)
                if first is None:
                    continue
                t0 = int(ch.t[first])
                clock = ManualClock(t0 if t0 != NONE_MS else 0)
                engine = Engine(self.cfg, db, clock, notifier=UnstoredNotifier(db, self.cfg.timezone))
                sole_writer(engine)
                self._start(engine, clock)
                self.start = clock.now_ms()
                run = FastRun(self, engine, clock, bulk, ids, self.start)
                next_tick = self.start + self.tick_ms
            next_tick = run.chunk(ch, next_tick)
        if run is None:  # no message at all
            clock = ManualClock(end_ms or 0)
            engine = Engine(self.cfg, db, clock, notifier=StoreNotifier(db, self.cfg.timezone))
            self._start(engine, clock)
            return clock.now_ms(), max(clock.now_ms(), end_ms or 0)
        end = max(clock.now_ms(), end_ms or 0)
        while next_tick <= end:
            run.tick(next_tick)
            next_tick += self.tick_ms
        self.messages = run.messages
        self.tracker.uses, self.tracker.seen = run.finish()
        return self.start, end

    def _start(self, engine: Engine, clock: ManualClock) -> None:
        self._reg = reg = engine.registry()
        self._monitored = list(engine.water.codes)
        monitored = set(self._monitored)  # once, not once a device (10,000 households: 1.6 s)
        self.tracker = UseTracker({d.id: (d.place, d.step_l or 1.0, (d.interval_s or self.cfg.default_interval_s)
                                          * 1000) for d in reg.devices.values()
                                   if d.kind == "water_meter" and d.place in monitored})
        for h in self._monitored:
            self.tracker.start(h, clock.now_ms())

    def _record(self, changes: list[AlertChange]) -> None:
        if self.checkin is not None:
            self.checkin.seen(changes)
        for ch in changes:
            if ch.action != "opened":
                continue
            a = ch.alert
            self.alerts.append(RaisedAlert(a.rule.value, a.subject, ch.at, a.severity.value, a.summary,
                                           str(a.details.get("reason", ""))))


def _time(item: Item) -> int | None:
    if item.at_ms is not None:
        return item.at_ms
    return item.msg.ts


def _chain(first: Item, rest: Iterable[Item]) -> Iterable[Item]:
    yield first
    yield from rest


def backtest_file(cfg: AlertsConfig, record: Path, registry: Path, labels: Path | None = None, *,
                  tick_s: float = 60.0) -> BacktestReport:
    """`shouwang evaluate --record FILE --registry CSV [--labels CSV]` (the fast path: fastpath.py)."""
    labels_text = csv_text(labels) if labels is not None else None
    bt = Backtest(cfg, csv_text(registry), registry_source=str(registry), tick_s=tick_s)
    rep = bt.run(Path(record), labels_text=labels_text, labels_source=str(labels), source=str(record))
    rep.format = bt._bulk.file.format
    return _checked(rep, record)


def slow_backtest_file(cfg: AlertsConfig, record: Path, registry: Path, labels: Path | None = None, *,
                       tick_s: float = 60.0, limit: int | None = None) -> BacktestReport:
    """The same, message by message (the reference the fast path is checked against); `limit`: only the
    first messages."""
    traffic = TrafficFile(record)
    labels_text = csv_text(labels) if labels is not None else None
    bt = Backtest(cfg, csv_text(registry), registry_source=str(registry), tick_s=tick_s)
    items = iter(traffic) if limit is None else itertools.islice(traffic, limit)
    rep = bt.run(items, labels_text=labels_text, labels_source=str(labels), source=str(record),
                 traffic_errors=traffic.errors, lines=lambda: traffic.lines)
    rep.format = traffic.format
    return _checked(rep, record)


def _checked(rep: BacktestReport, record: Path) -> BacktestReport:
    if rep.messages == 0:
        first = "; ".join(str(e) for e in rep.traffic_errors[:3])
        raise TrafficFileError(f"{record}: no usable contract message in {rep.lines} line(s)"
                               + (f" ({first})" if first else ""))
    return rep


def csv_text(path: Path) -> str:
    """A CSV file as text: UTF-8 (with or without BOM) or GB18030, as spreadsheets in China save it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrafficFileError(f"{path}: cannot open: {exc.strerror}") from None
    return decode(data, str(path), TrafficFileError)
