"""`shouwang install --prod` into a relocated root, then the installation run as its units run it.

Nothing here touches the real /etc: the installer writes under a temporary --root and prints (does not run)
systemctl and nginx; with --set-owners it creates its system user (here `shouwang-test`, left in place: the
installer only creates it when absent) and sets the owners for real, as on a server. The generated units are
checked by `systemd-analyze verify`; then Debian's mosquitto and influxd are started with the drop-ins'
ExecStart (as the users `mosquitto` and `influxdb`, from Debian's units), and ingest, the alerts engine, the API
and the watchdog with their units' ExecStart, Environment, WorkingDirectory, User, Group and UMask
(setpriv; systemd's sandboxing options -- ProtectSystem, ReadWritePaths, PrivateTmp ... -- need systemd and
are only verified, not exercised). A gateway
publishes over TLS with the pilot CA and ingest stores the reading in an InfluxDB that refuses anonymous
queries; `shouwang status` shows it working; a real nginx serves the console over HTTPS with the generated site;
the nightly backup unit's command backs up, the state is wiped, and `shouwang restore` brings it back. Every
command of the README's "Running it for real" is run here through the installed `shouwang` command.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ground.heartbeat import read_beats
from shouwang.install import SERVICES, UNITS, Layout, fill
from shouwang.procs import ChildProcess, free_port, port_open
from shouwang.stack import ingest_subscribed
from tests.conftest import now_ms, reading
from tests.helpers import free_port_pair, wait_for
from tests.notify.receivers import HttpReceiver

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what systemd gives a service
SHOUWANG = Path(sys.executable).parent / "shouwang"
TEST_USER = "shouwang-test"  # the services' system user in these tests (the installer creates it if absent)
DEBIAN_UNITS = Path("/lib/systemd/system")


# --- reading units as systemd does -----------------------------------------------------------------


def _specifiers(value: str, unit: str, instance: str) -> str:
    name = unit.rsplit(".", 1)[0]
    full = unit.replace("@.", f"@{instance}.") if instance else unit
    table = {"i": instance, "n": full, "N": full.rsplit(".", 1)[0], "%": "%", "p": name.split("@")[0]}

    def one(m: re.Match) -> str:
        if m.group(1) not in table:
            raise AssertionError(f"{unit}: specifier %{m.group(1)} not expanded by this test")
        return table[m.group(1)]

    return re.sub(r"%(.)", one, value).replace("$$", "$")


@dataclass
class UnitCommand:
    """What systemd runs for a unit: ExecStart (the last one after a reset), Environment, directory, user."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    user: str | None = None
    group: str | None = None
    umask: str | None = None
    no_new_privs: bool = False
    settings: dict[str, list[str]] = field(default_factory=dict)


def unit_command(path: Path, instance: str = "") -> UnitCommand:
    out = UnitCommand([])
    if path.suffix == ".conf" and path.parent.name.endswith(".d"):  # a drop-in: over Debian's unit
        base = DEBIAN_UNITS / path.parent.name[:-2]
        if base.is_file():
            _read_unit(base, instance, out)
            out.settings.clear()
    return _read_unit(path, instance, out)


def _read_unit(path: Path, instance: str, out: UnitCommand) -> UnitCommand:
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = line.partition("=")
        value = _specifiers(value, path.name if path.suffix != ".conf" else path.parent.name[:-2], instance)
        out.settings.setdefault(f"{section}{key}", []).append(value)
        if section != "[Service]":
            continue
        if key == "ExecStart":
            out.argv = shlex.split(value) if value else []
        elif key == "Environment":
            k, _, v = value.partition("=")
            out.env[k] = v
        elif key == "WorkingDirectory":
            out.cwd = value
        elif key == "User":
            out.user = value
        elif key == "Group":
            out.group = value
        elif key == "UMask":
            out.umask = value
        elif key == "NoNewPrivileges":
            out.no_new_privs = value == "yes"
    return out


