"""Devices and gateways: what is offline now, last seen, battery, the gateways' outbox depth.

Gateway presence is `gateway_state` (birth {"online": true}, last will {"online": false});
agent health is `device_status` with kind=gateway (edge_agent: outbox depth, connection,
uptime ...); devices' batteries come from their status messages.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from dashboards import queries as qy
from dashboards.context import BuildContext, new_board
from dashboards.panels import GREEN, ORANGE, RED, Q, grid_table, single, thresholds, transform, ts
from dashboards.scope import Community, safe_uid

KIND = "devices"
ACTIVE = "^(open|acknowledged|dispatched)$"


def build(c: Community, ctx: BuildContext) -> Dashboard:
    ds = ctx.ds
    gw = qy.any_of("gateway", c.gateways)
    low = ctx.battery_low_v
    by_meter = {h.meter: h.code for h in c.households}
    d = new_board(ctx, safe_uid("sw", c.code, KIND), f"Devices and gateways · {c.title}", [c.code, KIND],
                  f"{len(c.gateways)} gateways; devices: " +
                  ", ".join(f"{len(v)} {k}" for k, v in sorted(c.devices.items())) + ".")
    d.with_row(Row("Offline now"))
    d.with_panel(grid_table(ds, "Gateways offline", [Q(qy.offline_gateways(gw))], w=8, h=8,
                            transformations=[transform("organize", renameByName={"Time": "offline since"})],
                            description="Gateways whose latest presence is the last will (online = false)."))
    d.with_panel(grid_table(
        ds, "Offline gateways and silent devices (active alerts)", [Q(qy.offline_list(qy.alert_scope(
            [g.code for g in c.grids], c.gateways)))], w=16, h=8,
        transformations=[
            transform("groupBy", fields={"id": {"aggregations": [], "operation": "groupby"},
                                         "subject": {"aggregations": ["lastNotNull"], "operation": "aggregate"},
                                         "rule": {"aggregations": ["lastNotNull"], "operation": "aggregate"},
                                         "state": {"aggregations": ["lastNotNull"], "operation": "aggregate"},
                                         "Time": {"aggregations": ["first"], "operation": "aggregate"}}),
            transform("filterByValue", type="include", match="any", filters=[
                {"fieldName": "state (lastNotNull)", "config": {"id": "regex", "options": {"value": ACTIVE}}}]),
        ],
        description="The alerts engine decides offline and silent from each device's reporting interval; "
                    "rows are alerts still open, acknowledged or dispatched."))
    d.with_row(Row("Gateways"))
    d.with_panel(grid_table(ds, "Gateway presence", [Q(qy.gateway_presence(gw))], w=8, h=8,
                            transformations=[transform("organize", renameByName={"Time": "since"})]))
    d.with_panel(grid_table(ds, "Gateway health (latest agent report)", [Q(qy.gateway_health(gw))], w=16, h=8))
    d.with_panel(ts(ds, "Outbox depth (messages waiting on the gateway)", [Q(qy.outbox_depth(gw), "$tag_gateway")],
                    w=24, h=8, min_interval="5m",
                    description="Grows while a gateway's uplink is down; the held messages arrive when it returns."))
    d.with_row(Row("Devices"))
    d.with_panel(single(ds, "Lowest battery", [Q(qy.lowest_battery(gw))], unit="volt", w=6, h=10, decimals=2,
                        colors=thresholds((None, RED), (low, ORANGE), (low + 0.2, GREEN)),
                        description=f"Maintenance alert below {low:g} V."))
    d.with_panel(grid_table(ds, "Battery by device", [Q(qy.battery(gw))], w=9, h=10, unit="volt", mappings=by_meter,
                            transformations=[transform("sortBy", sort=[{"field": "battery_v", "desc": False}])]))
    d.with_panel(grid_table(ds, "Last seen", [Q(qy.last_seen(gw))], w=9, h=10, mappings=by_meter,
                            transformations=[
                                transform("merge"),
                                transform("groupBy", fields={
                                    "device": {"aggregations": [], "operation": "groupby"},
                                    "gateway": {"aggregations": [], "operation": "groupby"},
                                    "Time": {"aggregations": ["max"], "operation": "aggregate"}}),
                                transform("sortBy", sort=[{"field": "Time (max)", "desc": False}])],
                            description="Newest message of each device, oldest first."))
    return d
