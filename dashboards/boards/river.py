"""River stations: level against the warning (警戒) and guaranteed (保证) lines, rate of rise, per station."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, Row

from dashboards import queries as qy
from dashboards.context import BuildContext, new_board
from dashboards.panels import GREEN, ORANGE, RED, YELLOW, Q, single, thresholds, ts
from dashboards.scope import Community, Station, safe_uid

KIND = "river"


def build(c: Community, ctx: BuildContext) -> Dashboard | None:
    """One row per station; None when the community has no river station."""
    if not c.stations:
        return None
    d = new_board(ctx, safe_uid("sw", c.code, KIND), f"River stations · {c.title}", [c.code, KIND],
                  "Stage above each station's datum against its registered warning and guaranteed lines "
                  "(registry), and the rate of rise (m/h, 15-minute medians so one spike does not fake a rise).")
    for st in c.stations:
        _station(d, st, ctx)
    return d


def _station(d: Dashboard, st: Station, ctx: BuildContext) -> None:
    ds = ctx.ds
    lines = thresholds((None, GREEN), (st.warning_m, ORANGE), (st.guaranteed_m, RED))
    d.with_row(Row(f"{st.name} ({st.code}) — warning {st.warning_m:g} m, guaranteed {st.guaranteed_m:g} m"))
    d.with_panel(ts(ds, f"Water level · {st.name}", [Q(qy.river_level(st.device), "level")], unit="lengthm", w=16,
                    h=9, lines=lines, min_interval="1m",
                    description=f"Dashed lines: warning level {st.warning_m:g} m (orange), guaranteed level "
                                f"{st.guaranteed_m:g} m (red)."))
    d.with_panel(single(ds, "Level now", [Q(qy.river_last_level(st.device))], unit="lengthm", w=4, h=9,
                        colors=lines, decimals=2))
    d.with_panel(single(ds, "Below the warning line", [Q(qy.river_margin(st.device, st.warning_m))], unit="lengthm",
                        w=4, h=9, decimals=2, colors=thresholds((None, RED), (0, ORANGE), (0.5, GREEN)),
                        description="Metres left before the warning level; negative: above it."))
    rise = thresholds((None, GREEN), (st.rise_m_per_h, ORANGE))
    d.with_panel(ts(ds, f"Rate of rise · {st.name}", [Q(qy.river_rise(st.device), "rise")], unit="suffix: m/h",
                    w=16, h=8, lines=rise,
                    description=f"Dashed line: the station's rate-of-rise threshold {st.rise_m_per_h:g} m/h."))
    d.with_panel(single(ds, "Below the guaranteed line", [Q(qy.river_margin(st.device, st.guaranteed_m))],
                        unit="lengthm", w=4, h=8, decimals=2,
                        colors=thresholds((None, RED), (0, ORANGE), (0.5, YELLOW), (1.0, GREEN))))
    d.with_panel(single(ds, "Rise now", [Q(qy.river_rise(st.device), "rise")], unit="suffix: m/h", w=4, h=8,
                        decimals=2, colors=rise))
