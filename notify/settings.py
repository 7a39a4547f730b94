"""The notifications' section of the config (`[notify]`: push delivery through Apprise), what they need of the
`[api]` section (where acknowledgement links point, the key that signs them) and of the assembled config."""

from __future__ import annotations

from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from alerts.settings import AlertsSettings
from ground.section import Section


class NotifyConfig(Section):
    """Push delivery of notifications through Apprise (notify/, docs/console.md)."""

    enabled: bool | None = Field(None, description="deliver through each contact's Apprise URLs; false = only "
                                                   "record what would be sent; unset = deliver in prod mode, record "
                                                   "only in dev mode (a laptop never pushes to real bots)")
    max_attempts: int = Field(5, ge=1, le=50, description="tries per channel before a delivery counts as failed")
    retry_base_s: float = Field(2.0, gt=0, description="first retry after this; doubles each time ...")
    retry_max_s: float = Field(300.0, gt=0, description="... up to this")
    timeout_s: float = Field(10.0, gt=0, le=120, description="network timeout of one channel attempt")
    workers: int = Field(4, ge=1, le=64, description="channel sends in parallel (a slow bot never delays others)")
    ack_link_ttl_h: float = Field(24.0, gt=0, le=24 * 14, description="acknowledgement links expire after this")
    digest_max_items: int = Field(30, ge=1, description="at most this many alerts listed in one digest")
    relay: dict[Literal["wecombot", "dingtalk", "feishu"], str] = Field(
        default_factory=dict, description="bot API URL template per scheme for an outbound relay, e.g. "
                                          "http://relay.local/cgi-bin/webhook/send?key={key} for wecombot "
                                          "({token} for dingtalk/feishu)")

    @field_validator("relay")
    @classmethod
    def _relay(cls, v: dict[str, str]) -> dict[str, str]:
        for scheme, url in v.items():
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"{scheme}: must start with http:// or https://")
            if ("{key}" if scheme == "wecombot" else "{token}") not in url:
                raise ValueError(f"{scheme}: must contain {'{key}' if scheme == 'wecombot' else '{token}'}")
        return v


class LinkSettings(Protocol):
    """Where people reach the console, and the key that signs their acknowledgement links (the `[api]` section)."""

    public_url: str
    secret_key: SecretStr

    @property
    def base_url(self) -> str: ...


class NotifySettings(AlertsSettings, Protocol):
    """What notifications need of the assembled config: the alerts' (mode, time zone, store) and their own."""

    notify: NotifyConfig
    api: LinkSettings
