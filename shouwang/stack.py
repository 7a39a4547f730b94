"""`shouwang up`: the whole local stack as supervised child processes.

Order: Mosquitto and influxd (unless external ones are configured), then ingest, then
the alerts engine, then the simulated devices of the configured scenario (demo by default).
A child that dies is restarted with backoff; Ctrl-C or SIGTERM stops everything in
reverse order. A lock file in the state directory keeps a second `up` out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from broker_config import add_gateway, gateway_endpoint
from shouwang.config import Config
from ground.errors import AlreadyRunning
from ground.pidlock import PidLockHeld, take_pid_lock
from storage.influx import InfluxClient
from shouwang.procs import ChildProcess, port_open
from shouwang.services import influxd_process, mosquitto_process

log = logging.getLogger(__name__)
DEMO_GATEWAYS = ("demo-gw-1", "demo-gw-2")


class StateLock:
    """An exclusive flock on <state>/up.lock, holding the owner's pid."""

    def __init__(self, state: Path) -> None:
        self.path = state / "up.lock"
        self._fh = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._fh = take_pid_lock(self.path)
        except PidLockHeld as held:
            raise AlreadyRunning(f"shouwang up is already running on {self.path.parent} (pid {held.pid}); "
                                 "stop it first or use another state_dir") from None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def service_process(cfg: Config, name: str, args: list[str], config_file: Path | None,
                    ready: Callable[[], bool] | None = None, extra_env: dict[str, str] | None = None) -> ChildProcess:
    """A shouwang service (ingest, ...) as a child, with the same config file and environment."""
    env = dict(os.environ)
    if config_file is not None:
        env["SHOUWANG_CONFIG"] = str(config_file)
    env.update(extra_env or {})
    log_file = cfg.state_path / "logs" / f"{name}.log"
    return ChildProcess(name, [sys.executable, "-m", "shouwang", *args], log_file, ready=ready or (lambda: True),
                        env=env)


def ingest_subscribed(cfg: Config) -> Callable[[], bool]:
    """Readiness of ingest: its subscription is granted, so the broker keeps messages for it from now on."""
    if not cfg.ingest.metrics_port:
        return lambda: True
    url = f"http://{cfg.ingest.metrics_host}:{cfg.ingest.metrics_port}/metrics"

    def ready() -> bool:
        try:
            return "\ningest_subscribed 1.0" in httpx.get(url, timeout=1).text
        except httpx.HTTPError:
            return False

    return ready


