"""An InfluxQL query as a typed grafana-foundation-sdk dataquery.

The SDK ships query types for the core data sources it generates from schemas, but not for
InfluxDB; this module adds one the way the SDK documents for custom query types: a
Dataquery variant (model with to_json/from_json), a builder, and a runtime registration so
that `Dashboard.from_json` decodes InfluxDB targets into this model instead of an untyped bag.

The JSON is what Grafana's InfluxDB data source saves for a raw InfluxQL query:
    {"refId": "A", "datasource": {"type": "influxdb", "uid": ...}, "query": "SELECT ...",
     "rawQuery": true, "resultFormat": "time_series", "alias": "$tag_device"}
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE_TYPE = "influxdb"


class ResultFormat(StrEnum):
    TIME_SERIES = "time_series"
    TABLE = "table"


class InfluxQLQuery(cogvariants.Dataquery):
    """A raw InfluxQL query of Grafana's InfluxDB data source."""

    _KEYS = frozenset({"refId", "hide", "datasource", "query", "rawQuery", "resultFormat", "alias"})

    def __init__(self, query: str = "", ref_id: str | None = None, hide: bool | None = None,
                 datasource: DataSourceRef | None = None, raw_query: bool = True,
                 result_format: ResultFormat = ResultFormat.TIME_SERIES, alias: str | None = None) -> None:
        self.query = query
        self.ref_id = ref_id
        self.hide = hide
        self.datasource = datasource
        self.raw_query = raw_query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {"query": self.query, "rawQuery": self.raw_query,
                                      "resultFormat": str(self.result_format)}
        if self.ref_id is not None:
            payload["refId"] = self.ref_id
        if self.hide is not None:
            payload["hide"] = self.hide
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Decode a target; unknown keys and a wrong result format are errors, not silently dropped."""
        extra = set(data) - cls._KEYS
        if extra:
            raise ValueError(f"InfluxQL target has unknown keys {sorted(extra)}")
        if not isinstance(data.get("query"), str) or not data["query"].strip():
            raise ValueError("InfluxQL target needs a non-empty 'query'")
        ds = data.get("datasource")
        return cls(query=data["query"], ref_id=data.get("refId"), hide=data.get("hide"),
                   datasource=DataSourceRef.from_json(ds) if ds is not None else None,
                   raw_query=data.get("rawQuery", True),
                   result_format=ResultFormat(data.get("resultFormat", ResultFormat.TIME_SERIES)),
                   alias=data.get("alias"))


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder of an InfluxQL target: InfluxQL(query).ref_id("A").table()."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def datasource(self, ref: DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self

    def alias(self, alias: str) -> Self:
        """Series name pattern, e.g. '$tag_device' or '$col'."""
        self._internal.alias = alias
        return self

    def table(self) -> Self:
        """Return rows (result format 'table') instead of time series."""
        self._internal.result_format = ResultFormat.TABLE
        return self

    def hide(self, hide: bool) -> Self:
        self._internal.hide = hide
        return self


def register() -> None:
    """Let the SDK decode InfluxDB targets (and the core panel option types) into typed models."""
    from grafana_foundation_sdk.cog.plugins import register_default_plugins

    register_default_plugins()
    cogruntime.register_dataquery_variant(cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE,
                                                                      from_json_hook=InfluxQLQuery.from_json))
