"""The broker section of the config (`[broker]`): listeners, TLS, limits, the service secret."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from ground.section import Section

#: client ids of services hold an underscore, which a gateway id (the forced client id of every gateway) never has
SERVICE_CLIENT_ID = r"^svc_[a-z0-9_-]{1,60}$"


class BrokerConfig(Section):
    """MQTT broker: launched by shouwang (url empty) or external."""

    url: str = Field("", description="external broker, mqtt://host:port or mqtts://host:port; empty = launch mosquitto")
    host: str = Field("127.0.0.1", description="listener address of the launched broker (loopback in development)")
    port: int = Field(18830, ge=1, le=65535, description="plain listener of the launched broker (not 1883, to "
                                                         "stay clear of a system mosquitto)")
    tls: bool = Field(False, description="add a TLS listener (production)")
    tls_host: str = Field("0.0.0.0", description="TLS listener address")
    tls_port: int = Field(8883, ge=1, le=65535)
    ca_file: Path | None = Field(None, description="user-supplied CA certificate; empty = the project's pilot CA")
    cert_file: Path | None = Field(None, description="user-supplied server certificate")
    key_file: Path | None = Field(None, description="user-supplied server key")
    service_url: str = Field("", description="external broker: where the services log in, if not at `url` (e.g. a "
                                             "loopback listener that takes only service accounts)")
    service_host: str = Field("127.0.0.1", description="listener of the launched broker for the services (ingest, "
                                                        "alerts, API, recorder); keep it on loopback: only service "
                                                        "accounts can log in there")
    service_port: int = Field(18831, ge=1, le=65535, description="port of that service listener")
    service_password: SecretStr = Field(SecretStr("dev-service-password"),
                                        description="secret from which each service account's password is derived "
                                                    "(svc_ingest, svc_alerts, svc_api, svc_sim)")
    max_connections: int = Field(10000, ge=-1, description="gateway connections per gateway listener (each gateway "
                                                           "holds one; -1 = unlimited)")
    max_packet_kib: int = Field(64, ge=17, le=1024, description="largest MQTT packet the broker accepts: the contract's "
                                                                 "16 KiB payloads plus room for oversize ones to be "
                                                                 "dead-lettered with a reason; larger packets are "
                                                                 "refused with reason 149 and the client disconnected")
    consumer_outage_s: int = Field(900, ge=1, description="how long a persistent consumer may be down ...")
    peak_msg_rate: int = Field(5000, ge=1, description="... at this message rate without the broker dropping its queue")

    @property
    def max_queued_messages(self) -> int:
        """Per-client queue sized for the stated outage at the stated rate, plus 20 %."""
        return int(self.consumer_outage_s * self.peak_msg_rate * 1.2)

    @field_validator("url", "service_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("mqtt", "mqtts"):
            raise ValueError("must start with mqtt:// or mqtts://")
        return v


class BrokerSettings(Protocol):
    """What broker_config needs of the assembled config (shouwang.config.Config has it)."""

    broker: BrokerConfig

    @property
    def state_path(self) -> Path: ...
