"""`shouwang install --prod`: the central side on a Debian 12 server, as systemd services (run as root).

What it does, each step safe to repeat (README "Running it for real"):

    /etc/shouwang/shouwang.toml     mode = "prod" with generated secrets, written once and then only read:
                                    edit it and run the installer again to apply the change
    /var/lib/shouwang               state (store, beat files, broker files), owned by the system user `shouwang`
    mosquitto.service (Debian's)    a drop-in runs the generated broker config: gateways over TLS with the
                                    pilot CA (or the site's certificate), services on a loopback listener
    influxdb.service (Debian's)     a drop-in runs /etc/shouwang/influxdb.conf: loopback only, authentication
                                    on, the admin user of the config created on first start
    shouwang-{ingest,alerts,api,watchdog}.service, shouwang.target, shouwang-notify-failure@.service
                                    (OnFailure=), shouwang-backup.{service,timer} (nightly `shouwang backup`)
    nginx (Debian's)                /etc/nginx/sites-available/shouwang: the console over HTTPS only
    /usr/local/bin/shouwang         the command with this installation's config

`--uninstall` stops and removes the units, drop-ins, nginx site and command, keeping the config, the state and
the backups; `--purge` also deletes the config and the state (never the backups).

`--root DIR` installs relocated under DIR (tests, a dry run): every file is written under DIR and every path in
those files points under DIR; useradd, chown, systemctl and nginx are not run but printed. With `--set-owners`
(as root) a relocated install also creates the system user and sets the owners for real, as on a server;
`--user NAME` names that user (default `shouwang`; a test runs the services as its own system user).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ground.errors import ConfigError, InfluxRejected, ServiceError

if TYPE_CHECKING:  # pydantic's config is loaded by the steps that need it
    from shouwang.config import Config

SOURCE = Path(__file__).resolve().parent.parent  # the checkout the services run from (scripts/setup.sh: editable)
DEPLOY = SOURCE / "deploy"
USER = "shouwang"
BACKUPS_KEPT = 14
RENEW_DAYS = 30  # the pilot CA's server certificate (valid 825 days) is reissued by an install this close to its end
UNITS = ("shouwang.target", "shouwang-ingest.service", "shouwang-alerts.service", "shouwang-api.service",
         "shouwang-watchdog.service", "shouwang-notify-failure@.service", "shouwang-backup.service",
         "shouwang-backup.timer")
SERVICES = ("shouwang-ingest.service", "shouwang-alerts.service", "shouwang-api.service", "shouwang-watchdog.service")
DROP_INS = ("mosquitto.service.d/shouwang.conf", "influxdb.service.d/shouwang.conf")
SERVER_NAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
SYSTEM_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
INFLUX_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class InstallError(ConfigError):
    """The installation cannot go on as asked (the message says what to do)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes: the real paths under root (/ on a server)."""

    root: Path

    def at(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def dry(self) -> bool:
        return self.root != Path("/")

    @property
    def etc(self) -> Path:
        return self.at("/etc/shouwang")

    @property
    def config(self) -> Path:
        return self.etc / "shouwang.toml"

    @property
    def influx_conf(self) -> Path:
        return self.etc / "influxdb.conf"

    @property
    def state(self) -> Path:
        return self.at("/var/lib/shouwang")

    @property
    def influx_data(self) -> Path:
        return self.at("/var/lib/influxdb")

    @property
    def backups(self) -> Path:
        return self.at("/var/backups/shouwang")

    @property
    def systemd(self) -> Path:
        return self.at("/etc/systemd/system")

    @property
    def nginx_site(self) -> Path:
        return self.at("/etc/nginx/sites-available/shouwang")

    @property
    def nginx_enabled(self) -> Path:
        return self.at("/etc/nginx/sites-enabled/shouwang")

    @property
    def command(self) -> Path:
        return self.at("/usr/local/bin/shouwang")


class Actions:
    """Runs the system's commands, or (relocated installs) prints what it would run."""

    def __init__(self, dry: bool, say: Callable[[str], None] = print, *, real: tuple[str, ...] = ()) -> None:
        self.dry = dry
        self.say = say
        self.real = real  # commands run even when dry (--set-owners: useradd, chown)

    def run(self, *argv: str, check: bool = True) -> bool:
        if self.dry and argv[0] not in self.real:
            self.say(f"  would run: {shlex.join(argv)}")
            return True
        self.say(f"  running: {shlex.join(argv)}")
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0 and check:
            raise ServiceError(f"{shlex.join(argv)} failed ({proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-600:]}")
        return proc.returncode == 0

    def write(self, path: Path, text: str, mode: int) -> None:
        """Write a file if its content differs (idempotent), with mode."""
        old = path.read_text() if path.is_file() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        if old != text:
            tmp = path.with_name(f".{path.name}.new")
            tmp.write_text(text)
            tmp.chmod(mode)
            tmp.replace(path)
            self.say(f"  {'updated' if old is not None else 'wrote'} {path}")
        path.chmod(mode)


