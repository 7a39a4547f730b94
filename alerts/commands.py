"""What the `shouwang alerts` subcommands do.

`shouwang alerts run` is the rules engine service; plain `shouwang alerts` prints help (it used to start an engine,
one typo away from two engines on one store). What a person reads about an alert (the sentence, the words for
states, actions, roles) comes from the renderer the command line hands in (notify.texts, a floor above this one),
in the reader's language: `--lang`, else the locale (LC_ALL, LC_MESSAGES, LANG: zh_* or en_*), else Chinese.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from alerts.settings import AlertsSettings
from storage.sql import Database

if TYPE_CHECKING:
    from alerts.lifecycle import AlertView
    from alerts.notifier import NotifierFactory
    from alerts.sinks import Sink

log = logging.getLogger(__name__)
LANGUAGES = ("zh", "en")


class Texts(Protocol):
    """What the commands need of the renderer of alert texts (notify.texts, handed in by the command line)."""

    def alert_sentence(self, view: AlertView, language: str, names: Callable[[str], str | None] | None = None
                       ) -> str: ...
    def state_label(self, view: AlertView, language: str) -> str: ...
    def word(self, group: str, code: str, language: str) -> str: ...
    def timeline_note(self, event: Mapping[str, Any], language: str) -> str: ...


def cli_language(asked: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The language of the command's output: asked with --lang, else the locale's, else Chinese."""
    if asked in LANGUAGES:
        return asked
    env = os.environ if env is None else env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(var, "")
        if value:
            code = value[:2].lower()
            return code if code in LANGUAGES else "zh"
    return "zh"


