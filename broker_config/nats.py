"""The clustered broker option: NATS with JetStream speaking MQTT 3.1.1 (`broker.kind = "nats"`).

    write_nats_files(cfg)      one nats-server config per node of `broker.nats_nodes` under <state>/broker/nats/
    reload_nats_nodes(dir)     after `shouwang broker add-gateway`: the new gateway into users.conf, nodes reload
    mqtt_subject(topic)        sw/v1/gw/dev/reading -> sw.v1.gw.dev.reading (how NATS names an MQTT topic)
    topic_of(subject)          the reverse, for what a native consumer reads from the MQTT message stream

Why NATS, and what changes for clients: docs/cluster.md. In short, a gateway's QoS 1 PUBLISH is stored in the
replicated stream `$MQTT_msgs` (R3, interest retention) as `$MQTT.msgs.<subject>` before the node sends the
PUBACK, so a PUBACK still means "will be stored" when the node it came from dies. Ingest reads that stream
through a durable JetStream pull consumer (`INGEST_CONSUMER`, shared by every ingest worker) and acknowledges
a message only after InfluxDB accepted it; while that consumer has not acknowledged a message, the stream
keeps it (interest retention).

Accounts are the Mosquitto ACL's, in NATS permissions (one account `SW` with JetStream; MQTT topics are
subjects with "/" as "."):

    gateway <id>   publish sw.v1.<id>.state and sw.v1.<id>.*.* (its presence and its devices), subscribe nothing
    svc_ingest     the JetStream API of its own durable consumer on $MQTT_msgs, acks, dead letters; inboxes
    svc_alerts     MQTT: reads sw.v1.>, reads and writes sw.alerts.>
    svc_api        MQTT: reads and writes sw.alerts.>
    svc_sim        MQTT: reads sw.v1.> and dead letters

Passwords are written in plaintext into `users.conf` (0600, beside the gateways' own 0600 credential files):
Debian's nats-server takes bcrypt hashes, but no bcrypt is at hand without a new dependency (docs/cluster.md).
"""

from __future__ import annotations

import json
import os
import signal
import tomllib
from dataclasses import dataclass
from pathlib import Path

from broker_config.accounts import Account, account_password
from broker_config.settings import BrokerSettings, NatsNode
from ground.errors import ConfigError
from wire.topics import DEAD_LETTER_TOPIC

#: the stream NATS stores QoS 1 MQTT messages in, and the subject prefix it stores them under
MQTT_STREAM = "$MQTT_msgs"
MQTT_STREAM_PREFIX = "$MQTT.msgs."
#: the durable pull consumer every ingest worker shares
INGEST_CONSUMER = "ingest"
#: the NATS account of gateways and services
NATS_ACCOUNT = "SW"


def mqtt_subject(topic: str) -> str:
    """The NATS subject of an MQTT topic or filter (contract ids hold no "." or "/"; "#" becomes ">")."""
    return topic.replace("/", ".").replace("+", "*").replace("#", ">")


def topic_of(subject: str) -> str:
    """The MQTT topic of a subject read from the MQTT message stream (with or without its stream prefix)."""
    subject = subject.removeprefix(MQTT_STREAM_PREFIX)
    return subject.replace(".", "/")


INGEST_FILTER = MQTT_STREAM_PREFIX + mqtt_subject("sw/v1/#")
DEAD_LETTER_SUBJECT = mqtt_subject(DEAD_LETTER_TOPIC)


@dataclass(frozen=True, slots=True)
class NatsFiles:
    dir: Path
    confs: tuple[Path, ...]
    users: Path
    logs: tuple[Path, ...]


def _perm(publish: list[str], subscribe: list[str] | None) -> dict:
    sub: dict = {"allow": subscribe} if subscribe else {"deny": [">"]}
    return {"publish": {"allow": publish} if publish else {"deny": [">"]}, "subscribe": sub}


def _mqtt_reader(*subjects: str) -> list[str]:
    # an MQTT QoS 1 subscription is served through JetStream: its consumer delivers on $MQTT.sub.<nuid>
    out = ["$MQTT.sub.>"]
    for s in subjects:
        out.append(s)
        if s.endswith(".>"):
            out.append(s[:-2])  # MQTT's "a/#" also matches "a"
    return out