# --- the config ------------------------------------------------------------------------------------


def _check_server_name(name: str) -> str:
    try:
        ipaddress.IPv4Address(name)
        return name
    except ValueError:
        pass
    if not SERVER_NAME.match(name):
        raise InstallError(f"--server-name {name!r}: a host name (console.street.example) or an IPv4 address")
    return name


def config_text(layout: Layout, server_name: str, https_port: int = 443, user: str = USER) -> str:
    """The production config with freshly generated secrets."""
    url = f"https://{server_name}" + ("" if https_port == 443 else f":{https_port}")
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""\
# Shouwang production config, written by `shouwang install --prod` on {when}.
# It holds secrets (mode 0640, group {user}). The installer never rewrites it: edit it, then run
# `shouwang install --prod` again to regenerate the broker, InfluxDB, nginx and systemd files from it.
mode = "prod"
state_dir = "{layout.state}"

[broker]
# gateways: MQTT over TLS only, mqtts://{server_name}:8883, trusting the pilot CA
# {layout.state}/broker/tls/ca.crt (or set ca_file, cert_file and key_file to the site's own)
tls = true
tls_host = "0.0.0.0"
tls_port = 8883
# the plain gateway listener stays on loopback: nothing off this server can reach it
host = "127.0.0.1"
port = 1883
# ingest, the alerts engine, the API and `shouwang status` log in here with accounts derived from the secret
service_host = "127.0.0.1"
service_port = 18831
service_password = "{secrets.token_urlsafe(32)}"

[influx]
# Debian's influxdb service, loopback only, authentication on; this user is its admin
url = "http://127.0.0.1:8086"
rpc_address = "127.0.0.1:8088"
username = "shouwang"
password = "{secrets.token_urlsafe(24)}"

[api]
# behind nginx (HTTPS) on this server: only nginx may say who the client is
host = "127.0.0.1"
port = 18088
public_url = "{url}"
trusted_proxies = ["127.0.0.1/32"]
secret_key = "{secrets.token_hex(32)}"
demo_accounts = false

[watchdog]
# who must hear that the system has stopped: Apprise URLs of an on-call phone's SMS gateway, a WeCom or
# DingTalk group, e-mail ... e.g. notify = ["wecombot://KEY"]. Empty: faults reach the journal and the
# console's red banner only. Then: systemctl restart shouwang-watchdog
notify = []
"""


def load_prod_config(layout: Layout) -> Config:
    """The installation's config, which must be a production one (secrets checked by load_config)."""
    from shouwang.config import load_config

    cfg = load_config(layout.config, env={})
    if cfg.mode != "prod":
        raise InstallError(f"{layout.config}: mode = {cfg.mode!r}; `install --prod` runs a production config "
                           "(mode = \"prod\")")
    return cfg


def _public(cfg: Config) -> tuple[str, int]:
    u = urlsplit(cfg.api.public_url)
    if u.scheme != "https" or not u.hostname:
        raise InstallError(f"api.public_url = {cfg.api.public_url!r}: the console is served over HTTPS only; set "
                           "it to https://HOST[:PORT] (the name staff type on their phones)")
    return u.hostname, u.port or 443


