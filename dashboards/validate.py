"""Check a dashboard's JSON against the grafana-foundation-sdk models, and what Grafana needs beyond them.

- decodes with `Dashboard.from_json` (InfluxDB targets into InfluxQLQuery, panel options into
  each panel type's Options class) and re-encodes to exactly the same JSON: no key the models
  do not know, nothing lost;
- every target is a typed InfluxQL query on the Shouwang data source, every panel has one;
- every `$variable` a query uses is defined (or one of Grafana's built-ins);
- uids fit Grafana's 40 characters, panel ids are unique, grid positions fit 24 columns and
  do not overlap.
"""

from __future__ import annotations

import json
import re
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery, panelcfg_config
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel, RowPanel

from dashboards.influxql import DATASOURCE_TYPE, InfluxQLQuery, register
from ground.errors import ShouwangError

_VAR = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
BUILTIN = frozenset({"timeFilter", "__interval", "__interval_ms", "interval", "__from", "__to", "__range",
                     "__range_s", "__range_ms", "__rate_interval", "tag_rule", "tag_severity", "tag_gateway",
                     "tag_code", "tag_device", "m", "measurement", "col"})
_registered = False


class DashboardInvalid(ShouwangError):
    """A built dashboard does not validate against the models (a bug in the builders)."""


def decode(model: dict[str, Any]) -> Dashboard:
    """The dashboard JSON as SDK models (InfluxDB targets typed)."""
    global _registered
    if not _registered:
        register()
        _registered = True
    try:
        return Dashboard.from_json(model)
    except (KeyError, TypeError, ValueError) as exc:
        raise DashboardInvalid(f"dashboard {model.get('uid')!r} does not decode: {exc!r}") from exc


def panels(dash: Dashboard) -> list[Panel]:
    """Every non-row panel, including those inside collapsed rows."""
    out: list[Panel] = []
    for p in dash.panels or []:
        if isinstance(p, RowPanel):
            out += [q for q in p.panels or [] if isinstance(q, Panel)]
        else:
            out.append(p)
    return out


def check(model: dict[str, Any], datasource_uid: str | None = None) -> Dashboard:
    """Validate one dashboard model; raises DashboardInvalid naming the problem."""
    uid = model.get("uid")
    dash = decode(model)
    again = json.loads(json.dumps(dash, cls=JSONEncoder, ensure_ascii=False))
    if again != model:
        raise DashboardInvalid(f"dashboard {uid!r}: JSON does not round-trip through the models: "
                               f"{_first_difference(model, again)}")
    problems = []
    if not uid or len(uid) > 40 or not re.fullmatch(r"[A-Za-z0-9_-]+", uid):
        problems.append(f"uid {uid!r} is not 1-40 of [A-Za-z0-9_-]")
    if not dash.title:
        problems.append("no title")
    defined = {v.name for v in (dash.templating.list_val or [])}
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for p in dash.panels or []:
        if p.id_val is None or p.id_val in ids:
            problems.append(f"panel {p.title!r}: missing or duplicate id {p.id_val}")
        ids.add(p.id_val)
        g = p.grid_pos
        if g is None or g.x + g.w > 24:
            problems.append(f"panel {p.title!r}: grid position outside 24 columns")
            continue
        for x in range(g.x, g.x + g.w):
            for y in range(g.y, g.y + g.h):
                if (x, y) in cells:
                    problems.append(f"panel {p.title!r} overlaps another at ({x}, {y})")
                    break
                cells.add((x, y))
            else:
                continue
            break
    for p in panels(dash):
        problems += _check_panel(p, defined, datasource_uid)
    if problems:
        raise DashboardInvalid(f"dashboard {uid!r}: " + "; ".join(problems[:10]))
    return dash


def _check_panel(p: Panel, defined: set[str], ds_uid: str | None) -> list[str]:
    out = []
    where = f"panel {p.title!r}"
    if not p.targets:
        out.append(f"{where}: no query")
    if p.datasource is None or p.datasource.type_val != DATASOURCE_TYPE:
        out.append(f"{where}: data source is not InfluxDB")
    elif ds_uid is not None and p.datasource.uid != ds_uid:
        out.append(f"{where}: data source {p.datasource.uid!r}, expected {ds_uid!r}")
    cfg = panelcfg_config(p.type_val)
    if cfg is None:
        out.append(f"{where}: unknown panel type {p.type_val!r}")
    elif p.options is not None and isinstance(p.options, dict):
        out.append(f"{where}: options did not decode into the {p.type_val} model")
    for t in p.targets or []:
        if isinstance(t, UnknownDataquery) or not isinstance(t, InfluxQLQuery):
            out.append(f"{where}: target is not a typed InfluxQL query")
            continue
        for m in _VAR.finditer(t.query):
            name = m.group(1) or m.group(2)
            if name not in defined and name not in BUILTIN:
                out.append(f"{where}: query uses undefined variable ${name}")
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                return f"{path}.{k} is not in the models"
            if k not in a:
                return f"{path}.{k} added by the models"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path}: {str(a)[:80]} != {str(b)[:80]}"
