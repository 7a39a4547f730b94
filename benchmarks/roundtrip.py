"""The bare MQTT round trip the latency benchmarks set beside their figures.

One client publishes as a gateway ("presser"), another subscribes to that gateway's topics with the
service account and notes when each topic first arrives ("echo"): the broker's own share of a latency.
"""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class RoundTrip:
    """A presser publishing as `gateway` and an echo subscriber timing each topic's arrival (perf_counter_ns)."""

    def __init__(self, port: int, service_user: str, service_password: str, gateway: str, password: str) -> None:
        self.echo: dict[str, int] = {}
        self.sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-echo", protocol=mqtt.MQTTv5)
        self.sub.username_pw_set(service_user, service_password)
        self.sub.on_message = lambda c, u, m: self.echo.setdefault(m.topic, time.perf_counter_ns())
        self.sub.connect("127.0.0.1", port)
        self.sub.loop_start()
        self.sub.subscribe(f"sw/v1/{gateway}/#", qos=1)
        self.pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-presser", protocol=mqtt.MQTTv5)
        self.pub.username_pw_set(gateway, password)
        self.pub.connect("127.0.0.1", port)
        self.pub.loop_start()
        time.sleep(0.5)  # both connected and subscribed before the first press

    def publish(self, topic: str, payload: bytes) -> None:
        """One press at QoS 1."""
        self.pub.publish(topic, payload, qos=1)

    def close(self) -> None:
        for client in (self.pub, self.sub):
            client.disconnect()
            client.loop_stop()