def _influx_endpoint(cfg: Config) -> tuple[str, int]:
    u = urlsplit(cfg.influx.url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost") or not u.port:
        raise InstallError(f"influx.url = {cfg.influx.url!r}: the installer sets up the local InfluxDB, "
                           "http://127.0.0.1:PORT")
    if not INFLUX_USER.match(cfg.influx.username):
        raise InstallError("influx.username: letters, digits and '_' (the installer makes it InfluxDB's admin)")
    return u.hostname, u.port


# --- TLS -------------------------------------------------------------------------------------------


def certificate_names(path: Path) -> set[str]:
    """DNS names and IP addresses a certificate is valid for (its subjectAltName)."""
    proc = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    names = set(re.findall(r"DNS:([^,\s]+)", proc.stdout)) | set(re.findall(r"IP Address:([^,\s]+)", proc.stdout))
    return names


def ensure_certificate(cfg: Config, server_name: str, say: Callable[[str], None]) -> tuple[Path, Path, Path]:
    """(ca, cert, key) for MQTT over TLS and the console: the site's own, or the pilot CA's for server_name."""
    from broker_config.tls import ensure_pilot_ca

    b = cfg.broker
    if b.cert_file:
        if not (b.ca_file and b.key_file):
            raise InstallError("broker.ca_file, cert_file and key_file must be given together")
        return Path(b.ca_file), Path(b.cert_file), Path(b.key_file)
    tls = cfg.state_path / "broker" / "tls"
    names = list(dict.fromkeys([server_name, "localhost", "127.0.0.1", socket.getfqdn()]))
    crt = tls / "server.crt"
    if crt.exists() and (not set(names) <= certificate_names(crt) or _expires_within(crt, RENEW_DAYS)):
        # a new server name, or the end of its validity near: the CA stays (gateways and phones keep trusting
        # it), the server certificate is reissued
        for old in ("server.crt", "server.csr", "server.key", "server.ext"):
            (tls / old).unlink(missing_ok=True)
        say(f"  reissuing {crt} from the pilot CA for {', '.join(names)}")
    return ensure_pilot_ca(tls, names)


def _expires_within(crt: Path, days: int) -> bool:
    proc = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(days * 86400), "-in", str(crt)],
                          capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode != 0


# --- generated files ---------------------------------------------------------------------------------


def influxdb_conf_text(cfg: Config, layout: Layout) -> str:
    from shouwang.services import influxd_config_text  # the one influxd config, with authentication on

    host, port = _influx_endpoint(cfg)
    rpc = cfg.influx.rpc_address or f"127.0.0.1:{port + 2}"
    header = (f"# InfluxDB of Shouwang, written by `shouwang install --prod` from {layout.config};\n"
              "# edit that file and run the installer again, not this one.\n"
              "# RPC of `influxd backup` / `influxd restore` (shouwang backup): loopback only, it has no password")
    return influxd_config_text(cfg, layout.influx_data, http=f"{host}:{port}", rpc=rpc, auth=True, header=header)


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every @NAME@; a placeholder left unfilled is a bug of the template or the installer."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", template)
    if left:
        raise InstallError(f"template placeholders without a value: {', '.join(sorted(set(left)))}")
    return template


def _template(rel: str) -> str:
    path = DEPLOY / rel
    if not path.is_file():
        raise InstallError(f"{path} is missing: run the installer from a complete checkout (README)")
    return path.read_text()


def unit_values(layout: Layout, executable: Path, user: str = USER) -> dict[str, str]:
    values = {"BIN": str(executable), "CONFIG": str(layout.config), "STATE": str(layout.state),
              "ETC": str(layout.etc), "USER": user, "SOURCE": str(SOURCE), "BACKUPS": str(layout.backups),
              "KEEP": str(BACKUPS_KEPT)}
    values["COMMON"] = fill(_template("systemd/service-common.in"), values).rstrip("\n")
    return values


