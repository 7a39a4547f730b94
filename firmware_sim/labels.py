"""Ground-truth labels: what happened to whom and when, for evaluating the alert rules.

One JSON object per line (JSONL), sorted by start_ms (format in docs/simulator.md):
    {"id": "L0003", "what": "fall", "source": "scripted", "household": "hh-0007", "devices": ["wm-0007"],
     "gateway": "demo-gw-1", "start_ms": ..., "end_ms": null, "expected_rule": "water_inactivity",
     "details": {"last_use_ms": ..., "window_h": 7.0, "alert_due_ms": ...}, "scenario": "demo", "seed": 1}
`expected_rule` names the rule that should fire (a Rule value), or null where nothing should
(a test press, an away trip, a sensor spike the rules must filter).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Rule(StrEnum):
    """Rules a label expects (the alerts engine maps these to its own rule names)."""

    WATER_INACTIVITY = "water_inactivity"
    CONTINUOUS_FLOW = "continuous_flow"
    CALL_BUTTON = "call_button"
    BATTERY_LOW = "battery_low"
    DEVICE_SILENT = "device_silent"
    RIVER_WARNING = "river_level_warning"
    RIVER_GUARANTEED = "river_level_guaranteed"
    SENSOR_STUCK = "sensor_stuck"
    CAMERA_INTRUSION = "camera_intrusion"
    CAMERA_TAMPER = "camera_tamper"
    GATEWAY_OFFLINE = "gateway_offline"


class Source(StrEnum):
    SCRIPTED = "scripted"   # an incident in the scenario file
    ROUTINE = "routine"     # drawn by a device model (accidental press, away trip, spike)
    FAULT = "fault"         # injected by the fault layer (gateway outage)


@dataclass(frozen=True, slots=True)
class Label:
    """One ground-truth happening."""

    what: str
    source: Source
    start_ms: int
    expected_rule: Rule | None
    devices: tuple[str, ...] = ()
    household: str | None = None
    gateway: str | None = None
    end_ms: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple:
        return (self.start_ms, self.what, self.devices, self.household or "")


class LabelSink:
    """Collects labels whose start falls in the simulated window [start_ms, end_ms)."""

    def __init__(self, start_ms: int, end_ms: int | None) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._labels: list[Label] = []

    def add(self, label: Label) -> None:
        """Keep the label if it starts inside the window."""
        if label.start_ms >= self.start_ms and (self.end_ms is None or label.start_ms < self.end_ms):
            self._labels.append(label)

    def labels(self) -> list[Label]:
        """All labels so far, in time order."""
        return sorted(self._labels, key=Label.sort_key)


def label_records(labels: Iterable[Label], scenario: str, seed: int) -> list[dict[str, Any]]:
    """Labels as the JSON objects written to the labels file, with ids L0001..."""
    out = []
    for i, lab in enumerate(sorted(labels, key=Label.sort_key), 1):
        out.append({
            "id": f"L{i:04d}", "what": lab.what, "source": str(lab.source), "household": lab.household,
            "devices": list(lab.devices), "gateway": lab.gateway, "start_ms": lab.start_ms, "end_ms": lab.end_ms,
            "expected_rule": None if lab.expected_rule is None else str(lab.expected_rule),
            "details": lab.details, "scenario": scenario, "seed": seed,
        })
    return out


def write_labels(path: Path, labels: Iterable[Label], scenario: str, seed: int) -> int:
    """Write the labels file (JSONL); returns how many labels it holds."""
    records = label_records(labels, scenario, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    tmp.replace(path)
    return len(records)


def read_labels(path: Path) -> list[dict[str, Any]]:
    """Read a labels file back (for evaluation and tests)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
