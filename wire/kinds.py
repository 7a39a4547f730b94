"""Device kinds and message channels of contract v1 (the bottom of the wire package: topics and models
both use them)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    WATER_METER = "water_meter"
    CALL_BUTTON = "call_button"
    RIVER_GAUGE = "river_gauge"
    CAMERA = "camera"
    GATEWAY = "gateway"  # an edge agent's own health (status channel only)


class Channel(StrEnum):
    READING = "reading"
    EVENT = "event"
    STATUS = "status"