def text_width(text: str) -> int:
    """Columns a terminal gives the text (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad_cell(text: str, width: int) -> str:
    """The text cut or padded to `width` terminal columns."""
    out, used = [], 0
    for ch in text:
        w = text_width(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(out) + " " * (width - used)


#: the commands' own words, (zh, en)
_T = {
    "id": ("编号", "id"), "opened": ("开始", "opened"), "severity": ("级别", "severity"), "state": ("状态", "state"),
    "alert": ("告警", "alert"), "place": ("地点", "place"), "what": ("情况", "what"),
    "none": ("没有告警", "no alerts"), "none_active": ("没有进行中的告警", "no active alerts"),
    "grid": ("网格", "grid"), "merged": ("合并", "merged"), "step": ("升级", "escalation step"),
    "tta": ("确认用时", "time to acknowledge"), "ttr": ("处置用时", "time to resolve"),
    "feedback": ("反馈", "feedback"), "rating": ("评分", "rating"), "trail": ("处理记录：", "audit trail:"),
    "by": ("由", "by"), "via": ("经", "via"),
}


def _t(key: str, lang: str) -> str:
    return _T[key][LANGUAGES.index(lang)]


def _seconds(s: float, lang: str) -> str:
    return f"{s:.0f} 秒" if lang == "zh" else f"{s:.0f} s"


def _now_ms() -> int:
    from ground.clock import SystemClock

    return SystemClock().now_ms()


def _fmt_ms(ms: int | None, tz: ZoneInfo | None = None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")


# --- alerts ---------------------------------------------------------------------------------


def alerts_run(cfg: AlertsSettings, notifier: NotifierFactory) -> int:
    """Run the rules engine service until SIGTERM/SIGINT, delivering through the notifier the top gives."""
    from alerts.service import AlertsService

    svc = AlertsService(cfg, notifier=notifier)
    signal.signal(signal.SIGTERM, lambda *_: svc.stop())
    signal.signal(signal.SIGINT, lambda *_: svc.stop())
    svc.run()
    return 0


def _names(reg: Any) -> Callable[[str], str | None]:
    """Registry code -> the name people use (a household's 楼栋/单元/房号, a place's name, a contact's name)."""
    people = {c.code: c.name for cs in reg.contacts.values() for c in cs if c.name}

    def name(code: str) -> str | None:
        if code in reg.nodes:
            return reg.address(code) if reg.address(code) != code else None
        return people.get(code)

    return name


def _place(a: AlertView, name: Callable[[str], str | None], reg: Any) -> str:
    """Where: the place's name with its resident, or the code when the registry names nothing."""
    where = name(a.place) or a.place
    resident = getattr(reg.households.get(a.place), "resident", "")
    return f"{where} {resident}".strip()


def alerts_list(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    from alerts.store import AlertFilter, AlertStore
    from registry.model import load_snapshot

    texts: Texts = args.texts
    lang = cli_language(args.lang)
    tz = ZoneInfo(cfg.alerts.timezone)
    f = AlertFilter(active=None if args.all else True)
    with Database.from_config(cfg) as db:
        store = AlertStore(db)
        rows = store.list(f, limit=args.limit or None)
        total = store.count(f) if rows else 0
        reg = load_snapshot(db)
    if not rows:
        print(_t("none" if args.all else "none_active", lang))
        return 0
    name = _names(reg)
    table = [[_t(k, lang) for k in ("id", "opened", "severity", "state", "place", "what")]]
    table += [[str(a.id), _fmt_ms(a.opened_at, tz)[:16], texts.word("severities", a.severity.value, lang),
               texts.state_label(a, lang), _place(a, name, reg), texts.alert_sentence(a, lang, name)] for a in rows]
    widths = [min(max(text_width(r[i]) for r in table), cap) for i, cap in enumerate((8, 16, 12, 16, 28))]
    for r in table:
        print("  ".join(pad_cell(text, w) for text, w in zip(r, widths, strict=False)) + "  " + r[-1])
    if total > len(rows):
        print(f"（显示最新的 {len(rows)} 条，共 {total} 条；--limit N 显示更多，--limit 0 显示全部）" if lang == "zh" else
              f"(the newest {len(rows)} of {total}; --limit N shows more, --limit 0 all)")
    return 0


def alerts_show(cfg: AlertsSettings, args: argparse.Namespace) -> int:
    from alerts.store import AlertStore
    from registry.model import load_snapshot

    texts: Texts = args.texts
    lang = cli_language(args.lang)
    zh = lang == "zh"
    tz = ZoneInfo(cfg.alerts.timezone)
    with Database.from_config(cfg) as db:
        store = AlertStore(db)
        a = store.get(args.id)
        events = store.events(a.id)
        deliveries = store.deliveries(a.id)
        reg = load_snapshot(db)
    name = _names(reg)
    grid = (name(a.grid) or a.grid) if a.grid else "-"
    title = f"{texts.word('severities', a.severity.value, lang)} {texts.word('rules', a.rule.value, lang)}"
    semi, comma = ("；", "，") if zh else ("; ", ", ")
    print(f"{_t('alert', lang)} {a.id}{'：' if zh else ': '}{title}{'，' if zh else ' — '}"
          f"{texts.alert_sentence(a, lang, name)}")
    print(f"  {_t('place', lang)} {_place(a, name, reg)}{f'（{a.place}）' if zh else f' ({a.place})'}{comma}"
          f"{_t('grid', lang)} {grid}")
    print(f"  {_t('state', lang)} {texts.state_label(a, lang)}{semi}{_t('opened', lang)} {_fmt_ms(a.opened_at, tz)}"
          f"{semi}{_t('merged', lang)} {a.merged_count}{semi}{_t('step', lang)} {a.escalation_step}")
    if a.time_to_acknowledge_s is not None:
        print(f"  {_t('tta', lang)} {_seconds(a.time_to_acknowledge_s, lang)}")
    if a.time_to_resolve_s is not None:
        print(f"  {_t('ttr', lang)} {_seconds(a.time_to_resolve_s, lang)}")
    if a.feedback:
        print(f"  {_t('feedback', lang)}{'：' if zh else ': '}{a.feedback}"
              f"{'（' if zh else ' ('}{_t('rating', lang)} {a.rating or '-'}{'）' if zh else ')'}")
    print(f"  {_t('trail', lang)}")
    actions = [texts.word("actions", e["action"], lang) for e in events]
    width = max(map(text_width, actions), default=0)
    for e, action in zip(events, actions, strict=True):
        person = name(e["actor"])  # a contact by name, with the code they acted under
        if person:
            who = f"{person}（{e['actor']}）" if zh else f"{person} ({e['actor']})"
        else:  # the engine, the resident (in words), or a username
            who = texts.word("actors", e["actor"], lang)
        note = texts.timeline_note(e, lang)
        print(f"    {_fmt_ms(e['at'], tz)}  {pad_cell(action, width)} "
              f"{_t('by', lang)} {who} {_t('via', lang)} {texts.word('channels', e['channel'], lang)}"
              f"{'  ' + note[:100] if note else ''}")
    n = len(deliveries)
    if zh:
        head = f"  已交付通知 {n} 条"
    else:
        head = f"  {n} notification{'' if n == 1 else 's'} handed over"
    shown = [f"{name(d.contact) or d.contact}{'（' if zh else ' ('}{texts.word('roles', d.role, lang)}{comma}"
             f"{texts.word('actions', d.event, lang)}{comma}{texts.word('statuses', d.status, lang)}{'）' if zh else ')'}"
             for d in deliveries[:20]]
    more = len(deliveries) - len(shown)
    tail = (f"{semi}另有 {more} 条" if zh else f"; {more} more") if more > 0 else ""
    print(head + (("：" if zh else ": ") + semi.join(shown) + tail if shown else ""))
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
        checkins = AlertStore(db).checkin_stats(since=since)
        households = watched_households(db)

    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.0f}"

    print(f"last {args.days:g} days")
    print(f"{'rule':18} {'alerts':>6} {'acked':>6} {'resolved':>8} {'false':>6} {'TTA med':>8} {'TTA p95':>8} "
          f"{'TTR med':>8} {'TTR p95':>8}   (seconds)")
    for s in stats:
        print(f"{s.rule:18} {s.alerts:>6} {s.acknowledged:>6} {s.resolved:>8} {s.false_alarms:>6} "
              f"{f(s.tta_median_s):>8} {f(s.tta_p95_s):>8} {f(s.ttr_median_s):>8} {f(s.ttr_p95_s):>8}")
    hm = households * args.days / 30

    def per(n: int) -> str:
        return f"{n / hm:.3f} per household-month" if hm else "no watched households"

    print(f"check-in step (water_inactivity), {households} watched households: {checkins.alerts} alerts, "
          f"{checkins.asked} check-ins ({per(checkins.asked)}), {checkins.answered_fine} answered fine, "
          f"{checkins.staff_pushed} staff dispatches ({per(checkins.staff_pushed)}), {checkins.pending} still asking")
    if checkins.by_state:
        print("  how they stand: " + ", ".join(f"{k} {v}" for k, v in checkins.by_state.items()))
    return 0


def watched_households(db: Database) -> int:
    """Households the inactivity rule watches: flagged, with a water meter."""
    from registry.model import load_snapshot

    reg = load_snapshot(db)
    metered = {d.place for d in reg.devices.values() if d.kind == "water_meter"}
    return sum(1 for code, h in reg.households.items() if h.flags and code in metered)


def add_alert_commands(sub: argparse._SubParsersAction, notifier: Callable[[Any], NotifierFactory],
                       texts: Texts) -> None:
    """Define `shouwang alerts ...`; notifier(config) gives the engine's notifier (the top's, from notify/), texts
    renders what people read (notify.texts)."""
    p = sub.add_parser("alerts", help="the rules engine (`alerts run`); list and handle alerts",
                       description="`shouwang alerts run` runs the rules engine service (one per alert store); "
                                   "the other subcommands read and handle alerts.")
    asub = p.add_subparsers(dest="alerts_command", metavar="COMMAND")
    p.set_defaults(func=alerts_dispatch, notifier=notifier, texts=texts, help=p.format_help)
    asub.add_parser("run", help="run the rules engine service (one per alert store; `shouwang up` starts it)")
    ls = asub.add_parser("list", help="active alerts, newest first (--all: every alert)")
    ls.add_argument("--all", action="store_true")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50; 0: all)")
    show = asub.add_parser("show", help="one alert with its audit trail and notifications")
    show.add_argument("id", type=int)
    for cmd in (ls, show):
        cmd.add_argument("--lang", choices=LANGUAGES, default=None,
                         help="language of the output (default: the locale's, zh or en; else zh)")
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
    cmd = args.alerts_command
    if cmd is None:  # never an engine by accident: `alerts run` says so
        print(args.help(), file=sys.stderr)
        return 2
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