def unit_argv(cmd: UnitCommand) -> tuple[list[str], dict[str, str]]:
    """The unit's command as systemd runs it: as User/Group with the user's groups, UMask, WorkingDirectory."""
    env = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8"}
    argv = ["env", "-C", cmd.cwd, "--", *cmd.argv] if cmd.cwd else list(cmd.argv)
    argv = ["/bin/sh", "-c", f'umask {cmd.umask or "0022"} && exec "$@"', "sh", *argv]
    if cmd.user:
        pw = pwd.getpwnam(cmd.user)
        gid = grp.getgrnam(cmd.group).gr_gid if cmd.group else pw.pw_gid
        env |= {"USER": cmd.user, "LOGNAME": cmd.user, "HOME": pw.pw_dir, "SHELL": pw.pw_shell}
        argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={gid}", "--init-groups",
                *(["--no-new-privs"] if cmd.no_new_privs else []), "--", *argv]
    return argv, env | cmd.env


def start_unit(path: Path, log: Path, ready, instance: str = "") -> ChildProcess:
    """Start a unit's ExecStart with its Environment, WorkingDirectory, User, Group and UMask."""
    cmd = unit_command(path, instance)
    assert cmd.argv, f"{path}: no ExecStart"
    argv, env = unit_argv(cmd)
    child = ChildProcess(path.name, argv, log, ready=ready, env=env)
    child.start(timeout=90)
    return child


# --- the installation ----------------------------------------------------------------------------


def _run(*argv: str | Path, stdin: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {"PATH": SYSTEMD_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, input=stdin, timeout=timeout,
                          check=False, env=env)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"{proc.args}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc.stdout


@dataclass
class Site:
    layout: Layout
    ports: dict[str, int]
    receiver: HttpReceiver
    tmp: Path
    children: dict[str, ChildProcess] = field(default_factory=dict)

    @property
    def unit_dir(self) -> Path:
        return self.layout.systemd

    @property
    def shouwang(self) -> Path:
        """The installed command (README: every command goes through it)."""
        return self.layout.command

    def install(self, *extra: str) -> str:
        return _ok(_run(SHOUWANG, "install", "--prod", "--root", self.layout.root, "--set-owners", "--user", TEST_USER,
                        *extra))

    def cli(self, *args: str, stdin: str | None = None) -> str:
        return _ok(_run(self.shouwang, *args, stdin=stdin))

    def cfg(self):
        from shouwang.install import load_prod_config

        return load_prod_config(self.layout)

    def start_backends(self) -> None:
        """Debian's influxdb and mosquitto as the installer's drop-ins start them."""
        d = self.unit_dir
        cfg = self.cfg()
        from storage.influx import InfluxClient

        def influx_up() -> bool:
            with InfluxClient(cfg.influx) as c:
                return c.ping()

        self.children["influxdb"] = start_unit(d / "influxdb.service.d" / "shouwang.conf", self.tmp / "influxd.log",
                                               influx_up)
        self.start_mosquitto()

    def start_mosquitto(self) -> None:
        self.children["mosquitto"] = start_unit(self.unit_dir / "mosquitto.service.d" / "shouwang.conf",
                                                self.tmp / "mosquitto.log",
                                                lambda: port_open("127.0.0.1", self.ports["service"]))

    def start_services(self) -> None:
        state = self.layout.state
        for unit in SERVICES:
            name = unit.removeprefix("shouwang-").removesuffix(".service")
            ready = (lambda n=name: n in read_beats(state))
            self.children[name] = start_unit(self.unit_dir / unit, self.tmp / f"{name}.log", ready)
        wait_for(ingest_subscribed(self.cfg()), timeout=60, what="ingest subscribed")
        self.check_users()

    def check_users(self) -> None:
        """Each process runs as its unit's user; what the services and the CLI wrote in the state is theirs."""
        expected = {"influxdb": "influxdb", "mosquitto": "mosquitto", "ingest": TEST_USER, "alerts": TEST_USER,
                    "api": TEST_USER, "watchdog": TEST_USER}
        for name, child in self.children.items():
            status = Path(f"/proc/{child.pid}/status").read_text()
            uid = int(re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.MULTILINE).group(2))
            assert pwd.getpwuid(uid).pw_name == expected[name], (name, uid)
        state = self.layout.state
        for path in [state / "alerts", *state.glob("alerts/alerts.db*"), state / "run", *(state / "run").iterdir()]:
            assert pwd.getpwuid(path.stat().st_uid).pw_name == TEST_USER, path

    def stop(self, *names: str) -> None:
        for name in names or list(reversed(self.children)):
            child = self.children.pop(name, None)
            if child is not None:
                child.stop()


