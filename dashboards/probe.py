"""Run every panel's queries against InfluxDB the way Grafana would, and report empty or broken panels.

Interpolation follows Grafana's InfluxDB data source for what the boards use:
    $timeFilter              time >= <from>ms and time <= <to>ms
    $__interval              range / max data points, rounded to a step, not below the panel's min interval
    ${v:raw} ${v} $v         the variable's value as is;  ${v:text}  its display text
Custom variables are read from their query ("text : value, ..."), as Grafana does.
Used by `shouwang dashboards check` and by the tests (against a real influxd).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dashboards.build import BuiltDashboard
from ground.errors import InfluxError
from storage.influx import InfluxClient

_VAR = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# Grafana's rounding steps for $__interval
_STEPS_MS = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000, 300_000,
             600_000, 900_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000,
             86_400_000]
MAX_DATA_POINTS = 1000


@dataclass(frozen=True, slots=True)
class Option:
    text: str
    value: str


def parse_custom(query: str) -> list[Option]:
    """Options of a custom variable: comma-separated, each 'text : value' or a bare value."""
    out = []
    for part in re.findall(r"(?:\\,|[^,])+", query):
        part = part.strip().replace("\\,", ",")
        if not part:
            continue
        text, sep, value = part.partition(" : ")
        out.append(Option(text.strip(), value.strip()) if sep else Option(part, part))
    return out


def variable_options(model: Mapping[str, Any]) -> dict[str, list[Option]]:
    """Each template variable's options (custom variables only: the boards use no other kind)."""
    out = {}
    for v in model.get("templating", {}).get("list", []):
        if v.get("type") != "custom":
            raise ValueError(f"variable {v.get('name')!r}: type {v.get('type')!r} is not probed")
        out[v["name"]] = parse_custom(v.get("query", ""))
    return out


def duration_ms(text: str) -> int:
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not a duration like 5m")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def interval(start_ms: int, end_ms: int, min_interval: str | None) -> str:
    """Grafana's $__interval for a range: range / max data points, rounded up to a step, at least min_interval."""
    raw = max(1, (end_ms - start_ms) // MAX_DATA_POINTS)
    step = next((s for s in _STEPS_MS if s >= raw), _STEPS_MS[-1])
    if min_interval:
        step = max(step, duration_ms(min_interval))
    for unit in ("d", "h", "m", "s"):
        if step % _UNIT_MS[unit] == 0:
            return f"{step // _UNIT_MS[unit]}{unit}"
    return f"{step}ms"


def render(query: str, variables: Mapping[str, Option], start_ms: int, end_ms: int, every: str) -> str:
    """The InfluxQL Grafana would send for this query."""
    builtins = {"timeFilter": f"time >= {start_ms}ms and time <= {end_ms}ms", "__interval": every,
                "interval": every, "__from": str(start_ms), "__to": str(end_ms)}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        fmt = m.group(2)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            return m.group(0)  # $tag_... in aliases, or text that is not a variable
        opt = variables[name]
        return opt.text if fmt == "text" else opt.value

    return _VAR.sub(sub, query)


@dataclass(frozen=True, slots=True)
class QueryResult:
    dashboard: str
    panel: str
    ref_id: str
    query: str
    rows: int
    values: int = 0  # non-null cells outside the time column
    shown: int = 0  # table: rows; time series or stat: cells that draw something (not 0, false or empty)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The query ran and returned something a panel shows."""
        return self.error is None and self.shown > 0


def panel_queries(model: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(panel, target) pairs of a dashboard model."""
    for p in model.get("panels", []):
        for inner in [p, *p.get("panels", [])]:
            for t in inner.get("targets", []):
                yield inner, t


def run(influx: InfluxClient, dash: BuiltDashboard, start_ms: int, end_ms: int,
        variables: Mapping[str, Option]) -> list[QueryResult]:
    """Run every query of a dashboard with the given variable values."""
    out = []
    for panel, target in panel_queries(dash.model):
        q = render(target["query"], variables, start_ms, end_ms, interval(start_ms, end_ms, panel.get("interval")))
        title, ref = panel.get("title", ""), target.get("refId", "")
        try:
            series = influx.query(q)
        except InfluxError as exc:
            out.append(QueryResult(dash.uid, title, ref, q, 0, error=str(exc)))
            continue
        rows = values = shown = 0
        table = target.get("resultFormat") == "table"
        for s in series:
            cols = [i for i, c in enumerate(s.get("columns", [])) if c != "time"]
            for row in s.get("values", []):
                rows += 1
                cells = [row[i] for i in cols if row[i] is not None]
                values += len(cells)
                shown += (1 if cells else 0) if table else sum(1 for c in cells if c not in (0, False, ""))
        out.append(QueryResult(dash.uid, title, ref, q, rows, values, shown))
    return out


def defaults(model: Mapping[str, Any]) -> dict[str, Option]:
    """The variables' current values as saved in the dashboard."""
    out = {}
    for v in model.get("templating", {}).get("list", []):
        cur = v.get("current") or {}
        out[v["name"]] = Option(str(cur.get("text", "")), str(cur.get("value", "")))
    return out


def combinations(model: Mapping[str, Any]) -> Iterator[dict[str, Option]]:
    """Every combination of the variables' options (one empty combination without variables)."""
    opts = variable_options(model)
    names = sorted(opts)
    for combo in itertools.product(*(opts[n] for n in names)):
        yield dict(zip(names, combo, strict=True))


def run_any(influx: InfluxClient, dash: BuiltDashboard, start_ms: int, end_ms: int,
            max_combinations: int = 500) -> list[QueryResult]:
    """Like run() with the saved variable values, but a query that comes back empty is tried with the other
    options too: a per-household panel is empty only if it is empty for every household."""
    results = run(influx, dash, start_ms, end_ms, defaults(dash.model))
    missing = {(r.panel, r.ref_id) for r in results if r.error is None and not r.ok}
    if not missing or not dash.model.get("templating", {}).get("list"):
        return results
    found: dict[tuple[str, str], QueryResult] = {}
    for combo in itertools.islice(combinations(dash.model), max_combinations):
        for r in run(influx, dash, start_ms, end_ms, combo):
            key = (r.panel, r.ref_id)
            if key in missing and r.ok:
                found.setdefault(key, r)
        if len(found) == len(missing):
            break
    return [found.get((r.panel, r.ref_id), r) for r in results]
