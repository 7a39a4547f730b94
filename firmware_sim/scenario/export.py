"""A scenario's community as JSON for the alerts registry: places, households, devices, thresholds.

This is the one place where the registry-only personal details (fictitious names,
addresses, phones) leave the scenario: they go to the registry, never into traffic.
"""

from __future__ import annotations

from typing import Any

from firmware_sim.scenario.community import Community
from firmware_sim.timeparse import MINUTE_MS


def _clock(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms % 3_600_000 // MINUTE_MS:02d}"


def registry_export(c: Community) -> dict[str, Any]:
    """The registry view of a scenario (format in docs/simulator.md)."""
    households = []
    for h in c.households:
        reg = h.registry
        households.append({
            "id": h.id, "building": h.building, "grid": h.grid, "gateway": h.gateway, "profile": str(h.profile),
            "members": h.members, "solitary_elderly": h.solitary_elderly,
            "inactivity_window_h": h.inactivity_window_h, "bedtime": _clock(h.bedtime_ms),
            "sleep_hours": h.sleep_hours,
            "devices": {k: v for k, v in (("water_meter", h.meter and h.meter.id),
                                          ("call_button", h.button and h.button.id)) if v},
            "meter_resolution_l": h.meter.resolution_l if h.meter else None,
            "button_heartbeat_s": h.button.heartbeat // 1000 if h.button else None,
            "registry": reg.model_dump() if reg else None,
        })
    return {
        "scenario": c.meta.name, "seed": c.seed, "timezone": c.meta.timezone,
        "community": c.community.model_dump(),
        "grids": [g.model_dump() for g in c.grids],
        "buildings": [{"id": b.id, "grid": b.grid, "gateway": b.gateway, "name": b.name} for b in c.buildings],
        "households": households,
        "river_gauges": [{"id": g.id, "gateway": g.gateway, "grid": g.grid, "name": g.name,
                          "base_level_m": g.base_level_m, "warning_level_m": g.warning_level_m,
                          "guaranteed_level_m": g.guaranteed_level_m, "mount_height_m": g.mount_height_m,
                          "interval_s": g.interval // 1000} for g in c.gauges],
        "cameras": [{"id": cam.id, "gateway": cam.gateway, "grid": cam.grid, "zones": list(cam.zones),
                     "lines": list(cam.lines)} for cam in c.cameras],
    }