def _edit_config(path: Path, ports: dict[str, int], receiver: HttpReceiver) -> None:
    """What an IT person edits after the first install (here: free ports, and the watchdog's contact)."""
    text = path.read_text()
    for key, old, new in (("port", 1883, ports["plain"]), ("tls_port", 8883, ports["tls"]),
                          ("service_port", 18831, ports["service"]), ("port", 18088, ports["api"])):
        text, n = re.subn(rf"^{key} = {old}$", f"{key} = {new}", text, count=1, flags=re.MULTILINE)
        assert n == 1, key
    text = text.replace("http://127.0.0.1:8086", f"http://127.0.0.1:{ports['influx']}")
    text = text.replace('"127.0.0.1:8088"', f'"127.0.0.1:{ports["influx"] + 1}"')
    text = text.replace('public_url = "https://localhost"', f'public_url = "https://localhost:{ports["https"]}"')
    text = text.replace("notify = []", f'notify = ["json://127.0.0.1:{receiver.port}/dog"]')
    text += f"\n[ingest]\nmetrics_port = {ports['metrics']}\n"
    path.write_text(text)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    if os.geteuid() != 0:
        pytest.skip("runs the services as system users: needs root (as on CI)")
    # the services' users must reach the relocated root: not under pytest's directory (root's, mode 0700)
    tmp = Path(tempfile.mkdtemp(prefix="shouwang-install-"))
    tmp.chmod(0o755)
    opened = _open_path_to_python()
    receiver = HttpReceiver().start()
    ports = {"plain": free_port(), "tls": free_port(), "service": free_port(), "api": free_port(),
             "influx": free_port_pair(), "https": free_port(), "metrics": free_port()}
    s = Site(Layout(tmp / "root"), ports, receiver, tmp)
    try:
        yield s
    finally:
        s.stop()
        receiver.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        for d, mode in opened:
            d.chmod(mode)


def _open_path_to_python() -> list[tuple[Path, int]]:
    """Let other users through the directories above the virtualenv's Python and the checkout, for this test.

    A server's virtualenv uses Debian's /usr/bin/python3 (the installer refuses one its user cannot run); a
    developer's may use an interpreter under /root (mode 0700): that directory gets o+x (pass through, not list)
    until the test ends.
    """
    opened = []
    for target in (Path(sys.executable).resolve(), Path(__file__).resolve()):
        for d in reversed(target.parents):
            mode = d.stat().st_mode & 0o7777
            if not mode & 0o001 and d not in [o for o, _ in opened]:
                d.chmod(mode | 0o001)
                opened.append((d, mode))
    return opened


# --- the tests -------------------------------------------------------------------------------------


def test_install_writes_a_production_config_once_and_runs_nothing(site: Site) -> None:
    out = site.install("--server-name", "localhost")
    cfg_file = site.layout.config
    text = cfg_file.read_text()
    assert 'mode = "prod"' in text and oct(cfg_file.stat().st_mode & 0o777) == "0o640"
    user = pwd.getpwnam(TEST_USER)  # created by the installer (or by an earlier run: left in place)
    assert user.pw_shell == "/usr/sbin/nologin" and user.pw_uid < 1000
    st = cfg_file.stat()
    assert (st.st_uid, grp.getgrgid(st.st_gid).gr_name) == (0, TEST_USER)
    assert pwd.getpwuid(site.layout.state.stat().st_uid).pw_name == TEST_USER
    broker = site.layout.state / "broker"
    assert pwd.getpwuid((broker / "passwd-services").stat().st_uid).pw_name == "mosquitto"
    assert (broker / "tls" / "ca.key").stat().st_uid == 0  # the CA key stays root's
    for secret in ("service_password", "password", "secret_key"):
        value = re.search(rf'^{secret} = "([^"]+)"$', text, re.MULTILINE).group(1)
        assert len(value) >= 32 and value not in ("dev-service-password", "dev-influx-password")
    # relocated: the services not started (printed), the owners set for real
    assert "would run: systemctl restart shouwang-ingest.service" in out and "would run: nginx -t" in out
    assert "  running: chown -R mosquitto:mosquitto" in out and "would run: chown" not in out
    # the installed files point at the relocated paths only
    for f in (*(site.unit_dir / u for u in UNITS), site.layout.nginx_site, site.layout.command):
        body = f.read_text()
        assert "/etc/shouwang" not in body.replace(str(site.layout.etc), "") and not re.search(r"@[A-Z_]+@", body), f

    _edit_config(cfg_file, site.ports, site.receiver)
    edited = cfg_file.read_text()
    again = site.install()
    assert "exists: kept as it is" in again and cfg_file.read_text() == edited  # secrets and edits kept
    conf = (site.layout.state / "broker" / "mosquitto.conf").read_text()
    assert f"listener {site.ports['tls']} 0.0.0.0" in conf and f"listener {site.ports['plain']} 127.0.0.1" in conf
    assert f"listener {site.ports['service']} 127.0.0.1" in conf
    influx_conf = site.layout.influx_conf.read_text()
    assert "auth-enabled = true" in influx_conf and f'"127.0.0.1:{site.ports["influx"]}"' in influx_conf
    nginx = site.layout.nginx_site.read_text()
    assert f"listen {site.ports['https']} ssl" in nginx and f"proxy_pass http://127.0.0.1:{site.ports['api']};" in nginx
    assert not re.search(r"listen\s+\d+;", nginx)  # no plain-HTTP listener

    # a second name on the command line is refused, not silently applied over the config
    refused = _run(SHOUWANG, "install", "--prod", "--root", site.layout.root, "--server-name", "other.example")
    assert refused.returncode == 2 and "api.public_url" in refused.stderr