def nginx_text(cfg: Config, cert: Path, key: Path) -> str:
    server_name, https_port = _public(cfg)
    max_body_mib = -(-cfg.api.max_import_bytes // (1024 * 1024)) + 1
    return fill(_template("nginx/shouwang.conf"), {
        "SERVER_NAME": server_name, "HTTPS_PORT": str(https_port), "CERT": str(cert), "KEY": str(key),
        "API": f"{cfg.api.host}:{cfg.api.port}", "MAX_BODY": f"{max_body_mib}m"})


ROOT_COMMANDS = ("install", "backup", "restore", "broker")  # system files, the broker's and the backups' owners


def command_text(layout: Layout, executable: Path, user: str = USER) -> str:
    """/usr/local/bin/shouwang: run by root, every command but ROOT_COMMANDS runs as the services' user, so that
    the files it creates in the state (the SQLite store and its journal) stay writable by the services."""
    exe = shlex.quote(str(executable))
    return (f"#!/bin/sh\n# written by `shouwang install --prod`: the shouwang command with this installation's "
            f"config\nSHOUWANG_CONFIG=\"${{SHOUWANG_CONFIG:-{layout.config}}}\"\nexport SHOUWANG_CONFIG\n"
            f"# as root, commands that write the state run as the services' user {user}\n"
            f"if [ \"$(id -u)\" = 0 ]; then\n  case \"${{1:-}}\" in\n"
            f"    {'|'.join(ROOT_COMMANDS)}|-h|--help|\"\") ;;\n"
            f"    *) exec /usr/sbin/runuser -u {user} -- {exe} \"$@\" ;;\n  esac\nfi\n"
            f"exec {exe} \"$@\"\n")


# --- InfluxDB's admin user ---------------------------------------------------------------------------


def ensure_influx_admin(cfg: Config) -> str:
    """Create the config's InfluxDB user as admin on a fresh InfluxDB (idempotent); check that auth is on."""
    from pydantic import SecretStr

    from storage.escape import string_literal
    from storage.influx import InfluxClient

    i = cfg.influx
    anonymous = i.model_copy(update={"username": "", "password": SecretStr("")})
    with InfluxClient(i) as client:
        try:
            client.query("SHOW USERS", db="")
            created = False
        except InfluxRejected as exc:
            if exc.status not in (401, 403):
                raise
            with InfluxClient(anonymous) as anon:
                try:
                    anon.query(f'CREATE USER "{i.username}" WITH PASSWORD '
                               f'{string_literal(i.password.get_secret_value())} WITH ALL PRIVILEGES', db="")
                except InfluxRejected as exc2:
                    raise InstallError(f"InfluxDB at {i.url} has users, and {i.username!r} cannot log in with the "
                                       "password of the config: set influx.username/password to its admin "
                                       f"({exc2.body.strip()[:200]})") from exc2
            client.query("SHOW USERS", db="")
            created = True
    with InfluxClient(anonymous) as anon:
        try:
            anon.query("SHOW DATABASES", db="")
        except InfluxRejected:
            pass
        else:
            raise InstallError(f"InfluxDB at {i.url} answers without a password: it does not run with the "
                               "installer's influxdb.conf (auth-enabled = true); systemctl restart influxdb")
    return f"InfluxDB: admin user {i.username} {'created' if created else 'logs in'}; anonymous queries refused"


def _wait_influx(cfg: Config, timeout_s: float) -> bool:
    from storage.influx import InfluxClient

    deadline = time.monotonic() + timeout_s
    with InfluxClient(cfg.influx) as client:
        while True:
            if client.ping():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


# --- install / uninstall -----------------------------------------------------------------------------


def _need(*binaries: str) -> None:
    missing = [b for b in binaries if not (shutil.which(b) or Path("/usr/sbin", b).exists())]
    if missing:
        raise InstallError(f"not found: {', '.join(missing)}; run scripts/setup.sh first (it installs Debian's "
                           "mosquitto, influxdb, nginx and openssl)")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _check_user_runs(user: str, executable: Path) -> None:
    """The services run as user: it must be able to run the virtualenv's command (interpreter and checkout)."""
    proc = subprocess.run(["/usr/sbin/runuser", "-u", user, "--", str(executable), "--help"], capture_output=True,
                          text=True, timeout=120, check=False, cwd="/")
    if proc.returncode != 0:
        python = (executable.parent / "python").resolve()
        raise InstallError(f"the services' user {user} cannot run {executable} (its Python is {python}): "
                           f"{(proc.stderr or proc.stdout).strip()[-300:]}. Every directory above the checkout "
                           "and the virtualenv's Python must be readable by other users: clone into /opt and make "
                           "the virtualenv with Debian's /usr/bin/python3 (not one under /root)")


def install(layout: Layout, server_name: str | None, *, executable: Path, say: Callable[[str], None] = print,
            user: str = USER, set_owners: bool = False) -> None:
    """Install or update the production services under layout (see the module docstring).

    set_owners: a relocated install (layout.dry) also runs useradd and chown, as an install on a server does.
    """
    act = Actions(layout.dry, say, real=("useradd", "chown") if set_owners else ())
    if (not layout.dry or set_owners) and os.geteuid() != 0:
        raise InstallError("run it as root (sudo): it writes /etc, creates a system user and starts services")
    if not SYSTEM_USER.match(user):
        raise InstallError(f"--user {user!r}: a system user name (lower-case letters, digits, '_', '-')")
    _need("mosquitto", "mosquitto_passwd", "openssl", *(() if layout.dry else ("influxd", "nginx", "systemctl")))
    if not executable.is_file():
        raise InstallError(f"{executable} does not exist: run the installer with the virtualenv's shouwang")

    say("system user")
    if not _user_exists(user) or (layout.dry and not set_owners):
        act.run("useradd", "--system", "--user-group", "--home-dir", str(layout.state), "--no-create-home",
                "--shell", "/usr/sbin/nologin", user)

    if not layout.dry or set_owners:
        _check_user_runs(user, executable)

    say("config")
    layout.etc.mkdir(parents=True, exist_ok=True)
    layout.etc.chmod(0o755)
    if not layout.config.exists():
        name = _check_server_name(server_name or socket.getfqdn())
        act.write(layout.config, config_text(layout, name, user=user), 0o640)
        say(f"  generated secrets for the broker's service accounts, InfluxDB and the API ({layout.config})")
    else:
        say(f"  {layout.config} exists: kept as it is (secrets and your edits)")
    act.run("chown", f"root:{user}", str(layout.config))
    layout.config.chmod(0o640)  # a config copied from a backup (mode 0600) must become readable by the services
    cfg = load_prod_config(layout)
    public_name, _ = _public(cfg)
    if server_name and _check_server_name(server_name) != public_name:
        raise InstallError(f"--server-name {server_name} differs from api.public_url = {cfg.api.public_url} in "
                           f"{layout.config}: edit api.public_url there (the installer never rewrites the config)")
    _influx_endpoint(cfg)
    if "127.0.0.1/32" not in cfg.api.trusted_proxies:
        say("  WARNING: api.trusted_proxies does not hold 127.0.0.1/32: behind nginx every client would look like "
            "127.0.0.1 (one login rate limit for all, no client address in the audit)")
    if not cfg.broker.tls:
        say("  WARNING: broker.tls = false: gateways cannot reach the broker (its plain listener is on loopback)")

    say("state, broker and certificates")
    for d, mode in ((layout.state, 0o755), (layout.backups, 0o700)):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(mode)
    _, cert, key = ensure_certificate(cfg, public_name, say)
    from broker_config import write_broker_files

    files = write_broker_files(cfg)
    say(f"  broker config {files.conf}")
    act.run("chown", "-R", f"{user}:{user}", str(layout.state))
    act.run("chown", "-R", "mosquitto:mosquitto", str(files.dir))
    # the CA's key and the gateways' plaintext passwords stay root's: the broker needs neither
    act.run("chown", "-R", "root:root", str(files.dir / "gateways"), str(files.dir / "tls" / "ca.key"), check=False)

    say("InfluxDB")
    layout.influx_data.mkdir(parents=True, exist_ok=True)
    act.write(layout.influx_conf, influxdb_conf_text(cfg, layout), 0o644)
    act.run("chown", "influxdb:influxdb", str(layout.influx_data))

    say("systemd units")
    executable_values = unit_values(layout, executable, user)
    for unit in UNITS:
        act.write(layout.systemd / unit, fill(_template(f"systemd/{unit}"), executable_values), 0o644)
    for drop_in in DROP_INS:
        act.write(layout.systemd / drop_in, fill(_template(f"systemd/{drop_in}"), executable_values), 0o644)

    say("HTTPS for the console (nginx)")
    act.write(layout.nginx_site, nginx_text(cfg, cert, key), 0o644)
    layout.nginx_enabled.parent.mkdir(parents=True, exist_ok=True)
    if not layout.nginx_enabled.is_symlink():
        layout.nginx_enabled.symlink_to(layout.nginx_site)
        say(f"  enabled {layout.nginx_enabled}")
    default_site = layout.at("/etc/nginx/sites-enabled/default")
    if default_site.is_symlink():  # Debian's welcome page on port 80: this server answers HTTPS only
        default_site.unlink()
        say(f"  disabled Debian's default site ({default_site})")

    say("the shouwang command")
    act.write(layout.command, command_text(layout, executable, user), 0o755)

    say("services")
    act.run("systemctl", "daemon-reload")
    act.run("systemctl", "enable", "mosquitto.service", "influxdb.service", "nginx.service", "shouwang.target",
            *SERVICES, "shouwang-backup.timer")
    act.run("systemctl", "restart", "mosquitto.service", "influxdb.service")
    if layout.dry:
        answering = _wait_influx(cfg, 0)
    else:
        answering = _wait_influx(cfg, 60)
        if not answering:
            raise InstallError(f"InfluxDB does not answer at {cfg.influx.url} after a restart: journalctl -u influxdb")
    if answering:
        say("  " + ensure_influx_admin(cfg))
    else:
        say(f"  InfluxDB does not answer at {cfg.influx.url}: its admin user is created when the installer runs "
            "while it does")
    act.run("nginx", "-t")
    act.run("systemctl", "reload-or-restart", "nginx.service")
    act.run("systemctl", "restart", *SERVICES)
    act.run("systemctl", "start", "shouwang.target", "shouwang-backup.timer")

    say("")
    say("Shouwang is installed.")
    say(f"  console        {cfg.api.public_url}/   (HTTPS; phones trust the CA below)")
    say(f"  gateways       mqtts://{public_name}:{cfg.broker.tls_port}   (shouwang broker add-gateway ID)")
    say(f"  CA certificate {cfg.broker.ca_file or files.dir / 'tls' / 'ca.crt'}   (for gateways and staff phones)")
    say(f"  backups        {layout.backups}, nightly (shouwang-backup.timer), newest {BACKUPS_KEPT} kept")
    say(f"  config         {layout.config}")
    say("  status         shouwang status")
    if not cfg.watchdog.notify:
        say("  WARNING: watchdog.notify is empty: nobody is told when a service stops. Add an Apprise URL to "
            f"[watchdog] in {layout.config}, then: systemctl restart shouwang-watchdog")


def uninstall(layout: Layout, *, purge: bool, say: Callable[[str], None] = print, user: str = USER) -> None:
    """Stop and remove the units, drop-ins, nginx site and command; --purge also the config and the state."""
    act = Actions(layout.dry, say)
    if not layout.dry and os.geteuid() != 0:
        raise InstallError("run it as root (sudo)")
    act.run("systemctl", "disable", "--now", "shouwang.target", *SERVICES, "shouwang-backup.timer", check=False)
    for path in [*(layout.systemd / u for u in UNITS), *(layout.systemd / d for d in DROP_INS), layout.nginx_enabled,
                 layout.nginx_site, layout.command]:
        if path.is_symlink() or path.exists():
            path.unlink()
            say(f"  removed {path}")
    for d in DROP_INS:
        with_drop_ins = (layout.systemd / d).parent
        if with_drop_ins.is_dir() and not any(with_drop_ins.iterdir()):
            with_drop_ins.rmdir()
    act.run("systemctl", "daemon-reload")
    act.run("systemctl", "restart", "mosquitto.service", "influxdb.service", check=False)  # Debian's own configs
    act.run("systemctl", "reload-or-restart", "nginx.service", check=False)
    if purge:
        for d in (layout.etc, layout.state):
            if d.exists():
                shutil.rmtree(d)
                say(f"  deleted {d}")
        act.run("userdel", user, check=False)
        say(f"  kept the backups in {layout.backups} and the readings in InfluxDB ({layout.influx_data}); "
            "`apt purge influxdb` deletes those")
    else:
        say(f"  kept {layout.etc}, {layout.state} and {layout.backups} (--purge deletes the first two)")


def _cmd_install(cfg: object, args: argparse.Namespace) -> int:
    if not args.prod:
        print("shouwang: only `install --prod` exists; for development run ./scripts/up.sh", file=sys.stderr)
        return 2
    if args.config is not None:
        print("shouwang: install uses <root>/etc/shouwang/shouwang.toml; drop --config", file=sys.stderr)
        return 2
    layout = Layout(Path(args.root).resolve())
    if args.uninstall:
        uninstall(layout, purge=args.purge, user=args.user)
    else:
        if args.purge:
            print("shouwang: --purge goes with --uninstall", file=sys.stderr)
            return 2
        install(layout, args.server_name, executable=Path(sys.executable).parent / "shouwang", user=args.user,
                set_owners=args.set_owners)
    return 0


def add_install_command(sub: argparse._SubParsersAction) -> None:
    """Register `shouwang install`."""
    p = sub.add_parser("install", help="install (or update) the production services on this Debian 12 server "
                                       "(as root; README: Running it for real)")
    p.add_argument("--prod", action="store_true", help="production: mode = \"prod\", generated secrets, TLS")
    p.add_argument("--server-name", metavar="HOST", help="the name (or IPv4 address) staff and gateways reach this "
                                                         "server at; first install only (default: its FQDN)")
    p.add_argument("--uninstall", action="store_true", help="stop and remove the services; keeps config and data")
    p.add_argument("--purge", action="store_true", help="with --uninstall: also delete the config and the state")
    p.add_argument("--root", default="/", metavar="DIR",
                   help="install relocated under DIR and run nothing (tests, a dry run)")
    p.add_argument("--set-owners", action="store_true",
                   help="with --root: create the system user and set owners (useradd, chown) for real")
    p.add_argument("--user", default=USER, metavar="NAME", help=f"the system user of the services (default {USER})")
    p.set_defaults(func=_cmd_install, own_config=True)
