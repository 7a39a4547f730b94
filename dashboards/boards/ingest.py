"""Ingest health, from InfluxDB alone: throughput, rejects, how far behind the newest data is.

Choice: the ingest's own counters (received, written, rejected by code, consumer lag) are
Prometheus metrics on ingest.metrics_port. A Grafana that reads only InfluxDB cannot chart
them, and no Prometheus data source is provisioned here, so this board charts what ingest
leaves in InfluxDB: points stored per measurement (throughput), the `dead_letter`
measurement (rejects by reason code) and the age of the newest point per gateway (falls
behind when ingest or an uplink lags). Scrape /metrics with Prometheus for the exact counters.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dashboards import queries as qy
from dashboards.context import BuildContext, new_board
from dashboards.panels import GREEN, ORANGE, Q, grid_table, single, thresholds, transform, ts

UID = "sw-ingest-health"


def build(ctx: BuildContext) -> Dashboard:
    ds = ctx.ds
    d = new_board(ctx, UID, "Ingest health", ["system", "ingest"], __doc__.split("\n\n")[1].replace("\n", " "))
    d.with_panel(ts(ds, "Points stored by measurement", [Q(qy.points_per_measurement(), "$m")], w=16, h=9,
                    min_interval="1m", stacked=True,
                    description="Points per interval by device time: what ingest wrote, per measurement."))
    d.with_panel(single(ds, "Rejected messages in range", [Q(qy.rejected_share())], w=8, h=9, no_value="0",
                        colors=thresholds((None, GREEN), (1, ORANGE)),
                        description="Dead letters: messages that broke the contract, kept with their reason."))
    d.with_panel(ts(ds, "Rejected messages by reason code", [Q(qy.dead_letters_by_code(), "$tag_code")], w=12, h=8,
                    bars=True, min_interval="10m"))
    d.with_panel(grid_table(ds, "Newest point per gateway", [Q(qy.newest_point_by_gateway())], w=12, h=8,
                            transformations=[
                                transform("merge"),
                                transform("groupBy", fields={
                                    "gateway": {"aggregations": [], "operation": "groupby"},
                                    "Time": {"aggregations": ["max"], "operation": "aggregate"}}),
                                transform("sortBy", sort=[{"field": "Time (max)", "desc": False}])],
                            description="Age of the newest stored point per gateway (lag of ingest and uplinks); "
                                        "ingest's consumer lag itself is the Prometheus metric "
                                        "ingest_consumer_lag_seconds."))
    d.with_panel(grid_table(ds, "Latest rejects", [Q(qy.dead_letter_log())], w=24, h=9))
    return d
