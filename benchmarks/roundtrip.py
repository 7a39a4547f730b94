"""The bare MQTT round trip the latency benchmarks set beside their figures.

One client publishes as a gateway ("presser"), another subscribes to that gateway's topics with the
recorder's service account and notes when each topic first arrives ("echo"): the broker's own share of a latency.
"""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker_config import Account, gateway_endpoint, service_client, service_endpoint
from shouwang.config import Config


class RoundTrip:
    """A presser publishing as `gateway` and an echo subscriber timing each topic's arrival (perf_counter_ns)."""

    def __init__(self, cfg: Config, gateway: str, password: str) -> None:
        self.echo: dict[str, int] = {}
        self.sub = service_client(cfg, Account.SIM, "svc_sim_bench_echo")
        self.sub.on_message = lambda c, u, m: self.echo.setdefault(m.topic, time.perf_counter_ns())
        host, port, _ = service_endpoint(cfg)
        self.sub.connect(host, port)
        self.sub.loop_start()
        self.sub.subscribe(f"sw/v1/{gateway}/#", qos=1)
        self.pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-presser", protocol=mqtt.MQTTv5)
        self.pub.username_pw_set(gateway, password)
        self.pub.connect(*gateway_endpoint(cfg)[:2])
        self.pub.loop_start()
        time.sleep(0.5)  # both connected and subscribed before the first press

    def publish(self, topic: str, payload: bytes) -> None:
        """One press at QoS 1."""
        self.pub.publish(topic, payload, qos=1)

    def close(self) -> None:
        for client in (self.pub, self.sub):
            client.disconnect()
            client.loop_stop()