def test_units_pass_systemd_analyze_verify(site: Site) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    d = site.unit_dir
    units = [str(d / u) for u in UNITS if not u.endswith("@.service")] + [str(d / "shouwang-notify-failure@x.service")]
    (d / "shouwang-notify-failure@x.service").symlink_to(d / "shouwang-notify-failure@.service")
    try:
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                              timeout=120, check=False, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{d}:"})
    finally:
        (d / "shouwang-notify-failure@x.service").unlink()
    # verify exits 0 on unknown keys but says so: any word from it is a defect of the units
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # Debian's mosquitto and influxdb units with the installer's drop-ins
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", "mosquitto.service", "influxdb.service"],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "SYSTEMD_UNIT_PATH": f"{d}:"})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr

    for unit in SERVICES:
        cmd = unit_command(d / unit)
        s = cmd.settings
        assert cmd.user == cmd.group == TEST_USER and cmd.env["SHOUWANG_CONFIG"] == str(site.layout.config)
        assert s["[Service]ReadWritePaths"] == [str(site.layout.state)]
        for key, value in (("ProtectSystem", "strict"), ("NoNewPrivileges", "yes"), ("PrivateTmp", "yes"),
                           ("Restart", "always"), ("StandardOutput", "journal")):
            assert s[f"[Service]{key}"] == [value], (unit, key)
        assert s["[Unit]OnFailure"] == [f"shouwang-notify-failure@{unit}.service"]
    mosq = unit_command(d / "mosquitto.service.d" / "shouwang.conf").settings
    assert mosq["[Service]ExecStartPre"] == [""] and mosq["[Service]User"] == ["mosquitto"]


def test_a_broken_unit_fails_verify(tmp_path: Path) -> None:
    """The check above can fail: a unit whose program does not exist, or with a misspelt key."""
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    for body in ("[Service]\nExecStart=/nonexistent/shouwang ingest\n", "[Service]\nExecStart=/bin/true\nProtectSytem=strict\n"):
        unit = tmp_path / "broken.service"
        unit.write_text(body)
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)
        assert proc.returncode != 0 or proc.stderr != ""


def _registry_csv(tmp: Path) -> Path:
    """A community's registry as an IT person gets it: the demo community exported as CSV (a dev install)."""
    dev = tmp / "dev"
    dev.mkdir()
    (dev / "shouwang.toml").write_text(f'state_dir = "{dev}"\n')
    env_cfg = ("--config", str(dev / "shouwang.toml"))
    _ok(_run(SHOUWANG, *env_cfg, "registry", "import-scenario", "demo"))
    _ok(_run(SHOUWANG, *env_cfg, "registry", "export", str(tmp / "community.csv")))
    return tmp / "community.csv"


