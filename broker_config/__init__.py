"""Mosquitto configuration generated from the Shouwang config: listeners, TLS, passwords, ACL."""

from broker_config.credentials import add_gateway, ensure_user, gateway_credentials_path
from broker_config.generate import BrokerFiles, broker_endpoint, write_broker_files

__all__ = ["BrokerFiles", "add_gateway", "broker_endpoint", "ensure_user", "gateway_credentials_path",
           "write_broker_files"]
