"""The alerts engine on a NATS cluster (`broker.kind = "nats"`): durable JetStream pull consumers, no MQTT session.

On NATS 2.9 an MQTT client id is not bound to a username, so any account that may connect over MQTT (every
gateway's) can connect with the engine's client id and throw its session off, again and again (docs/cluster.md).
The engine therefore reads the gateways' messages as ingest does: from the stream NATS stores every QoS 1 MQTT
message in (`$MQTT_msgs`), through a durable pull consumer of its own per partition, named after the partition's
client id (`svc_alerts`, or `svc_alerts_p{k}of{n}`), and acknowledges each message after the store committed
what it caused. A native NATS connection has no client id to steal; gateways may not use the JetStream API.

Leases are unchanged: only the holder of a partition's lease pulls from that partition's consumer. What the
previous holder had pulled and not acknowledged is redelivered after `ack_wait` (ALERTS_ACK_WAIT_S, the lease's
TTL: a takeover waits that long anyway). A consumer must exist before gateways publish (the stream keeps a
message only while a consumer wants it): every engine, standing by or not, creates the consumers of all
`alerts.partitions` at start (ensure_alerts_consumers), and a cluster's set-up should too.

Every partition's consumer reads every gateway (NATS 2.9 takes one filter subject per consumer): a partition
acknowledges at once what is not its own (alerts/service.py, Part.takes). A gateway the registry does not know is
therefore consumed by its partition from its first message, not only after its presence.

Alert changes are published on NATS (`sw.alerts.v1.event`, `sw.alerts.v1.active.<id>`): MQTT subscribers (the
console's live stream) receive them at QoS 0, and nothing is retained (NATS keeps retained MQTT messages only
for MQTT publishers).
"""

from __future__ import annotations

from collections.abc import Callable

from alerts import partition
from broker_config import Account
from broker_config.consumer import Delivery
from broker_config.jetstream import JetStreamConsumer, ensure_ingest_consumer
from broker_config.nats import INGEST_FILTER
from broker_config.settings import BrokerSettings
from wire.topics import ALL_TOPICS

#: unacknowledged messages a partition's consumer holds (the engine handles them one by one)
ALERTS_MAX_PENDING = 1000
FETCH_BATCH = 200


def durable_names(base: str, n: int) -> tuple[str, ...]:
    """The durable consumers of the engine's partitions (their MQTT client ids on Mosquitto)."""
    return tuple(partition.client_id(base, k, n) for k in range(n))


def ensure_alerts_consumers(cfg: BrokerSettings, base: str, n: int, ack_wait_s: float,
                            timeout_s: float = 60.0) -> None:
    """Create the durable consumers of every partition (idempotent): from now on the stream keeps every gateway's
    message until each partition acknowledged it."""
    ensure_ingest_consumer(cfg, max_pending=ALERTS_MAX_PENDING, ack_wait_s=ack_wait_s, timeout_s=timeout_s,
                           account=Account.ALERTS, durables=durable_names(base, n), filter_subject=INGEST_FILTER)


def alerts_consumer(cfg: BrokerSettings, base: str, k: int, n: int, ack_wait_s: float, *,
                    on_message: Callable[[Delivery], None]) -> JetStreamConsumer:
    """Partition k's pull consumer. Its log line says "subscribed to sw/v1/#" once pulling (the stack's readiness
    check for an alerts child, as on Mosquitto)."""
    return JetStreamConsumer(cfg, Account.ALERTS, on_message=on_message, max_pending=ALERTS_MAX_PENDING,
                             fetch_batch=FETCH_BATCH, ack_wait_s=ack_wait_s,
                             durable=partition.client_id(base, k, n), filter_subject=INGEST_FILTER,
                             subscription=ALL_TOPICS)
