"""`shouwang status`: is the installation working, and if not, where.

Services from their beat files (ground/heartbeat.py: up since, last beat, progress), the broker's own
counters ($SYS, read with the status account), ingest lag and pending messages, how long ago each
gateway was last heard (InfluxDB, last day), open alerts by severity and failed notification attempts
(the store). Each part that cannot be reached says so on its line; the rest still shows. Exit status 0
when every watched service works, 1 otherwise (for scripts and monitoring).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from ground.clock import SystemClock
from ground.heartbeat import Beat, assess, read_beats
from shouwang.config import Config

TZ = ZoneInfo("Asia/Shanghai")
SEVERITIES = ("critical", "major", "warning", "maintenance")


@dataclass
class Status:
    checked_at_ms: int
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    broker: dict[str, Any] = field(default_factory=dict)
    gateways: dict[str, int] = field(default_factory=dict)  # gateway -> ms of its newest reading (last day)
    open_alerts: dict[str, int] = field(default_factory=dict)
    failed_notifications_24h: int | None = None
    errors: dict[str, str] = field(default_factory=dict)  # part -> why it could not be read

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _service(b: Beat, now: int) -> dict[str, Any]:
    return {"pid": b.pid, "alive": b.alive, "started_at_ms": b.started_at_ms, "beat_age_s": (now - b.beat_at_ms) / 1000,
            "progress": dict(b.progress)}


def broker_counters(cfg: Config, timeout_s: float = 5.0) -> dict[str, Any]:
    """The broker's $SYS counters (connected clients, messages received), as the status account sees them."""
    from broker_config import Account
    from broker_config.client import service_client, service_endpoint

    wanted = {"$SYS/broker/clients/connected": "clients_connected", "$SYS/broker/messages/received": "messages_received",
              "$SYS/broker/store/messages/count": "stored_messages", "$SYS/broker/uptime": "uptime"}
    got: dict[str, Any] = {}
    done = threading.Event()
    client = service_client(cfg, Account.STATUS, f"svc_status_{os.getpid()}")

    def on_connect(c, _u, _f, rc, _p=None) -> None:
        if not rc.is_failure:
            c.subscribe([(t, 0) for t in wanted])

    def on_message(_c, _u, msg) -> None:
        got[wanted[msg.topic]] = msg.payload.decode(errors="replace")
        if len(got) == len(wanted):
            done.set()

    client.on_connect, client.on_message = on_connect, on_message
    host, port, _ = service_endpoint(cfg)
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    if not got:
        raise TimeoutError(f"no $SYS counters from {host}:{port} within {timeout_s:g} s")
    return {k: int(v) if v.isdigit() else v for k, v in got.items()}


def nats_counters(cfg: Config, timeout_s: float = 2.0) -> dict[str, Any]:
    """broker.kind = "nats": the nodes' own counters from their monitoring endpoints (/varz, /jsz), summed. Counts
    only: no client names or ids (they are at /connz, which is not read)."""
    import httpx

    nodes = cfg.broker.nats_nodes
    up = conns = received = 0
    stored: int | None = None
    failed: list[str] = []
    for n in nodes:
        base = f"http://{n.host}:{n.monitor_port}"
        try:
            varz = httpx.get(f"{base}/varz", timeout=timeout_s).json()
            jsz = httpx.get(f"{base}/jsz", timeout=timeout_s).json()
        except (httpx.HTTPError, ValueError):
            failed.append(n.name)
            continue
        up += 1
        conns += int(varz.get("connections", 0))
        received += int(varz.get("in_msgs", 0))
        stored = max(stored or 0, int(jsz.get("messages", 0)))  # each node holds a replica of the streams
    if not up:
        raise ConnectionError(f"no NATS node answered on its monitoring port ({', '.join(failed) or 'none named'})")
    out: dict[str, Any] = {"clients_connected": conns, "messages_received": received, "stored_messages": stored,
                           "nodes_up": up, "nodes": len(nodes)}
    if failed:
        out["nodes_down"] = failed
    return out


def gateway_last_seen(cfg: Config) -> dict[str, int]:
    from storage.influx import InfluxClient

    with InfluxClient(cfg.influx) as client:
        rows = client.rows('SELECT last("seq") FROM /.*/ WHERE time > now() - 1d GROUP BY "gateway"')
    out: dict[str, int] = {}
    for r in rows:
        gw = r.get("gateway")
        if gw:
            out[gw] = max(out.get(gw, 0), int(r["time"]))
    return out


def store_figures(cfg: Config, now: int) -> tuple[dict[str, int], int]:
    from sqlalchemy import func, select

    from alerts.tables import Alert
    from alerts.types import ACTIVE_STATES
    from notify.tables import DeliveryAttempt
    from storage.sql import Database

    with Database.from_config(cfg) as db, db.session() as s:
        by_sev = dict(s.execute(select(Alert.severity, func.count()).where(Alert.state.in_([str(x) for x in ACTIVE_STATES]))
                                .group_by(Alert.severity)).all())
        failed = s.execute(select(func.count()).select_from(DeliveryAttempt)
                           .where(DeliveryAttempt.ok.is_(False), DeliveryAttempt.at >= now - 86_400_000)).scalar_one()
    return {sev: int(by_sev.get(sev, 0)) for sev in SEVERITIES}, int(failed)


