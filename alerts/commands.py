"""What the `shouwang alerts` subcommands do."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from alerts.settings import AlertsSettings
from storage.sql import Database

if TYPE_CHECKING:
    from alerts.notifier import NotifierFactory
    from alerts.sinks import Sink

log = logging.getLogger(__name__)


def _now_ms() -> int:
    from ground.clock import SystemClock

    return SystemClock().now_ms()


def _fmt_ms(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


# --- alerts ---------------------------------------------------------------------------------


def alerts_run(cfg: AlertsSettings, notifier: NotifierFactory) -> int:
    """Run the rules engine service until SIGTERM/SIGINT, delivering through the notifier the top gives."""
    from alerts.service import AlertsService

    svc = AlertsService(cfg, notifier=notifier)
    signal.signal(signal.SIGTERM, lambda *_: svc.stop())
    signal.signal(signal.SIGINT, lambda *_: svc.stop())
    svc.run()
    return 0


def alerts_list(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    from alerts.store import AlertFilter, AlertStore

    with Database.from_config(cfg) as db:
        rows = AlertStore(db).list(AlertFilter(active=None if args.all else True), limit=args.limit)
    if not rows:
        print("no alerts" if args.all else "no active alerts")
        return 0
    print(f"{'id':>6}  {'opened':19}  {'severity':11}  {'state':12}  {'rule':17}  {'subject':16}  summary")
    for a in rows:
        print(f"{a.id:>6}  {_fmt_ms(a.opened_at):19}  {a.severity.value:11}  {a.state.value:12}  {a.rule.value:17}  "
              f"{a.subject[:16]:16}  {a.summary[:80]}")
    return 0


def alerts_show(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    from alerts.store import AlertStore

    with Database.from_config(cfg) as db:
        store = AlertStore(db)
        a = store.get(args.id)
        events = store.events(a.id)
        deliveries = store.deliveries(a.id)
    print(f"alert {a.id}: {a.severity} {a.rule} on {a.subject} (place {a.place}, grid {a.grid or '-'})")
    print(f"  state {a.state}{' (' + a.outcome.value + ')' if a.outcome else ''}; opened {_fmt_ms(a.opened_at)}; "
          f"merged {a.merged_count}; escalation step {a.escalation_step}")
    print(f"  {a.summary}")
    if a.time_to_acknowledge_s is not None:
        print(f"  time to acknowledge {a.time_to_acknowledge_s:.0f} s")
    if a.time_to_resolve_s is not None:
        print(f"  time to resolve {a.time_to_resolve_s:.0f} s")
    if a.feedback:
        print(f"  feedback: {a.feedback} (rating {a.rating or '-'})")
    print("  audit trail:")
    for e in events:
        print(f"    {_fmt_ms(e['at'])}  {e['action']:13} by {e['actor']} via {e['channel']}  {e['note'][:100]}")
    print(f"  {len(deliveries)} notifications handed over: " +
          ", ".join(f"{d.contact} ({d.role}, {d.event}, {d.status})" for d in deliveries[:20]))
    return 0


def alerts_transition(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    """acknowledge | dispatch | resolve | close an alert as a person, from the command line."""
    from alerts.actions import Actor, AlertActions
    from alerts.store import AlertStore
    from ground.clock import SystemClock

    actor = Actor(args.by, "cli")
    with Database.from_config(cfg) as db, _sinks(cfg) as sinks:
        actions = AlertActions(AlertStore(db), SystemClock(), sinks=sinks)
        if args.action == "ack":
            change = actions.acknowledge(args.id, actor, args.note or "")
        elif args.action == "dispatch":
            change = actions.dispatch(args.id, args.to, actor, args.note or "")
        elif args.action == "resolve":
            change = actions.resolve(args.id, actor, args.note or "")
        else:
            change = actions.close(args.id, actor, args.feedback, args.rating, args.false_alarm)
    print(f"alert {change.alert.id} is now {change.alert.state}")
    return 0


@contextlib.contextmanager
def _sinks(cfg: AlertsSettings) -> Iterator[list[Sink]]:
    """The engine's sinks for the CLI's one change: an InfluxDB point, MQTT events (as the console's account,
    with a client id of its own); waited for on the way out, and only warned about if they cannot be reached:
    the store has the change."""
    from alerts.sinks import InfluxAlertSink, MqttAlertSink
    from storage.influx import InfluxClient

    sinks: list[Sink] = []
    with InfluxClient(cfg.influx) as influx:
        influx_sink = InfluxAlertSink(influx, lambda: True) if cfg.alerts.write_influx else None
        mqtt = _OneShotPublisher(cfg) if cfg.alerts.publish_mqtt else None
        sinks += [s for s in (influx_sink, MqttAlertSink(mqtt.publish) if mqtt else None) if s is not None]
        try:
            yield sinks
        finally:
            if influx_sink is not None:
                if not influx_sink.flush(5):
                    print("warning: InfluxDB did not take the alert point (the store has the change)", file=sys.stderr)
                influx_sink.close()
            if mqtt is not None and not mqtt.close():
                print("warning: the broker did not take the alert event (the store has the change)", file=sys.stderr)


class _OneShotPublisher:
    """Publishes a few messages as the console's service account, connecting on the first, then disconnects."""

    def __init__(self, cfg: AlertsSettings, timeout_s: float = 5.0) -> None:
        self.cfg = cfg
        self.timeout_s = timeout_s
        self.client: Any = None
        self.failed = False
        self.sent: list[Any] = []  # paho MQTTMessageInfo

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self.client is None and not self.failed:
            self.failed = not self._connect()
        if self.client is not None:
            self.sent.append(self.client.publish(topic, payload, qos=qos, retain=retain))

    def _connect(self) -> bool:
        import os
        import threading

        from broker_config import Account, service_client, service_endpoint

        host, port, _ = service_endpoint(self.cfg)
        client = service_client(self.cfg, Account.API, f"svc_api_cli_{os.getpid()}")
        client.connect_timeout = self.timeout_s
        accepted = threading.Event()
        client.on_connect = lambda c, userdata, flags, rc, props: None if rc.is_failure else accepted.set()
        try:
            client.connect(host, port, keepalive=30)
        except OSError as exc:
            log.warning("broker %s:%d unreachable (%s): no MQTT event for this change", host, port, exc)
            return False
        client.loop_start()
        if not accepted.wait(self.timeout_s):
            log.warning("broker %s:%d did not accept the connection: no MQTT event for this change", host, port)
            client.disconnect()
            client.loop_stop()
            return False
        self.client = client
        return True

    def close(self) -> bool:
        """Wait until the broker took every message, disconnect; False if any was not taken."""
        if self.client is None:
            return not self.failed
        ok = True
        for info in self.sent:
            try:
                info.wait_for_publish(self.timeout_s)
            except (RuntimeError, ValueError):
                pass
            ok = ok and info.is_published()
        self.client.disconnect()
        self.client.loop_stop()
        return ok


