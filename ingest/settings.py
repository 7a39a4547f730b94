"""The ingest section of the config (`[ingest]`)."""

from __future__ import annotations

from typing import Protocol

from pydantic import Field

from broker_config.settings import SERVICE_CLIENT_ID, BrokerSettings
from ground.section import Section
from storage.settings import InfluxConfig


class IngestConfig(Section):
    """MQTT -> InfluxDB ingest worker."""

    client_id: str = Field("svc_ingest", pattern=SERVICE_CLIENT_ID,
                           description="fixed client id: the persistent session (a plain subscription to sw/v1/#) "
                                       "lives under it; one ingest worker per broker")
    reconnect_max_s: float = Field(2.0, gt=0, le=60, description="cap of the reconnect backoff: short, so after a "
                                                                  "broker restart ingest resubscribes at once")
    batch_size: int = Field(5000, ge=1, le=100_000, description="flush when this many points wait")
    flush_interval_ms: int = Field(200, ge=1, description="flush at least this often when points wait")
    receive_maximum: int = Field(20000, ge=1, le=65535,
                                 description="unacknowledged QoS 1 messages the broker may send us")
    retry_max_s: float = Field(30.0, gt=0, description="cap of the InfluxDB retry backoff")
    session_expiry_s: int = Field(7 * 86400, ge=0)
    ack_wait_s: float = Field(60.0, gt=0, description="broker.kind = nats: a message a worker has not acknowledged "
                                                      "in this time goes to another worker")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535, description="Prometheus text endpoint; 0 = off")


class IngestSettings(BrokerSettings, Protocol):
    """What ingest needs of the assembled config."""

    influx: InfluxConfig
    ingest: IngestConfig
