"""Panel helpers over grafana-foundation-sdk builders: one data source, consistent looks.

Every panel gets the InfluxDB data source reference and targets with refIds A, B, ...;
layout is left to the SDK's dashboard builder (panels flow left to right in rows of 24).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphDrawStyle,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

from dashboards.influxql import DATASOURCE_TYPE, InfluxQL

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"


@dataclass(frozen=True, slots=True)
class Q:
    """One query of a panel: InfluxQL, an optional series alias, table format or not."""

    query: str
    alias: str | None = None
    table: bool = False


def ds_ref(uid: str) -> DataSourceRef:
    return DataSourceRef(type_val=DATASOURCE_TYPE, uid=uid)


def _targets(panel, ds: DataSourceRef, queries: Sequence[Q]):  # noqa: ANN001, ANN202
    panel.datasource(ds)
    for i, q in enumerate(queries):
        t = InfluxQL(q.query).ref_id(chr(ord("A") + i)).datasource(ds)
        if q.alias:
            t.alias(q.alias)
        if q.table:
            t.table()
        panel.with_target(t)
    return panel


def thresholds(*steps: tuple[float | None, str]) -> ThresholdsConfig:
    """Absolute thresholds: (None, base colour), (value, colour), ..."""
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps([Threshold(v, c) for v, c in steps])


def ts(ds: DataSourceRef, title: str, queries: Sequence[Q], *, unit: str = "none", w: int = 12, h: int = 8,
       description: str = "", bars: bool = False, stacked: bool = False, lines: ThresholdsConfig | None = None,
       min_interval: str | None = None) -> timeseries.Panel:
    """A time series panel; `lines` draws thresholds as dashed lines (warning levels, targets)."""
    p = (timeseries.Panel().title(title).span(w).height(h).unit(unit)
         .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
                 .show_legend(True)))
    if description:
        p.description(description)
    if bars:
        p.draw_style(GraphDrawStyle.BARS).fill_opacity(80)
    else:
        p.line_width(2).fill_opacity(10)
    if stacked:
        p.stacking(StackingConfig().mode(StackingMode.NORMAL))
    if lines is not None:
        p.thresholds(lines).thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    if min_interval:
        p.interval(min_interval)
    return _targets(p, ds, queries)


def single(ds: DataSourceRef, title: str, queries: Sequence[Q], *, unit: str = "none", w: int = 6, h: int = 5,
           description: str = "", colors: ThresholdsConfig | None = None, no_value: str | None = None,
           decimals: int | None = None) -> stat.Panel:
    """A stat panel showing the last value."""
    p = stat.Panel().title(title).span(w).height(h).unit(unit).reduce_options(
        ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    if description:
        p.description(description)
    if colors is not None:
        p.thresholds(colors)
    if no_value is not None:
        p.no_value(no_value)
    if decimals is not None:
        p.decimals(decimals)
    return _targets(p, ds, queries)


def bars(ds: DataSourceRef, title: str, queries: Sequence[Q], *, unit: str = "none", w: int = 12, h: int = 8,
         description: str = "", colors: ThresholdsConfig | None = None,
         transformations: Sequence[DataTransformerConfig] = ()) -> bargauge.Panel:
    """A horizontal bar gauge: one bar per series (grids, severities ...)."""
    p = (bargauge.Panel().title(title).span(w).height(h).unit(unit).display_mode(BarGaugeDisplayMode.BASIC)
         .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False)))
    if description:
        p.description(description)
    if colors is not None:
        p.thresholds(colors)
    for t in transformations:
        p.with_transformation(t)
    return _targets(p, ds, queries)


def grid_table(ds: DataSourceRef, title: str, queries: Sequence[Q], *, w: int = 12, h: int = 8, description: str = "",
               transformations: Sequence[DataTransformerConfig] = (), mappings: dict[str, str] | None = None,
               unit: str | None = None) -> table.Panel:
    """A table panel; `mappings` shows codes for ids (meter id -> household code)."""
    p = table.Panel().title(title).span(w).height(h).filterable(True).show_header(True)
    if description:
        p.description(description)
    if unit:
        p.unit(unit)
    for t in transformations:
        p.with_transformation(t)
    if mappings:
        p.mappings([ValueMap(options={k: ValueMappingResult(text=v) for k, v in mappings.items()})])
    return _targets(p, ds, [Q(q.query, q.alias, True) for q in queries])


def transform(kind: str, **options: object) -> DataTransformerConfig:
    """A Grafana transformation by id, e.g. transform('merge'), transform('sortBy', sort=[...])."""
    return DataTransformerConfig(id_val=kind, options=options)