class Stack:
    """The supervised local stack."""

    def __init__(self, cfg: Config, config_file: Path | None) -> None:
        self.cfg = cfg
        self.config_file = config_file
        self.children: list[ChildProcess] = []
        self.stop_event = threading.Event()
        self.lock = StateLock(cfg.state_path)
        self.demo_accounts: list = []
        self._sim_gateways: tuple[str, ...] | None = None
        self.history = None  # shouwang.history.History of the simulated scenario, once written

    def start(self) -> None:
        cfg = self.cfg
        self.creds: dict[str, Path] = {}
        if cfg.broker.url:
            log.info("using external broker %s", cfg.broker.url)
        else:
            broker = mosquitto_process(cfg)  # writes config, ACL and password file
            for gw in sorted({*DEMO_GATEWAYS, *self.sim_gateways()}):
                self.creds[gw], _ = add_gateway(cfg.state_path / "broker", gw)
            self._start(broker)
            (cfg.state_path / "broker" / "mosquitto.pid").write_text(str(broker.pid))
        if cfg.influx.url:
            log.info("using external InfluxDB %s", cfg.influx.url)
            with InfluxClient(cfg.influx) as client:
                answering = client.ping()
            if not answering:
                log.warning("external InfluxDB %s does not answer /ping yet; ingest will retry", cfg.influx.url)
        else:
            self._start(influxd_process(cfg))
        self._start(service_process(cfg, "ingest", ["ingest"], self.config_file, ready=ingest_subscribed(cfg)))
        from alerts.service import subscribed_check  # the rules engine (docs/alerts.md)

        sim_runs = self.sim_runs()
        if sim_runs:
            from firmware_sim.scenario import load_scenario
            from registry.commands import seed_registry  # demo places and people, if none yet

            seed_registry(cfg, load_scenario(cfg.sim.scenario))

        alerts_log = cfg.state_path / "logs" / "alerts.log"
        if sim_runs:
            # the scenario runs live at real time; its past (the day before its first start, or the gap while
            # the stack was stopped) is written to InfluxDB as history now, before the engine rebuilds from it.
            # The engine's clock is the wall clock: nothing the devices send can move it.
            from firmware_sim.scenario import load_scenario
            from shouwang.history import try_write_history

            self.history = try_write_history(cfg, load_scenario(cfg.sim.scenario))
            if self.history is not None:
                log.info("%s history written: %d points from %s", cfg.sim.scenario, self.history.points,
                         _local(self.history.from_ms, cfg.alerts.timezone))
        self._start(service_process(cfg, "alerts", ["alerts", "run"], self.config_file,
                                    ready=subscribed_check(alerts_log)))
        from console.demo import seed_demo  # the web API and console (docs/console.md)

        self.demo_accounts = seed_demo(cfg, int(time.time() * 1000))
        self._start(service_process(cfg, "api", ["api"], self.config_file,
                                    ready=lambda: port_open(cfg.api.host, cfg.api.port)))
        if sim_runs:
            self._start(service_process(cfg, "sim", ["sim", "run", cfg.sim.scenario, "--live", "--no-progress"],
                                        self.config_file))

    def sim_gateways(self) -> tuple[str, ...]:
        """Gateways of the configured scenario (checked now, so a bad scenario stops `up` with its line)."""
        if not self.cfg.sim.enabled:
            return ()
        if self._sim_gateways is None:
            from firmware_sim.scenario import load_scenario

            self._sim_gateways = load_scenario(self.cfg.sim.scenario).gateways
        return self._sim_gateways

    def sim_runs(self) -> bool:
        """The simulator runs when enabled and every gateway it publishes as has credentials here."""
        from broker_config import gateway_credentials_path

        gateways = self.sim_gateways()
        missing = [gw for gw in gateways if not gateway_credentials_path(self.cfg.state_path / "broker", gw).exists()]
        if gateways and missing:
            log.warning("simulated devices not started: no credentials for gateway(s) %s for the external broker "
                        "(put username/password in %s/<id>.toml)", ", ".join(missing),
                        self.cfg.state_path / "broker" / "gateways")
        return bool(gateways) and not missing

    def _start(self, child: ChildProcess) -> None:
        child.start()
        self.children.append(child)

    def banner(self) -> str:
        host, port, tls = gateway_endpoint(self.cfg)
        lines = [
            "Shouwang is up.",
            f"  MQTT broker   gateways {'mqtts' if tls else 'mqtt'}://{host}:{port}"
            + ("" if self.cfg.broker.url else f", services mqtt://{self.cfg.broker.service_host}:"
                                              f"{self.cfg.broker.service_port}   "
                                              f"(config {self.cfg.state_path / 'broker' / 'mosquitto.conf'})"),
            f"  InfluxDB      {self.cfg.influx.base_url}   database {self.cfg.influx.database}",
        ]
        if self.cfg.ingest.metrics_port:
            lines.append(f"  ingest        metrics at http://{self.cfg.ingest.metrics_host}:{self.cfg.ingest.metrics_port}/metrics")
        for gw, path in self.creds.items():
            lines.append(f"  gateway {gw}  credentials in {path}")
        if any(c.name == "api" for c in self.children):
            lines.append(f"  console       {self.cfg.api.base_url}/")
            if self.demo_accounts:
                names = ", ".join(a.username for a in self.demo_accounts)
                lines.append(f"                log in as staff / {self.cfg.api.demo_password.get_secret_value()}   "
                             f"(same password: {names})")
        if any(c.name == "sim" for c in self.children):
            lines.append(f"  simulator     scenario {self.cfg.sim.scenario} live at real time"
                         + (f" since {_local(self.history.origin_ms, self.cfg.alerts.timezone)}" if self.history else "")
                         + "; its scripted incidents follow minutes after its first start (sim.enabled = false "
                           "turns it off)")
        logs = [self.cfg.state_path / "logs"]
        logs += [] if self.cfg.broker.url else [self.cfg.state_path / "broker" / "mosquitto.log"]
        logs += [] if self.cfg.influx.url else [self.cfg.state_path / "influxdb" / "influxd.log"]
        lines.append(f"  logs          {', '.join(map(str, logs))}")
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)

    def supervise(self) -> None:
        """Restart children that die, with backoff, until asked to stop."""
        backoff: dict[str, float] = {}
        while not self.stop_event.wait(0.5):
            for child in self.children:
                if child.running():
                    continue
                rc = child.proc.returncode if child.proc else None
                delay = backoff.get(child.name, 1.0)
                log.error("%s exited (code %s); restarting in %.0f s. Last log lines:\n%s", child.name, rc, delay,
                          child.tail(5))
                if self.stop_event.wait(delay):
                    return
                backoff[child.name] = min(delay * 2, 60.0)
                try:
                    child.start()
                except Exception as exc:  # keep supervising the others; this one is retried next round
                    log.error("restarting %s failed: %s", child.name, exc)

    def stop(self) -> None:
        self.stop_event.set()
        for child in reversed(self.children):
            log.info("stopping %s", child.name)
            child.stop()
        self.lock.release()


def _local(ms: int, zone: str) -> str:
    """An instant as the console shows it: in the site's time zone (alerts.timezone), which is named."""
    return f"{dt.datetime.fromtimestamp(ms / 1000, ZoneInfo(zone)):%Y-%m-%d %H:%M:%S} ({zone})"


def run_up(cfg: Config, config_file: Path | None) -> int:
    """Start the stack, print where things are, supervise until Ctrl-C/SIGTERM."""
    stack = Stack(cfg, config_file)

    def _on_signal(signum: int, frame: object) -> None:
        stack.stop_event.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    stack.lock.acquire()
    try:
        stack.start()
        print(stack.banner(), flush=True)
        stack.supervise()
    finally:
        stack.stop()
        print("Shouwang stopped.", flush=True)
    return 0