def gather(cfg: Config) -> Status:
    now = SystemClock().now_ms()
    st = Status(now)
    beats = read_beats(cfg.state_path)
    st.services = {name: _service(b, now) for name, b in beats.items()}
    st.problems = [{"service": p.service, "trouble": str(p.trouble), "since_ms": p.since_ms}
                   for p in assess(beats, now, cfg.watchdog.stale_after_s, cfg.watchdog.services)]
    counters = nats_counters if cfg.broker.kind == "nats" else broker_counters
    for part, fetch in (("broker", lambda: counters(cfg)), ("gateways", lambda: gateway_last_seen(cfg))):
        try:
            setattr(st, part, fetch())
        except Exception as exc:  # noqa: BLE001 -- each part reports its own failure; status goes on
            st.errors[part] = f"{type(exc).__name__}: {exc}"[:300]
    try:
        st.open_alerts, st.failed_notifications_24h = store_figures(cfg, now)
    except Exception as exc:  # noqa: BLE001
        st.errors["store"] = f"{type(exc).__name__}: {exc}"[:300]
    return st


# --- text --------------------------------------------------------------------------------------------

WORDS = {
    "zh": {"title": "守望 运行状态", "service": "服务", "state": "状态", "since": "启动于", "beat": "心跳",
           "progress": "进度", "ok": "正常", "bad": "异常", "none": "未运行", "broker": "MQTT 代理",
           "clients": "连接数", "received": "已收消息", "gateways": "网关最后上报", "ago": "前",
           "alerts": "未关闭告警", "failed": "24 小时内通知失败次数", "unreadable": "无法读取",
           "critical": "紧急", "major": "重要", "warning": "预警", "maintenance": "维护",
           "no_gateways": "最近一天没有网关上报", "nodes": "集群节点在线", "s": "秒", "all_ok": "全部服务正常",
           "not_running": "未运行", "stopped": "已退出", "no_progress": "停止工作（卡住或被暂停）"},
    "en": {"title": "Shouwang status", "service": "service", "state": "state", "since": "up since", "beat": "beat",
           "progress": "progress", "ok": "working", "bad": "NOT WORKING", "none": "not running",
           "broker": "MQTT broker", "clients": "clients", "received": "messages received",
           "gateways": "gateways last heard", "ago": "ago", "alerts": "open alerts",
           "failed": "failed notification attempts, last 24 h", "unreadable": "cannot read",
           "critical": "critical", "major": "major", "warning": "warning", "maintenance": "maintenance",
           "no_gateways": "no gateway reported in the last day", "nodes": "cluster nodes up", "s": "s", "all_ok": "every service works",
           "not_running": "not running", "stopped": "exited", "no_progress": "stopped working (hung or paused)"},
}


def _t(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, TZ).strftime("%Y-%m-%d %H:%M:%S")


def render(st: Status, language: str = "zh") -> str:
    w = WORDS["en" if language == "en" else "zh"]
    bad = {p["service"]: p["trouble"] for p in st.problems}
    lines = [f"{w['title']}  {_t(st.checked_at_ms)}", ""]
    for name in sorted({*st.services, *bad}):
        svc = st.services.get(name)
        state = f"{w['bad']}: {w[bad[name]]}" if name in bad else w["ok"]
        line = f"  {name:<9} {state}"
        if svc:
            prog = ", ".join(f"{k}={v}" for k, v in svc["progress"].items() if v is not None)
            line += (f"   {w['since']} {_t(svc['started_at_ms'])}   {w['beat']} {svc['beat_age_s']:.0f} {w['s']}"
                     f"{w['ago']}" + (f"   {prog}" if prog else ""))
        lines.append(line)
    lines.append("")
    if "broker" in st.errors:
        lines.append(f"  {w['broker']}: {w['unreadable']} ({st.errors['broker']})")
    else:
        line = (f"  {w['broker']}: {w['clients']} {st.broker.get('clients_connected', '?')}, "
                f"{w['received']} {st.broker.get('messages_received', '?')}")
        if "nodes" in st.broker:  # a NATS cluster
            line += f", {w['nodes']} {st.broker['nodes_up']}/{st.broker['nodes']}"
            if st.broker.get("nodes_down"):
                line += f" ({', '.join(st.broker['nodes_down'])} ✗)"
        lines.append(line)
    if "gateways" in st.errors:
        lines.append(f"  {w['gateways']}: {w['unreadable']} ({st.errors['gateways']})")
    elif not st.gateways:
        lines.append(f"  {w['gateways']}: {w['no_gateways']}")
    else:
        lines.append(f"  {w['gateways']}:")
        for gw, ms in sorted(st.gateways.items(), key=lambda kv: kv[1]):
            lines.append(f"    {gw:<16} {max(0, (st.checked_at_ms - ms) // 1000)} {w['s']}{w['ago']}")
    if "store" in st.errors:
        lines.append(f"  {w['alerts']}: {w['unreadable']} ({st.errors['store']})")
    else:
        counts = ", ".join(f"{w[s]} {n}" for s, n in st.open_alerts.items())
        lines.append(f"  {w['alerts']}: {counts}")
        lines.append(f"  {w['failed']}: {st.failed_notifications_24h}")
    lines += ["", w["all_ok"] if st.ok else f"{w['bad']}: {', '.join(sorted(bad))}"]
    return "\n".join(lines)
