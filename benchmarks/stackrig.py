"""Pieces the benchmarks that run the alerts engine share: the registry of a benchmark community.

`registry_csv` writes the CSV that `shouwang registry import` (registry.csvio.import_rows) reads: one street
and community with its duty contact, 20 grids each with a grid worker and one building, and per household
a call button on the button gateway, a family contact and (for the first `meters`) a water meter on one of
the load gateways (meter i on meter_gateways[i % len]). Device ids: wm-00000..., btn-00000...; households
hh-00000... Used by alerts_latency.py and fault_suite.py.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from registry.csvio import COLUMNS

GRIDS = 20


def registry_csv(households: int, meter_gateways: Sequence[str], button_gateway: str, *,
                 meters: int | None = None, flags: str = "solitary_elderly") -> str:
    """The benchmark community as registry CSV text (see the module docstring)."""
    rows: list[dict[str, str]] = []

    def add(**kw: str) -> None:
        rows.append({c: kw.get(c, "") for c in COLUMNS})

    add(record="street", code="st-b")
    add(record="community", code="cm-b", parent="st-b")
    add(record="contact", code="duty-cm", parent="cm-b", role="community_duty", channels="ntfy://bench-cm")
    for g in range(GRIDS):
        add(record="grid", code=f"gr-{g}", parent="cm-b")
        add(record="contact", code=f"worker-{g}", parent=f"gr-{g}", role="grid_worker", channels=f"ntfy://bench-{g}")
        add(record="building", code=f"bd-{g}", parent=f"gr-{g}")
    meters = households if meters is None else meters
    for i in range(households):
        hh = f"hh-{i:05d}"
        add(record="household", code=hh, parent=f"bd-{i % GRIDS}", flags=flags, window_h="7")
        if i < meters:
            add(record="device", code=f"wm-{i:05d}", parent=hh, gateway=meter_gateways[i % len(meter_gateways)],
                kind="water_meter", interval_s="60", step_l="1")
        add(record="device", code=f"btn-{i:05d}", parent=hh, gateway=button_gateway, kind="call_button",
            interval_s="86400")
        add(record="contact", code=f"fam-{i:05d}", parent=hh, role="family", channels=f"ntfy://bench-fam-{i}")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