def _alerts_permissions(alerts: str, all_gw: str) -> dict:
    """The alerts engine: publishes sw.alerts.>, and reads the gateways' messages through durable JetStream pull
    consumers of its own on $MQTT_msgs (one per partition, named after its client id: alerts/jetstream.py), so it
    holds no MQTT session a gateway could take over. Any consumer name but ingest's; MQTT reading is kept for the
    MQTT consumer (Mosquitto-compatible path, tests)."""
    js = "$JS.API"
    any_ = f"{MQTT_STREAM}.*"
    ingest = f"{MQTT_STREAM}.{INGEST_CONSUMER}"
    allow = [alerts, alerts[:-2], f"{js}.INFO", f"{js}.STREAM.INFO.{MQTT_STREAM}", f"{js}.CONSUMER.INFO.{any_}",
             f"{js}.CONSUMER.DURABLE.CREATE.{any_}", f"{js}.CONSUMER.CREATE.{any_}", f"{js}.CONSUMER.CREATE.{any_}.>",
             f"{js}.CONSUMER.MSG.NEXT.{any_}", f"$JS.ACK.{any_}.>"]
    deny = [f"{js}.CONSUMER.INFO.{ingest}", f"{js}.CONSUMER.DURABLE.CREATE.{ingest}", f"{js}.CONSUMER.CREATE.{ingest}",
            f"{js}.CONSUMER.CREATE.{ingest}.>", f"{js}.CONSUMER.MSG.NEXT.{ingest}", f"$JS.ACK.{ingest}.>"]
    return {"publish": {"allow": allow, "deny": deny},
            "subscribe": {"allow": ["_INBOX.>", *_mqtt_reader(all_gw, alerts)]}}


def service_permissions() -> dict[Account, dict]:
    """NATS permissions of each service account (the service ACL of the Mosquitto option, in subjects)."""
    js = "$JS.API"
    own = f"{MQTT_STREAM}.{INGEST_CONSUMER}"
    alerts = mqtt_subject("sw/alerts/#")
    all_gw = mqtt_subject("sw/v1/#")
    return {
        Account.INGEST: _perm(
            [f"{js}.INFO", f"{js}.STREAM.INFO.{MQTT_STREAM}", f"{js}.CONSUMER.INFO.{own}",
             f"{js}.CONSUMER.DURABLE.CREATE.{own}", f"{js}.CONSUMER.CREATE.{own}", f"{js}.CONSUMER.CREATE.{own}.>",
             f"{js}.CONSUMER.MSG.NEXT.{own}", f"$JS.ACK.{own}.>", DEAD_LETTER_SUBJECT],
            ["_INBOX.>"]),
        Account.ALERTS: _alerts_permissions(alerts, all_gw),
        Account.API: _perm([alerts, alerts[:-2]], _mqtt_reader(alerts)),
        Account.SIM: _perm([], _mqtt_reader(all_gw, DEAD_LETTER_SUBJECT)),
        # the status account reads the broker's own counters over HTTP monitoring, not MQTT: nothing here
        Account.STATUS: _perm([], None),
    }


def gateway_permissions(gateway: str) -> dict:
    """A gateway publishes its presence and its devices' messages (the contract's two shapes) and reads nothing."""
    base = mqtt_subject(f"sw/v1/{gateway}")
    return _perm([f"{base}.state", f"{base}.*.*"], None)