class Gateway:
    """A gateway that logs in over TLS, trusting only the installation's CA."""

    def __init__(self, site: Site, gw: str) -> None:
        cred = (site.layout.state / "broker" / "gateways" / f"{gw}.toml").read_text()
        password = re.search(r'^password = "(.*)"$', cred, re.MULTILINE).group(1)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(gw, password)
        self.client.tls_set(ca_certs=str(site.layout.state / "broker" / "tls" / "ca.crt"))
        self.client.connect("localhost", site.ports["tls"], keepalive=30)
        self.client.loop_start()
        self.gw = gw

    def publish(self, device: str, seq: int, total_l: float) -> None:
        topic, payload = reading(self.gw, device, now_ms(), seq, total_l)
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _stored(site: Site, device: str) -> list[dict]:
    from storage.influx import InfluxClient

    with InfluxClient(site.cfg().influx) as c:
        try:
            return c.rows(f"SELECT total_l FROM water_meter WHERE device = '{device}'")
        except Exception:  # noqa: BLE001 -- the database may not exist yet
            return []


def _nginx(site: Site) -> ChildProcess:
    """Debian's nginx with a main config like Debian's: it includes the installer's enabled site."""
    d = site.tmp / "nginx"
    d.mkdir(exist_ok=True)
    main = d / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{}}\n"
        f"http {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n"
        f"  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  access_log off;\n"
        f"  include {site.layout.root}/etc/nginx/sites-enabled/*;\n}}\n")
    _ok(_run("/usr/sbin/nginx", "-t", "-e", f"{d}/error.log", "-c", main))
    child = ChildProcess("nginx", ["/usr/sbin/nginx", "-e", f"{d}/error.log", "-c", str(main)], d / "out.log",
                         ready=lambda: port_open("127.0.0.1", site.ports["https"]))
    child.start(timeout=30)
    return child


def _audit_addresses(site: Site, action: str) -> list[str]:
    db = site.layout.state / "alerts" / "alerts.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(audit_log)")]
        assert "address" in cols and "action" in cols, cols
        return [r[0] for r in conn.execute("SELECT address FROM audit_log WHERE action = ? ORDER BY id", (action,))]


def test_installed_services_run_store_a_tls_reading_serve_https_and_restore(site: Site) -> None:
    if not site.layout.config.exists():
        pytest.skip("needs the installation of the first test")
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx is not installed: scripts/setup.sh installs it")
    site.start_backends()
    # with InfluxDB answering, the installer creates its admin user; anonymous queries are refused from now on
    out = site.install()
    assert "admin user shouwang created; anonymous queries refused" in out
    anon = httpx.post(f"http://127.0.0.1:{site.ports['influx']}/query", data={"q": "SHOW DATABASES"})
    assert anon.status_code == 401
    assert "admin user shouwang logs in" in site.install()  # idempotent

    # README: the community's registry, the first staff account, a gateway
    csv = _registry_csv(site.tmp)
    site.cli("registry", "import", str(csv))
    # (a person types the password at the prompt; the test hands it over stdin)
    site.cli("api", "user", "add", "zhang", "--role", "street_admin", "--scope", "demo-community-street",
             "--password-stdin",
             stdin="a-long-staff-password\n")
    site.cli("broker", "add-gateway", "gw-0001")
    os.kill(site.children["mosquitto"].pid, signal.SIGHUP)  # `systemctl reload mosquitto` (Debian's ExecReload)

    site.start_services()
    gw = Gateway(site, "gw-0001")
    try:
        gw.publish("wm-0001", 1, 12.5)
        wait_for(lambda: _stored(site, "wm-0001"), timeout=60, what="the TLS reading in InfluxDB")
    finally:
        gw.close()

    status = json.loads(site.cli("status", "--json"))
    assert status["ok"] and not status["problems"] and not status["errors"], status
    assert {"ingest", "alerts", "api"} <= {n for n, s in status["services"].items() if s["alive"]}
    assert "gw-0001" in status["gateways"] and "clients_connected" in status["broker"]
    assert "全部服务正常" in site.cli("status")

    _https_console(site)

    # systemd's OnFailure=: the notify-failure unit tells the watchdog's contact
    failure = start_unit(site.unit_dir / "shouwang-notify-failure@.service", site.tmp / "nf.log", lambda: True,
                         instance="shouwang-alerts.service")
    assert failure.proc.wait(60) == 0
    got = site.receiver.wait(lambda rs: [r for r in rs if r.path == "/dog"], timeout=30)
    assert "告警引擎已退出" in got[-1].json()["message"]

    _backup_wipe_restore(site)


