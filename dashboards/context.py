"""Settings every board needs: data source, response targets, thresholds, look (from the config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType, DataSourceRef

from dashboards.panels import ds_ref
from dashboards.settings import DashboardsSettings

TAG = "shouwang"
SEVERITIES = ("critical", "major", "warning", "maintenance")


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What the boards take from the configuration."""

    datasource_uid: str = "shouwang-influxdb"
    ack_target_min: Mapping[str, float] = field(default_factory=dict)
    resolve_target_min: Mapping[str, float] = field(default_factory=dict)
    battery_low_v: float = 2.5
    refresh: str = "1m"
    time_from: str = "now-24h"

    @property
    def ds(self) -> DataSourceRef:
        return ds_ref(self.datasource_uid)

    @classmethod
    def from_config(cls, cfg: DashboardsSettings) -> BuildContext:
        """Acknowledge targets: each severity's first escalation step (unacknowledged that long, it escalates)."""
        ack = {}
        for sev in SEVERITIES:
            steps = [s.after_min for s in cfg.alerts.escalation.get(sev, []) if s.after_min > 0]
            if steps:
                ack[sev] = min(steps)
        d = cfg.dashboards
        return cls(datasource_uid=d.datasource_uid, ack_target_min=ack, resolve_target_min=dict(d.resolve_target_min),
                   battery_low_v=cfg.alerts.battery_low_v, refresh=d.refresh, time_from=d.time_from)


def new_board(ctx: BuildContext, uid: str, title: str, tags: list[str], description: str) -> Dashboard:
    """A dashboard with Shouwang's common settings: read-only (regenerated), shared crosshair, links."""
    return (Dashboard(title).uid(uid).tags([TAG, *tags]).description(description).readonly()
            .time(ctx.time_from, "now").refresh(ctx.refresh).timezone("browser")
            .tooltip(DashboardCursorSync.CROSSHAIR)
            .link(DashboardLink("Shouwang").type(DashboardLinkType.DASHBOARDS).tags([TAG, *tags[:1]])
                  .as_dropdown(True).include_vars(False).keep_time(True)))
