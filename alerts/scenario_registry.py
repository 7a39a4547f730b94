"""A simulator scenario's community as a registry CSV (what staff would have entered for that place).

Thresholds the scenario does not state are set as a site would: camera zones watched at
night (22:00-06:00), a rate-of-rise threshold of 0.2 m/h, one grid worker per grid and a
duty officer for the community and the street, family contacts from the scenario's
registry details. Inactivity windows outside 6-8 h are clamped into that range.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from alerts.csvio import COLUMNS

NIGHT_WATCH = "22:00-06:00"
RISE_M_PER_H = 0.2


def _hhmm(ms: int) -> str:
    m = (ms // 60_000) % 1440
    return f"{m // 60:02d}:{m % 60:02d}"


def registry_rows(c: Any) -> list[dict[str, str]]:
    """Rows for alerts.csvio from a firmware_sim Community."""
    rows: list[dict[str, str]] = []

    def add(**kw: Any) -> None:
        rows.append({col: "" if kw.get(col) is None else str(kw[col]) for col in COLUMNS})

    street = f"{c.community.id}-street"
    add(record="street", code=street, name=c.community.street or street)
    add(record="community", code=c.community.id, parent=street, name=c.community.name or c.community.id)
    add(record="contact", code=f"duty-{street}", parent=street, role="street_duty", channels="ntfy://sw-street-duty")
    add(record="contact", code=f"duty-{c.community.id}", parent=c.community.id, role="community_duty",
        channels="ntfy://sw-community-duty")
    for g in c.grids:
        add(record="grid", code=g.id, parent=c.community.id, name=g.name or g.id)
        add(record="contact", code=f"worker-{g.id}", parent=g.id, role="grid_worker", channels=f"ntfy://sw-{g.id}")
    for b in c.buildings:
        add(record="building", code=b.id, parent=b.grid, name=b.name or b.id)
    for h in c.households:
        sleep_end = h.bedtime_ms + int(h.sleep_hours * 3_600_000)
        add(record="household", code=h.id, parent=h.building, name=(h.registry.address if h.registry else "") or h.id,
            flags="solitary_elderly" if h.solitary_elderly else "", sleep=f"{_hhmm(h.bedtime_ms)}-{_hhmm(sleep_end)}",
            window_h=f"{min(8.0, max(6.0, h.inactivity_window_h)):g}")
        if h.meter:
            add(record="device", code=h.meter.id, parent=h.id, gateway=h.gateway, kind="water_meter",
                interval_s=h.meter.interval // 1000, step_l=f"{h.meter.resolution_l:g}")
        if h.button:
            add(record="device", code=h.button.id, parent=h.id, gateway=h.gateway, kind="call_button",
                interval_s=h.button.heartbeat // 1000)
        for i, p in enumerate(h.registry.contacts if h.registry else []):
            add(record="contact", code=f"family-{h.id}-{i + 1}", parent=h.id, role="family", name=p.name,
                channels=f"ntfy://sw-family-{h.id}-{i + 1}")
    for g in c.gauges:
        add(record="station", code=g.id, parent=c.community.id, name=g.name or g.id,
            warning_m=g.warning_level_m, guaranteed_m=g.guaranteed_level_m, rise_m_per_h=RISE_M_PER_H)
        add(record="device", code=g.id, parent=g.id, gateway=g.gateway, kind="river_gauge",
            interval_s=g.interval // 1000)
    grid_of_gateway = {b.gateway: b.grid for b in c.buildings}
    done: set[str] = set()
    for cam in c.cameras:
        grid = cam.grid or grid_of_gateway.get(cam.gateway) or c.grids[0].id
        codes = []
        for z in cam.zones:
            code = f"{grid}.{z}"
            codes.append(code)
            if code in done:
                continue
            done.add(code)
            add(record="zone", code=code, parent=grid, name=z, schedule=NIGHT_WATCH,
                types="line_crossing" if z in cam.lines else "intrusion;person")
        add(record="device", code=cam.id, parent=codes[0], gateway=cam.gateway, kind="camera",
            interval_s=cam.status_interval // 1000)
    return rows


def registry_csv(c: Any) -> str:
    """The same rows as CSV text."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(registry_rows(c))
    return buf.getvalue()
