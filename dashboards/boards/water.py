"""Water use: a community overview (no household can be picked out) and a staff dashboard per household.

The staff dashboard has two template variables from the registry:
    grid       custom; text "name (code)", value = the grid's meter ids as a regex alternation
    household  custom; text = household code, value = its meter id
Per-household panels exist only there (water use of a solitary elderly resident is personal).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import CustomVariable, Dashboard, Row
from grafana_foundation_sdk.models.dashboard import VariableOption

from dashboards import queries as qy
from dashboards.context import BuildContext, new_board
from dashboards.panels import GREEN, ORANGE, RED, Q, bars, grid_table, single, thresholds, transform, ts
from dashboards.scope import Community, safe_uid

KIND = "water"
STAFF = "water-staff"


def overview(c: Community, ctx: BuildContext) -> Dashboard | None:
    """Community totals and per-grid totals; None without water meters."""
    if not c.meters:
        return None
    ds = ctx.ds
    scope = qy.any_of("gateway", c.gateways)
    n = len(c.meters)
    d = new_board(ctx, safe_uid("sw", c.code, KIND), f"Water use · {c.title}", [c.code, KIND],
                  "Community water use from the meters' cumulative registers (litres). Totals only: per-household "
                  "use is in the staff dashboard.")
    d.with_panel(ts(ds, "Water used", [Q(qy.water_use_total(scope), "litres")], unit="litre", w=16, h=9, bars=True,
                    min_interval="1h", description="Litres per interval, summed over the community's meters."))
    d.with_panel(single(ds, "Meters reporting (last hour)", [Q(qy.meters_reporting(scope))], w=4, h=9,
                        colors=thresholds((None, RED), (0.9 * n, ORANGE), (n, GREEN)), no_value="0",
                        description=f"Of {n} registered meters."))
    d.with_panel(single(ds, "Meters without use for 12 h", [Q(qy.meters_without_use(scope))], w=4, h=9,
                        colors=thresholds((None, GREEN), (1, ORANGE)), no_value="0",
                        description="Registers that did not move in the last 12 hours: a count, no households named. "
                                    "Inactivity alerts for flagged households are on the alerts dashboard."))
    grids = [g for g in c.grids if g.meters]
    if grids:
        d.with_panel(bars(ds, "Water used per grid", [Q(qy.water_use_in_range(qy.any_of("device", g.meters)), g.name)
                                                      for g in grids], unit="litre", w=12, h=8,
                          description="Litres over the selected range."))
    d.with_panel(ts(ds, "Leak flags raised by meters", [Q(qy.leak_flags(scope), "leak flags")], w=12, h=8, bars=True,
                    min_interval="10m"))
    return d


def _custom(name: str, label: str, options: list[tuple[str, str]]) -> CustomVariable:
    """A custom variable 'text : value, ...' (Grafana's syntax), first option selected."""
    values = ", ".join(f"{text} : {value}" for text, value in options)
    text, value = options[0]
    return (CustomVariable(name).label(label).values(values)
            .current(VariableOption(selected=True, text=text, value=value))
            .options([VariableOption(selected=i == 0, text=t, value=v) for i, (t, v) in enumerate(options)]))


def staff(c: Community, ctx: BuildContext) -> Dashboard | None:
    """Per grid and per household (template variables); None without households with meters."""
    grids = [g for g in c.grids if g.meters]
    if not c.households or not grids:
        return None
    ds = ctx.ds
    d = new_board(ctx, safe_uid("sw", c.code, STAFF), f"Water use by household (staff) · {c.title}",
                  [c.code, KIND, "staff"],
                  "Per-household water use for grid workers. Restrict this dashboard to staff in Grafana "
                  "(dashboard permissions); the community overview shows totals only.")
    d.with_variable(_custom("grid", "Grid", [(f"{g.name} ({g.code})" if g.name != g.code else g.code,
                                              qy.alternation(g.meters)) for g in grids]))
    d.with_variable(_custom("household", "Household", [(h.code, h.meter) for h in c.households]))
    by_meter = {h.meter: h.code for h in c.households}
    d.with_row(Row("Grid ${grid}"))
    d.with_panel(grid_table(ds, "Households in the grid", [Q(qy.grid_households_table())], w=12, h=10,
                            mappings=by_meter,
                            transformations=[transform("organize", excludeByName={"Time": True},
                                                       renameByName={"device": "household (meter)"}),
                                             transform("sortBy", sort=[{"field": "used_l", "desc": False}])],
                            description="Litres used in the range, register and flow now; least use first."))
    d.with_panel(ts(ds, "Grid water used", [Q(qy.water_use_total('"device" =~ /^(${grid:raw})$/'), "litres")],
                    unit="litre", w=12, h=10, bars=True, min_interval="1h"))
    d.with_row(Row("Household ${household:text}"))
    d.with_panel(ts(ds, "Water used", [Q(qy.household_use(), "litres")], unit="litre", w=12, h=8, bars=True,
                    min_interval="30m"))
    d.with_panel(ts(ds, "Meter register", [Q(qy.household_register(), "register")], unit="litre", w=12, h=8,
                    min_interval="5m"))
    d.with_panel(ts(ds, "Flow", [Q(qy.household_flow(), "flow")], unit="suffix: L/min", w=12, h=8,
                    min_interval="5m", lines=thresholds((None, GREEN), (5.0, ORANGE))))
    d.with_panel(grid_table(ds, "Alerts for this household", [Q(qy.household_alerts())], w=12, h=8))
    return d
