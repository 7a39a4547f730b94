"""The broker section of the config (`[broker]`): listeners, TLS, limits, the service secret."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from ground.section import Section

#: client ids of services hold an underscore, which a gateway id (the forced client id of every gateway) never has
SERVICE_CLIENT_ID = r"^svc_[a-z0-9_-]{1,60}$"


class NatsNode(Section):
    """One node of a launched NATS cluster (`broker.kind = "nats"`)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")
    host: str = "127.0.0.1"
    client_port: int = Field(ge=1, le=65535, description="NATS clients (ingest's native consumer)")
    mqtt_port: int = Field(ge=1, le=65535, description="MQTT 3.1.1: gateways and the MQTT services")
    route_port: int = Field(ge=1, le=65535, description="cluster routes between the nodes")
    monitor_port: int = Field(ge=1, le=65535, description="HTTP monitoring (/healthz)")

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.mqtt_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://{'127.0.0.1' if self.host in ('0.0.0.0', '::') else self.host}:{self.client_port}"


def _loopback_nodes() -> list[NatsNode]:
    return [NatsNode(name=f"n{i + 1}", client_port=18840 + 10 * i, mqtt_port=18841 + 10 * i,
                     route_port=18842 + 10 * i, monitor_port=18843 + 10 * i) for i in range(3)]


class BrokerConfig(Section):
    """MQTT broker: launched by shouwang (url empty) or external."""

    kind: Literal["mosquitto", "nats"] = Field("mosquitto", description="mosquitto (one broker, MQTT v5; the "
                                               "default) or nats (a NATS JetStream cluster, MQTT 3.1.1; "
                                               "docs/cluster.md)")
    urls: list[str] = Field(default_factory=list, description="several broker addresses (mqtt://host:port) that "
                                                              "gateways and MQTT services fail over between; "
                                                              "empty = `url`, or the launched broker's")
    nats_urls: list[str] = Field(default_factory=list, description="kind = nats: NATS client addresses "
                                                                   "(nats://host:port) of the cluster for ingest's "
                                                                   "native consumer; empty = the launched nodes'")
    nats_nodes: list[NatsNode] = Field(default_factory=_loopback_nodes,
                                       description="kind = nats: the nodes `shouwang broker config` writes configs "
                                                   "for (three on loopback by default)")
    nats_server: str = Field("nats-server", description="kind = nats: the server binary (Debian's nats-server, "
                                                        "or a path)")
    nats_max_file_store_mib: int = Field(10240, ge=64, description="JetStream disk budget per node")
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

    @field_validator("urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        for u in v:
            cls._url(u)
        return v

    @field_validator("nats_urls")
    @classmethod
    def _nats_urls(cls, v: list[str]) -> list[str]:
        for u in v:
            if urlsplit(u).scheme not in ("nats", "tls"):
                raise ValueError("must start with nats:// or tls://")
        return v

    @property
    def mqtt_protocol_v5(self) -> bool:
        """Whether clients speak MQTT v5 (Mosquitto) or 3.1.1 (NATS: no session expiry, reason codes, noLocal)."""
        return self.kind == "mosquitto"

    def gateway_urls(self) -> list[str]:
        """Where gateways connect, in order of preference (they fail over down the list)."""
        if self.urls:
            return list(self.urls)
        if self.url:
            return [self.url]
        if self.kind == "nats":
            return [n.mqtt_url for n in self.nats_nodes]
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return [f"mqtt://{host}:{self.port}"]

    def native_urls(self) -> list[str]:
        """kind = nats: NATS client addresses for the native consumer."""
        return list(self.nats_urls) or [n.nats_url for n in self.nats_nodes]


class BrokerSettings(Protocol):
    """What broker_config needs of the assembled config (shouwang.config.Config has it)."""

    broker: BrokerConfig

    @property
    def state_path(self) -> Path: ...
