"""The web API and console section of the config (`[api]`)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from broker_config.settings import SERVICE_CLIENT_ID
from ground.heartbeat import WatchdogConfig
from ground.section import Section
from notify.settings import NotifySettings


class ApiConfig(Section):
    """Web API and staff console (`shouwang api`, docs/console.md)."""

    host: str = Field("127.0.0.1", description="listen address (loopback in development)")
    port: int = Field(18088, ge=1, le=65535, description="HTTP port of the API and console")
    public_url: str = Field("", description="base URL people reach the console at (used in acknowledgement links); "
                                            "empty = http://host:port")
    secret_key: SecretStr = Field(SecretStr("dev-secret-key-change-me"),
                                  description="signs acknowledgement links (HMAC); refused at default in prod mode")
    session_ttl_h: float = Field(12.0, gt=0, le=24 * 30, description="a login lasts this long")
    login_max_failures: int = Field(5, ge=1, description="failed logins per user and address ...")
    login_window_s: int = Field(300, ge=1, description="... within this window before further tries get 429")
    demo_accounts: bool = Field(True, description="`shouwang up` in dev mode creates demo users for the demo "
                                                  "registry (never in prod mode)")
    demo_password: SecretStr = Field(SecretStr("shouwang-demo"), description="password of the demo users")
    follow_mqtt: bool = Field(True, description="follow sw/alerts/v1/event so the live stream carries the engine's "
                                                "changes; off = only changes made through this API")
    client_id: str = Field("svc_api", pattern=SERVICE_CLIENT_ID)

    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024,
                                description="largest request body of the JSON API and the console's forms; a larger "
                                            "one gets 413 before it is read (login and ack links: at most 16 KiB)")
    max_import_bytes: int = Field(8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024,
                                  description="largest body of POST /api/registry/import (a registry CSV in JSON)")
    trusted_proxies: list[str] = Field(default_factory=list,
                                       description="addresses or networks (CIDR) of reverse proxies whose "
                                                   "X-Forwarded-For/-Proto are believed, e.g. [\"127.0.0.1\"] behind "
                                                   "a local nginx; empty = none: the peer address is the client")

    metrics_from: list[str] = Field(default_factory=list,
                                    description="networks (CIDR) besides loopback that may read /metrics (Prometheus)")

    @field_validator("trusted_proxies", "metrics_from")
    @classmethod
    def _trusted_proxies(cls, v: list[str]) -> list[str]:
        import ipaddress

        out = []
        for entry in v:
            try:
                out.append(str(ipaddress.ip_network(entry.strip())))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network such as 10.0.0.0/8 (a wildcard would "
                                 "let every client choose its own address)") from None
        return out

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str) -> str:
        if v and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


class ConsoleSettings(NotifySettings, Protocol):
    """What the web API and console need of the assembled config."""

    api: ApiConfig  # type: ignore[assignment]  (the full section; notifications only need its link settings)
    watchdog: WatchdogConfig  # what counts as a stopped service (the red banner)
    mode: str  # "prod": session cookies are Secure whatever the URL says
