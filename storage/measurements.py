"""InfluxDB measurement names (../shared/DESIGN.md, InfluxDB layout): one per device kind, plus these."""

from __future__ import annotations

from wire.kinds import Kind

DEVICE_STATUS = "device_status"
GATEWAY_STATE = "gateway_state"
DEAD_LETTER = "dead_letter"
ALERT = "alert"
#: where a device's readings, events and status land
DEVICE_MEASUREMENTS = (Kind.WATER_METER.value, Kind.CALL_BUTTON.value, Kind.RIVER_GAUGE.value, Kind.CAMERA.value,
                       DEVICE_STATUS)
