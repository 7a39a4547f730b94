"""The services' consumer on a real Mosquitto: subscribe on every connect, acks only in the epoch of arrival."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from broker_config import Account
from broker_config.consumer import Consumer, Delivery, Subscriber, log_says_subscribed
from tests.conftest import Services, now_ms, reading
from tests.helpers import wait_for


class Inbox:
    """Deliveries as the network thread hands them over."""

    def __init__(self) -> None:
        self.items: list[Delivery] = []
        self.lock = threading.Lock()

    def __call__(self, d: Delivery) -> None:
        with self.lock:
            self.items.append(d)

    def of(self, device: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.items if f"/{device}/" in d.message.topic]


def kick(sub: Subscriber) -> None:
    """Lose the connection as a network fault would; paho reconnects by itself."""
    sub.client.socket().shutdown(socket.SHUT_RDWR)


def test_an_ack_from_an_earlier_connection_is_not_sent_and_the_message_comes_again(services: Services,
                                                                                     uid: str) -> None:
    inbox = Inbox()

    def consumer_() -> Consumer:
        return Consumer(services.cfg, Account.SIM, f"svc_sim_consumer_{uid}", f"sw/v1/gw-a/c-{uid}/#",
                        on_message=inbox, session_expiry_s=10, reconnect_max_s=0.5)

    consumer = consumer_()
    consumer.start()
    gw = services.gateway("gw-a")
    try:
        assert consumer.ready.wait(10)
        assert consumer.connected and consumer.epoch == 1
        gw.wait_acked([gw.publish(*reading("gw-a", f"c-{uid}", now_ms(), 1))])
        [first] = wait_for(lambda: inbox.of(f"c-{uid}"), what="the first delivery")
        assert first.epoch == 1
        kick(consumer)  # not acknowledged yet: the persistent session keeps it for us
        wait_for(lambda: consumer.epoch == 2 and consumer.connected, what="the reconnection")
        [_, again] = wait_for(lambda: len(d := inbox.of(f"c-{uid}")) == 2 and d, what="the redelivery")
        assert (again.epoch, again.message.payload, again.message.dup) == (2, first.message.payload, True)
        assert consumer.ack([first]) == (0, 1)  # stale: its packet id belongs to the old connection
        assert consumer.ack([again]) == (1, 0)
        consumer.stop()  # what is queued, the ack included, goes out before the DISCONNECT
        consumer = consumer_()  # the same session, as after a restart of the service
        consumer.start()
        assert consumer.ready.wait(10)
        time.sleep(1.0)
        assert len(inbox.of(f"c-{uid}")) == 2, "an acknowledged message is not delivered again"
    finally:
        gw.stop()
        consumer.stop()


def test_a_subscriber_resubscribes_after_a_reconnect(services: Services, uid: str) -> None:
    inbox = Inbox()
    sub = Subscriber(services.cfg, Account.SIM, f"svc_sim_subscriber_{uid}", f"sw/v1/gw-a/s-{uid}/#",
                     on_message=inbox, reconnect_max_s=0.5)
    sub.start()
    gw = services.gateway("gw-a")
    try:
        assert sub.ready.wait(10)
        kick(sub)  # a clean session: the subscription is gone with the connection unless it is made again
        wait_for(lambda: sub.epoch == 2 and sub.connected, what="the reconnection")
        time.sleep(0.3)  # the SUBSCRIBE goes out right after the CONNACK
        gw.wait_acked([gw.publish(*reading("gw-a", f"s-{uid}", now_ms(), 1))])
        [d] = wait_for(lambda: inbox.of(f"s-{uid}"), what="a message after the reconnection")
        assert d.epoch == 2
    finally:
        gw.stop()
        sub.stop()
    assert not sub.connected


def test_readiness_is_read_from_the_log_written_after_the_check_began(tmp_path: Path) -> None:
    log = tmp_path / "svc.log"
    log.write_text("INFO broker_config.consumer: subscribed to sw/v1/#\n")  # an earlier run's line
    ready = log_says_subscribed(log, "sw/v1/#")
    assert not ready()
    with open(log, "a") as fh:
        fh.write("INFO broker_config.consumer: subscribed to sw/alerts/v1/event\n")
    assert not ready()
    with open(log, "a") as fh:
        fh.write("INFO broker_config.consumer: subscribed to sw/v1/#\n")
    assert ready()
    assert not log_says_subscribed(tmp_path / "missing.log", "sw/v1/#")()
