"""Devices and gateways with health, river stations with levels and thresholds, a household's view."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from alerts.store import AlertFilter
from alerts.types import Rule
from console.api_alerts import alert_out, contact_out, reader
from console.context import AppContext
from console.deps import Caller, caller, get_ctx, staff
from console.present import Reader, area, place_name
from console.readings import device_readings, gateway_presence, last_levels, river_levels, water_use
from console.schemas import (
    DeviceList,
    DeviceOut,
    GatewayList,
    GatewayOut,
    HouseholdOut,
    LevelSeries,
    StationList,
    StationOut,
)
from console.scope import UserRole
from ground.errors import InfluxError
from registry.types import Level

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["devices"])
Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
DEVICE_RULES = (Rule.DEVICE_SILENT, Rule.BATTERY_LOW, Rule.RIVER_SENSOR, Rule.CAMERA_TAMPER)


def _open_alerts(ctx: AppContext, c: Caller, rules: tuple[Rule, ...] = ()) -> dict[str, list[int]]:
    """Active alerts in scope, by subject."""
    return ctx.store.active_by_subject(c.scope.alerts, rules)


def _gateway(ctx: AppContext, device: str) -> str:
    """The device's registered gateway: its readings are that gateway's rows only (console/readings.py)."""
    info = ctx.registry.get().devices.get(device)
    return (info.gateway or "") if info is not None else ""


@router.get("/devices", response_model=DeviceList, summary="devices in your area with last seen, battery, health")
def devices(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(staff),
            kind: Annotated[Literal["water_meter", "call_button", "river_gauge", "camera"] | None, Query()] = None,
            health: Annotated[Literal["ok", "silent", "low_battery", "unknown"] | None, Query()] = None,
            limit: Annotated[int, Query(ge=1, le=2000)] = 500,
            offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> DeviceList:
    reg = ctx.registry.get()
    mine = sorted((d for d in reg.devices.values() if c.scope.sees_node(d.place, reg) and (kind is None or
                                                                                         d.kind == kind)),
                  key=lambda d: d.id)
    readings, available = {}, True
    if ctx.influx is not None and mine:
        try:
            readings = device_readings(ctx.influx, {d.id: d.gateway or "" for d in mine})
        except InfluxError as exc:
            log.warning("device readings unavailable: %s", exc)
            available = False
    else:
        available = ctx.influx is not None
    alerts = _open_alerts(ctx, c, DEVICE_RULES)
    now = ctx.now()
    items = []
    for d in mine:
        r = readings.get(d.id)
        interval = (d.interval_s or ctx.cfg.alerts.default_interval_s) * 1000
        if r is None or r.last_seen is None:
            h = "unknown"
        elif now - r.last_seen > interval * ctx.cfg.alerts.silent_factor:
            h = "silent"
        elif r.battery_v is not None and r.battery_v < ctx.cfg.alerts.battery_low_v:
            h = "low_battery"
        else:
            h = "ok"
        if health is not None and h != health:
            continue
        items.append(DeviceOut(id=d.id, kind=d.kind, gateway=d.gateway, place=d.place, location=reg.location(d.place),
                               last_seen=r.last_seen if r else None, battery_v=r.battery_v if r else None,
                               rssi_dbm=r.rssi_dbm if r else None, health=h, open_alerts=alerts.get(d.id, []),
                               place_name=place_name(reg, d.place), area=area(reg, d.place)))
    return DeviceList(items=items[offset:offset + limit], count=len(items), readings_available=available)


@router.get("/gateways", response_model=GatewayList, summary="gateways serving your area, online or not")
def gateways(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(staff)) -> GatewayList:
    reg = ctx.registry.get()
    counts: dict[str, int] = defaultdict(int)
    for d in reg.devices.values():
        if d.gateway and c.scope.sees_node(d.place, reg):
            counts[d.gateway] += 1
    presence, available = {}, ctx.influx is not None
    if ctx.influx is not None and counts:
        try:
            presence = gateway_presence(ctx.influx, counts)
        except InfluxError as exc:
            log.warning("gateway presence unavailable: %s", exc)
            available = False
    alerts = _open_alerts(ctx, c, (Rule.GATEWAY_OFFLINE,))
    items = [GatewayOut(id=gw, devices=n, online=presence[gw][0] if gw in presence else None,
                        since=presence[gw][1] if gw in presence else None, open_alerts=alerts.get(gw, []))
             for gw, n in sorted(counts.items())]
    return GatewayList(items=items, readings_available=available)


def _stations(ctx: AppContext, c: Caller) -> list[tuple[StationOut, str | None]]:
    reg = ctx.registry.get()
    gauges = {d.place: d.id for d in reg.devices.values() if d.kind == "river_gauge"}
    alerts = _open_alerts(ctx, c, (Rule.RIVER_LEVEL, Rule.RIVER_RISE, Rule.RIVER_SENSOR))
    out = []
    for code, st in sorted(reg.stations.items()):
        if not c.scope.sees_node(code, reg):
            continue
        node = reg.nodes[code]
        out.append((StationOut(code=code, name=node.name, location=reg.location(code), device=gauges.get(code),
                               warning_m=st.warning_m, guaranteed_m=st.guaranteed_m, rise_m_per_h=st.rise_m_per_h,
                               level_m=None, level_at=None, open_alerts=alerts.get(code, []), area=area(reg, code)),
                    gauges.get(code)))
    return out


@router.get("/stations", response_model=StationList, summary="river stations: current level and thresholds")
def stations(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(staff)) -> StationList:
    rows = _stations(ctx, c)
    levels, available = {}, ctx.influx is not None
    devs = [d for _, d in rows if d]
    if ctx.influx is not None and devs:
        try:
            levels = last_levels(ctx.influx, {d: _gateway(ctx, d) for d in devs})
        except InfluxError as exc:
            log.warning("river levels unavailable: %s", exc)
            available = False
    items = []
    for st, dev in rows:
        if dev in levels:
            st = st.model_copy(update={"level_at": levels[dev][0], "level_m": levels[dev][1]})
        items.append(st)
    return StationList(items=items, readings_available=available)


@router.get("/stations/{code}/levels", response_model=LevelSeries, summary="a station's levels over the last hours")
def station_levels(code: Code, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(staff),
                   hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24) -> LevelSeries:
    found = [(st, dev) for st, dev in _stations(ctx, c) if st.code == code]
    if not found:
        raise HTTPException(404, f"no river station {code} in your area")
    st, dev = found[0]
    since = ctx.now() - int(hours * 3_600_000)
    points, available = [], ctx.influx is not None
    if ctx.influx is not None and dev:
        try:
            points = river_levels(ctx.influx, dev, since, _gateway(ctx, dev))
        except InfluxError as exc:
            log.warning("river levels unavailable: %s", exc)
            available = False
    if points:
        st = st.model_copy(update={"level_at": points[-1][0], "level_m": points[-1][1]})
    return LevelSeries(station=st, since=since, points=points, readings_available=available)


@router.get("/households/{code}", response_model=HouseholdOut, summary="a household: last water use, open alerts, "
                                                                          "contacts (not for technicians)")
def household(code: Code, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(caller),
              r: Reader = Depends(reader)) -> HouseholdOut:
    if c.user.role is UserRole.TECHNICIAN:  # before the lookup: the answer is the same for any code
        raise HTTPException(403, "a technician sees devices, not the people of a household: GET /api/devices lists "
                                 "a household's devices with their health")
    reg = ctx.registry.get()
    node = reg.nodes.get(code)
    if node is None or node.level is not Level.HOUSEHOLD or not c.scope.sees_node(code, reg):
        raise HTTPException(404, f"no household {code} in your area")
    h = reg.households.get(code)
    meter = next((d.id for d in reg.devices.values() if d.place == code and d.kind == "water_meter"), None)
    use, available = None, ctx.influx is not None
    if ctx.influx is not None and meter:
        try:
            use = water_use(ctx.influx, meter, _gateway(ctx, meter))
        except InfluxError as exc:
            log.warning("water use unavailable: %s", exc)
            available = False
    rows = ctx.store.list(AlertFilter(c.scope.alerts, active=True, place=code), limit=None)
    contacts = [contact_out(x) for x in reg.audience(code, ["family", "grid_worker"])]
    return HouseholdOut(code=code, location=reg.location(code), place_name=place_name(reg, code),
                        resident=h.resident if h else "", resident_phone=h.phone if h else "", area=area(reg, code), flags=sorted(h.flags) if h else [],
                        away_until=h.away_until if h else None, meter=meter,
                        last_reading=use.last_reading if use else None, last_water_use=use.last_use if use else None,
                        total_l=use.total_l if use else None, open_alerts=[alert_out(ctx, a, r) for a in rows],
                        contacts=contacts, readings_available=available)
