"""Ingest on a NATS cluster (`broker.kind = "nats"`): the JetStream durable consumer instead of MQTT.

Every worker pulls from the one durable consumer `ingest` on the stream NATS stores QoS 1 MQTT messages in
(broker_config/jetstream.py), so several workers share the stream and each message goes to one of them; a
message is acknowledged after InfluxDB accepted the batch holding it, exactly as on Mosquitto. A worker that
dies leaves its unacknowledged messages to the others after `ingest.ack_wait_s`.

What differs from Mosquitto: NATS 2.9 carries no MQTT retain flag into the stream, so retained device
messages are not seen as such here and not cleared (docs/cluster.md); dead letters go out on NATS and reach
MQTT subscribers at QoS 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker_config import Account
from broker_config.jetstream import JetStreamConsumer

if TYPE_CHECKING:
    from ingest.service import IngestService


def jetstream_consumer(svc: IngestService) -> JetStreamConsumer:
    """The durable JetStream consumer of an ingest worker: as many unacknowledged messages as MQTT's Receive
    Maximum would allow, redelivered to another worker after ack_wait_s."""
    return JetStreamConsumer(svc.cfg, Account.INGEST, on_message=svc._on_message,
                             max_pending=svc.icfg.receive_maximum, ack_wait_s=svc.icfg.ack_wait_s)