def _https_console(site: Site) -> None:
    nginx = _nginx(site)
    try:
        ca = str(site.layout.state / "broker" / "tls" / "ca.crt")
        base = f"https://localhost:{site.ports['https']}"
        # a phone on the street office's network: its own address, a forged X-Forwarded-For
        phone = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=ca), local_address="127.0.0.5")
        with httpx.Client(transport=phone, base_url=base, timeout=30) as c:
            r = c.post("/api/login", json={"username": "zhang", "password": "a-long-staff-password"},
                       headers={"X-Forwarded-For": "6.6.6.6"})
            assert r.status_code == 200, r.text
            cookie = r.headers["set-cookie"]
            assert "sw_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
            assert c.get("/api/me").json()["username"] == "zhang"
            assert c.get("/login").status_code == 200  # the console's pages come through the proxy too
        # the same forged header straight at the API (not through the proxy) is not believed either
        direct = httpx.HTTPTransport(local_address="127.0.0.5")
        with httpx.Client(transport=direct, base_url=f"http://127.0.0.1:{site.ports['api']}", timeout=30) as c:
            r = c.post("/api/login", json={"username": "zhang", "password": "a-long-staff-password"},
                       headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"})
            assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]  # prod mode: Secure anyway
        assert _audit_addresses(site, "login")[-2:] == ["127.0.0.5", "127.0.0.5"]
        # TLS only: no certificate the CA did not sign, no plain HTTP on the console's port
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/login", timeout=10)  # the system's CAs do not know the pilot CA
        plain = httpx.get(f"http://localhost:{site.ports['https']}/login", timeout=10)
        assert plain.status_code == 400 and "HTTPS" in plain.text
    finally:
        nginx.stop()


def _counts(manifest: dict) -> tuple[dict, dict]:
    return manifest["sql"]["rows"], manifest["influx"]["points"]


def _backup_wipe_restore(site: Site) -> None:
    # the nightly backup, as shouwang-backup.service runs it
    backup_unit = site.unit_dir / "shouwang-backup.service"
    backup = start_unit(backup_unit, site.tmp / "backup.log", lambda: True)
    assert backup.proc.wait(300) == 0, backup.tail(30)
    made = sorted(site.layout.backups.glob("2*"))
    assert len(made) == 1 and oct(made[0].stat().st_mode & 0o777) == "0o700"
    manifest = json.loads((made[0] / "manifest.json").read_text())
    rows, points = _counts(manifest)
    assert rows["user_account"] >= 1 and points.get("water_meter", 0) >= 1 and rows["audit_log"] >= 2

    # a new machine (README): config, state and readings gone; the config comes back from the backup
    site.stop("watchdog", "api", "alerts", "ingest", "mosquitto", "influxdb")
    config = site.layout.config.read_text()
    for d in (site.layout.etc, site.layout.state, site.layout.influx_data):
        shutil.rmtree(d)
    site.layout.etc.mkdir(mode=0o755)
    shutil.copy(made[0] / "config.toml", site.layout.config)
    assert site.layout.config.read_text() == config
    site.install()
    site.start_backends()
    site.install()  # InfluxDB's admin user again
    site.stop("mosquitto")
    out = site.cli("restore", str(made[0]))
    assert "every count matches the backup" in out, out
    site.install()  # owners and generated files again, from the restored broker files
    site.start_mosquitto()  # with the restored password files and certificates
    site.start_services()
    # the gateway's restored credentials and the restored CA work; its old and new readings are there
    gw = Gateway(site, "gw-0001")
    try:
        gw.publish("wm-0001", 2, 13.0)
        wait_for(lambda: len(_stored(site, "wm-0001")) >= 2, timeout=60, what="old and new readings after restore")
    finally:
        gw.close()
    status = json.loads(site.cli("status", "--json"))
    assert status["ok"], status