def _gateways(broker_dir: Path) -> dict[str, str]:
    """Gateway id -> password, from the provisioning files `shouwang broker add-gateway` writes."""
    out = {}
    for path in sorted((broker_dir / "gateways").glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
            out[str(data["username"])] = str(data["password"])
        except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
            raise ConfigError(f"{path}: unreadable gateway credentials ({exc})") from None
    return out


def _users_text(services: list[dict], broker_dir: Path) -> str:
    users = services + [{"user": gw, "password": pw, "permissions": gateway_permissions(gw)}
                        for gw, pw in _gateways(broker_dir).items()]
    body = {NATS_ACCOUNT: {"jetstream": "enabled", "users": users}, "SYS": {"users": []}}
    return ("# generated by `shouwang broker config`; edit the shouwang config, not this file\n"
            f"accounts: {json.dumps(body, indent=1)}\nsystem_account: SYS\n")


def users_text(cfg: BrokerSettings) -> str:
    """The `accounts` block: account SW (JetStream) with every gateway and service user and its permissions."""
    secret = cfg.broker.service_password.get_secret_value()
    services = [{"user": str(a), "password": account_password(secret, a), "permissions": p}
                for a, p in service_permissions().items()]
    return _users_text(services, cfg.state_path / "broker")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def reload_nats_nodes(broker_dir: Path) -> int:
    """After `shouwang broker add-gateway`: rewrite the gateways into users.conf (the service users as they were)
    and make every running node of this state dir reread it (SIGHUP); returns how many nodes were told."""
    users = broker_dir / "nats" / "users.conf"
    try:
        text = users.read_text()
        body = json.loads(text[text.index("accounts: ") + len("accounts: "):text.index("\nsystem_account")])
    except (OSError, ValueError):
        return 0
    services = [u for u in body[NATS_ACCOUNT]["users"] if str(u["user"]).startswith("svc_")]
    _write_private(users, _users_text(services, broker_dir))
    told = 0
    for pid_file in sorted((broker_dir / "nats").glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if b"nats-server" not in fh.read():
                    continue
            os.kill(pid, signal.SIGHUP)
            told += 1
        except (OSError, ValueError):
            continue
    return told


def node_conf_text(cfg: BrokerSettings, node: NatsNode, store: Path, users: Path, pid_file: Path) -> str:
    """nats-server config of one node: client, MQTT, cluster routes to the others, monitoring, JetStream."""
    b = cfg.broker
    routes = [f"nats-route://{n.host}:{n.route_port}" for n in b.nats_nodes if n.name != node.name]
    conf = {
        "server_name": node.name,
        "pid_file": str(pid_file),  # reload_nats_nodes signals it
        "listen": f"{node.host}:{node.client_port}",
        "http": f"{node.host}:{node.monitor_port}",
        "max_payload": b.max_packet_kib * 1024,
        "jetstream": {"store_dir": str(store), "max_memory_store": 64 * 1024 * 1024,
                      "max_file_store": b.nats_max_file_store_mib * 1024 * 1024},
        "mqtt": {"listen": f"{node.host}:{node.mqtt_port}", "stream_replicas": min(3, len(b.nats_nodes)),
                 # unacknowledged QoS 1 messages an MQTT subscriber (the alerts engine) may hold
                 "max_ack_pending": 20000, "ack_wait": "30s"},
    }
    if len(b.nats_nodes) > 1:
        conf["cluster"] = {"name": "shouwang", "listen": f"{node.host}:{node.route_port}", "routes": routes}
    return ("# generated by `shouwang broker config`; edit the shouwang config, not this file\n"
            f"include {json.dumps(users.name)}\n" + "\n".join(f"{k}: {json.dumps(v)}" for k, v in conf.items()) + "\n")


def write_nats_files(cfg: BrokerSettings) -> NatsFiles:
    """Generate each node's config and the shared users file under <state>/broker/nats/ (idempotent)."""
    nodes = cfg.broker.nats_nodes
    if not nodes:
        raise ConfigError("broker.kind = \"nats\" with no broker.nats_nodes to launch")
    d = cfg.state_path / "broker" / "nats"
    d.mkdir(parents=True, exist_ok=True)
    users = d / "users.conf"
    _write_private(users, users_text(cfg))
    confs, logs = [], []
    for node in nodes:
        store = d / node.name
        store.mkdir(exist_ok=True)
        conf = d / f"{node.name}.conf"
        conf.write_text(node_conf_text(cfg, node, store, users, d / f"{node.name}.pid"))
        confs.append(conf)
        logs.append(d / f"{node.name}.log")
    return NatsFiles(d, tuple(confs), users, tuple(logs))
