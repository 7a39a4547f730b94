"""Call buttons and alerts: counts by rule (kind) and severity, time to acknowledge and resolve against targets.

Reads the `alert` measurement the rules engine writes (alerts/sinks.py): tags action, rule,
severity and grid; fields id, state, subject, tta_s (on the 'acknowledged' point), ttr_s
(on 'resolved'). A community's alerts are its grids' plus its stations' and gateways' (those
carry no grid tag).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dashboards import queries as qy
from dashboards.context import SEVERITIES, BuildContext, new_board
from dashboards.panels import GREEN, ORANGE, RED, Q, bars, grid_table, thresholds, transform, ts
from dashboards.scope import Community, safe_uid

KIND = "alerts"


def _against(panel, targets: dict[str, float]):  # noqa: ANN001, ANN202
    """Colour each severity's bar against its own target (green within, orange up to 2x, red beyond)."""
    for sev, minutes in targets.items():
        panel.override_by_name(sev, [DynamicConfigValue(id_val="thresholds", value=thresholds(
            (None, GREEN), (minutes, ORANGE), (2 * minutes, RED)).build())])
    return panel


def build(c: Community, ctx: BuildContext) -> Dashboard:
    ds = ctx.ds
    scope = qy.alert_scope([g.code for g in c.grids], c.alert_subjects)
    gw = qy.any_of("gateway", c.gateways)
    d = new_board(ctx, safe_uid("sw", c.code, KIND), f"Call buttons and alerts · {c.title}", [c.code, KIND],
                  "Alerts raised by the rules engine and how fast staff took them on. Targets: acknowledge before "
                  "the first escalation step; resolve within the configured time-to-resolve.")
    d.with_row(Row("Alerts"))
    d.with_panel(bars(ds, "Alerts opened by rule", [Q(qy.alerts_opened_by(scope, '"rule"'), "$tag_rule")], w=8, h=8))
    d.with_panel(bars(ds, "Alerts opened by severity", [Q(qy.alerts_opened_by(scope, '"severity"'), "$tag_severity")],
                      w=8, h=8))
    d.with_panel(ts(ds, "Alerts opened", [Q(qy.alerts_opened_over_time(scope), "$tag_severity")], w=8, h=8, bars=True,
                    stacked=True, min_interval="1h"))
    ack = {s: m for s, m in ctx.ack_target_min.items() if s in SEVERITIES}
    res = {s: m for s, m in ctx.resolve_target_min.items() if s in SEVERITIES}
    d.with_panel(_against(bars(ds, "Time to acknowledge (mean, minutes)",
                               [Q(qy.mean_time_to("tta_s", "acknowledged", scope), "$tag_severity")],
                               unit="m", w=8, h=8,
                               description="Targets: " + ", ".join(f"{s} {m:g} min" for s, m in ack.items())), ack))
    d.with_panel(_against(bars(ds, "Time to resolve (mean, minutes)",
                               [Q(qy.mean_time_to("ttr_s", "resolved", scope), "$tag_severity")],
                               unit="m", w=8, h=8,
                               description="Targets: " + ", ".join(f"{s} {m:g} min" for s, m in res.items())), res))
    d.with_panel(grid_table(ds, "Response times by severity (minutes)",
                            [Q(qy.time_to("tta_s", "acknowledged", scope)), Q(qy.time_to("ttr_s", "resolved", scope))],
                            w=8, h=8, transformations=[transform("merge")],
                            description="A: time to acknowledge, B: time to resolve (mean, worst, count)."))
    d.with_row(Row("Call buttons"))
    d.with_panel(ts(ds, "Call-button presses and cancels",
                    [Q(qy.button_events(gw, "press"), "presses"), Q(qy.button_events(gw, "cancel"), "cancels")],
                    w=12, h=8, bars=True, min_interval="1h"))
    d.with_panel(grid_table(ds, "Call-button events", [Q(qy.button_log(gw))], w=12, h=8))
    d.with_panel(grid_table(ds, "Alert log (latest changes)", [Q(qy.alert_log(scope))], w=24, h=10))
    return d