def test_uninstall_keeps_data_and_purge_deletes_it(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "root")
    _ok(_run(SHOUWANG, "install", "--prod", "--root", layout.root, "--server-name", "192.168.10.5"))
    assert "IP Address:192.168.10.5" in _ok(_run("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                                  layout.state / "broker" / "tls" / "server.crt"))
    # a server certificate near its end is reissued by the next install, from the same CA
    tls = layout.state / "broker" / "tls"
    _ok(_run("openssl", "x509", "-req", "-in", tls / "server.csr", "-CA", tls / "ca.crt", "-CAkey", tls / "ca.key",
             "-CAcreateserial", "-out", tls / "server.crt", "-days", "5", "-extfile", tls / "server.ext"))
    ca_before = (tls / "ca.crt").read_bytes()
    assert "reissuing" in _ok(_run(SHOUWANG, "install", "--prod", "--root", layout.root))
    assert _run("openssl", "x509", "-noout", "-checkend", str(30 * 86400), "-in", tls / "server.crt").returncode == 0
    assert (tls / "ca.crt").read_bytes() == ca_before
    assert "reissuing" not in _ok(_run(SHOUWANG, "install", "--prod", "--root", layout.root))

    # without --set-owners nothing is run: the services' user is `shouwang`, created and given the state on a server
    assert "User=shouwang\n" in (layout.systemd / "shouwang-ingest.service").read_text()
    out = _ok(_run(SHOUWANG, "install", "--prod", "--root", layout.root))
    assert "would run: useradd --system" in out and "would run: chown -R shouwang:shouwang" in out
    out = _ok(_run(SHOUWANG, "install", "--prod", "--uninstall", "--root", layout.root))
    assert "would run: systemctl disable --now shouwang.target" in out
    assert not any((layout.systemd / u).exists() for u in UNITS)
    assert not layout.nginx_site.exists() and not layout.command.exists()
    assert layout.config.exists() and (layout.state / "broker" / "passwd-services").exists()
    _ok(_run(SHOUWANG, "install", "--prod", "--root", layout.root))  # back, with the same config
    _ok(_run(SHOUWANG, "install", "--prod", "--uninstall", "--purge", "--root", layout.root))
    assert not layout.config.exists() and not layout.state.exists() and layout.backups.exists()


def test_dev_config_and_placeholders_are_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "root")
    layout.etc.mkdir(parents=True)
    layout.config.write_text(f'state_dir = "{layout.state}"\n')
    proc = _run(SHOUWANG, "install", "--prod", "--root", layout.root)
    assert proc.returncode == 2 and "mode = 'dev'" in proc.stderr
    layout.config.write_text('mode = "prod"\n')
    proc = _run(SHOUWANG, "install", "--prod", "--root", layout.root)
    assert proc.returncode == 2 and "development default refused" in proc.stderr
    with pytest.raises(Exception, match="@NOPE@"):
        fill("ExecStart=@BIN@ @NOPE@", {"BIN": "/x"})


def test_session_cookie_is_secure_when_a_trusted_proxy_says_https(tmp_path: Path) -> None:
    """Development mode, no https public URL: Secure only for requests a trusted proxy says came over https."""
    from tests.console.conftest import PASSWORD
    from tests.console.test_http_limits import start_server

    servers = start_server(tmp_path, trusted_proxies=["127.0.0.1"])
    srv = next(servers)
    try:
        def cookie(source: str, **headers: str) -> str:
            with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30) as c:
                r = c.post(f"{srv.url}/api/login", json={"username": "admin", "password": PASSWORD}, headers=headers)
            assert r.status_code == 200, r.text
            return r.headers["set-cookie"]

        assert "secure" in cookie("127.0.0.1", **{"X-Forwarded-Proto": "https"}).lower()
        # the console's login form (what staff phones use) likewise
        r = httpx.post(f"{srv.url}/login", data={"username": "admin", "password": PASSWORD, "next": "/"},
                       headers={"X-Forwarded-Proto": "https"}, timeout=30)
        session = [c for c in r.headers.get_list("set-cookie") if c.startswith("sw_session=")]
        assert r.status_code == 303 and len(session) == 1 and "secure" in session[0].lower(), r.headers
        assert "secure" not in cookie("127.0.0.1").lower()
        # the same header from a client that is not a trusted proxy is not believed
        assert "secure" not in cookie("127.0.0.5", **{"X-Forwarded-Proto": "https"}).lower()
    finally:
        servers.close()
