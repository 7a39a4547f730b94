"""Mosquitto configuration generated from the Shouwang config: listeners, TLS, passwords, ACLs (nats.py: the
same for a NATS JetStream cluster, `broker.kind = "nats"`, and jetstream.py its durable consumer);
the service accounts, the one builder of services' MQTT clients (client.py) and the one way a service
consumes the broker (consumer.py: subscribe on every connect; manual acks by connection epoch)."""

from broker_config.accounts import Account, account_password
from broker_config.client import (
                                  gateway_endpoint,
                                  gateway_endpoints,
                                  service_client,
                                  service_credentials,
                                  service_endpoint,
                                  service_endpoints,
)
from broker_config.credentials import add_gateway, ensure_user, gateway_credentials_path
from broker_config.generate import BrokerFiles, write_broker_files
from broker_config.reload import reload_running_broker

__all__ = ["Account", "BrokerFiles", "account_password", "add_gateway", "ensure_user", "gateway_credentials_path",
           "gateway_endpoint", "gateway_endpoints", "reload_running_broker", "service_client", "service_credentials",
           "service_endpoint", "service_endpoints", "write_broker_files"]
