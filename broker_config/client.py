"""The one place a service's MQTT client is built: its account, endpoint, TLS and reconnect policy."""

from __future__ import annotations

from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_config.accounts import Account, account_password
from broker_config.settings import BrokerSettings


def _url_endpoint(url: str) -> tuple[str, int, bool]:
    u = urlsplit(url)
    tls = u.scheme == "mqtts"
    return u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883), tls


def gateway_endpoint(cfg: BrokerSettings) -> tuple[str, int, bool]:
    """(host, port, tls) where gateways connect: the external URL or the launched gateway listener."""
    return gateway_endpoints(cfg)[0]


def gateway_endpoints(cfg: BrokerSettings) -> list[tuple[str, int, bool]]:
    """Every address gateways may connect to, in order of preference (several for a cluster)."""
    if cfg.broker.kind == "nats" or cfg.broker.urls:
        return [_url_endpoint(u) for u in cfg.broker.gateway_urls()]
    return [_gateway_listener(cfg)]


def _gateway_listener(cfg: BrokerSettings) -> tuple[str, int, bool]:
    if cfg.broker.url:
        return _url_endpoint(cfg.broker.url)
    host = cfg.broker.host
    return ("127.0.0.1" if host in ("0.0.0.0", "::") else host), cfg.broker.port, False


def service_endpoint(cfg: BrokerSettings) -> tuple[str, int, bool]:
    """(host, port, tls) where services connect: the external URL or the launched service listener."""
    return service_endpoints(cfg)[0]


def service_endpoints(cfg: BrokerSettings) -> list[tuple[str, int, bool]]:
    """Every address services may connect to, in order; they fail over down the list (a NATS cluster's nodes)."""
    if cfg.broker.kind == "nats" or cfg.broker.urls:
        if cfg.broker.service_url:
            return [_url_endpoint(cfg.broker.service_url)]
        return [_url_endpoint(u) for u in cfg.broker.gateway_urls()]
    return [_service_listener(cfg)]


def _service_listener(cfg: BrokerSettings) -> tuple[str, int, bool]:
    if cfg.broker.url:
        return _url_endpoint(cfg.broker.service_url or cfg.broker.url)
    host = cfg.broker.service_host
    return ("127.0.0.1" if host in ("0.0.0.0", "::") else host), cfg.broker.service_port, False


def service_credentials(cfg: BrokerSettings, account: Account) -> tuple[str, str]:
    """(username, password) of a service account."""
    return str(account), account_password(cfg.broker.service_password.get_secret_value(), account)


def service_client(cfg: BrokerSettings, account: Account, client_id: str, *, manual_ack: bool = False,
                   reconnect_max_s: float = 30.0, persistent: bool = False) -> mqtt.Client:
    """A paho MQTT client logged in as `account`, TLS set when the endpoint needs it (not yet connected).

    MQTT v5 on Mosquitto; 3.1.1 on NATS, where a persistent session is asked for at construction
    (clean_session=False) instead of with clean_start and a session expiry at connect."""
    if cfg.broker.mqtt_protocol_v5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    else:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                        clean_session=not persistent, manual_ack=manual_ack)
    c.username_pw_set(*service_credentials(cfg, account))
    _, _, tls = service_endpoint(cfg)
    if tls:
        ca = cfg.broker.ca_file or (cfg.state_path / "broker" / "tls" / "ca.crt")
        c.tls_set(ca_certs=str(ca))
    c.reconnect_delay_set(min(1.0, reconnect_max_s), reconnect_max_s)
    return c