def alerts_stats(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    from alerts.store import AlertStore

    since = _now_ms() - int(args.days * 86_400_000)
    with Database.from_config(cfg) as db:
        stats = AlertStore(db).stats(since=since)

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    print(f"last {args.days:g} days")
    print(f"{'rule':18} {'alerts':>6} {'acked':>6} {'resolved':>8} {'false':>6} {'TTA med':>8} {'TTA p95':>8} "
          f"{'TTR med':>8} {'TTR p95':>8}   (seconds)")
    for s in stats:
        print(f"{s.rule:18} {s.alerts:>6} {s.acknowledged:>6} {s.resolved:>8} {s.false_alarms:>6} "
              f"{f(s.tta_median_s):>8} {f(s.tta_p95_s):>8} {f(s.ttr_median_s):>8} {f(s.ttr_p95_s):>8}")
    return 0


def add_alert_commands(sub: argparse._SubParsersAction, notifier: Callable[[Any], NotifierFactory]) -> None:
    """Define `shouwang alerts ...`; notifier(config) gives the engine's notifier (the top's, from notify/)."""
    p = sub.add_parser("alerts", help="rules engine service (default); list and handle alerts")
    asub = p.add_subparsers(dest="alerts_command")
    p.set_defaults(func=alerts_dispatch, notifier=notifier)
    asub.add_parser("run", help="run the rules engine (the default)")
    ls = asub.add_parser("list", help="active alerts (--all: every alert)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--limit", type=int, default=50)
    show = asub.add_parser("show", help="one alert with its audit trail and notifications")
    show.add_argument("id", type=int)
    for name, helptext in (("ack", "acknowledge: I have it"), ("dispatch", "send a named person"),
                           ("resolve", "handled on site"), ("close", "close with feedback and a rating")):
        t = asub.add_parser(name, help=helptext)
        t.add_argument("id", type=int)
        t.add_argument("--by", required=True, help="who does it (contact or staff code)")
        t.add_argument("--note", default="")
        if name == "dispatch":
            t.add_argument("--to", required=True, help="contact code of the person sent")
        if name == "close":
            t.add_argument("--feedback", required=True)
            t.add_argument("--rating", type=int, choices=range(1, 6))
            t.add_argument("--false-alarm", action="store_true")
    st = asub.add_parser("stats", help="counts and time-to-acknowledge / time-to-resolve per rule")
    st.add_argument("--days", type=float, default=30)


def alerts_dispatch(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    cmd = args.alerts_command or "run"
    if cmd == "run":
        return alerts_run(cfg, args.notifier(cfg))
    if cmd == "list":
        return alerts_list(cfg, args)
    if cmd == "show":
        return alerts_show(cfg, args)
    if cmd == "stats":
        return alerts_stats(cfg, args)
    args.action = cmd
    return alerts_transition(cfg, args)
