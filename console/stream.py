"""The live stream of alert changes: a hub that fans out to server-sent-event clients.

Changes reach the hub from the engine through MQTT (sw/alerts/v1/event, followed by
MqttFollower, a broker_config.consumer.Subscriber: a live view, acknowledged on arrival and
resubscribed on every reconnect) and from this API directly; a change published here also comes
back over MQTT and is recognised by its (id, action, at) key so each client sees it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

from alerts.sinks import EVENT_TOPIC
from broker_config import Account
from broker_config.consumer import Delivery, Subscriber
from console.settings import ConsoleSettings

log = logging.getLogger(__name__)
QUEUE_MAX = 1000


class Hub:
    """Fan-out of change payloads to asyncio subscribers, callable from any thread."""

    def __init__(self) -> None:
        self._subs: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._seen: OrderedDict[tuple[Any, Any, Any], None] = OrderedDict()
        self._lock = threading.Lock()
        self.published = 0

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue]:
        sub = (asyncio.get_running_loop(), asyncio.Queue(QUEUE_MAX))
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: tuple[asyncio.AbstractEventLoop, asyncio.Queue]) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, payload: dict[str, Any]) -> bool:
        """Hand a payload to every subscriber; False if it was a repeat."""
        key = (payload.get("id"), payload.get("action"), payload.get("at"))
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > 10_000:
                self._seen.popitem(last=False)
            subs = list(self._subs)
            self.published += 1
        for loop, q in subs:
            try:
                loop.call_soon_threadsafe(_put, q, payload)
            except RuntimeError:  # that client's loop has closed; it unsubscribes on its way out
                pass
        return True


def _put(q: asyncio.Queue, payload: dict[str, Any]) -> None:
    if q.full():  # a client that does not read: drop its oldest, it reloads on reconnect anyway
        q.get_nowait()
    q.put_nowait(payload)


class MqttFollower:
    """Subscribes to the engine's alert events and feeds the hub; also publishes this API's changes."""

    def __init__(self, cfg: ConsoleSettings, hub: Hub) -> None:
        self.hub = hub
        self.subscriber = Subscriber(cfg, Account.API, cfg.api.client_id, EVENT_TOPIC, on_message=self._on_message)

    def _on_message(self, delivery: Delivery) -> None:
        msg = delivery.message
        try:
            payload = json.loads(msg.payload)
        except (ValueError, UnicodeDecodeError):
            log.warning("ignored an undecodable alert event (%d bytes)", len(msg.payload))
            return
        if isinstance(payload, dict) and "id" in payload:
            self.hub.publish(payload)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.subscriber.publish(topic, payload, qos=qos, retain=retain)

    def start(self) -> MqttFollower:
        self.subscriber.start()
        return self

    def stop(self) -> None:
        self.subscriber.stop()
