"""The agent: outbox, uplink, drivers under a watchdog, periodic health; `shouwang agent --config FILE`.

Threads: one per driver, the uplink sender, paho's network threads; the main thread runs the
supervisor, the health reports, the outbox age sweep and the systemd watchdog ping.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

from edge_agent.clock import Clock, SystemClock
from edge_agent.config import (
    AgentConfig,
    CallButtonDriver,
    Cjt188Driver,
    LocalMqttDriver,
    ModbusGaugeDriver,
)
from edge_agent.drivers.base import Driver
from edge_agent.emit import Emitter
from edge_agent.health import CpuMeter, cpu_seconds, rss_mb, temperature_c
from edge_agent.outbox import Outbox
from edge_agent.supervisor import Supervisor
from edge_agent.uplink import Uplink
from wire.models import Channel, Kind

log = logging.getLogger(__name__)

AGE_SWEEP_S = 60.0


def driver_factory(d: object, emitter: Emitter, clock: Clock, gateway: str) -> Callable[[], Driver]:
    """A constructor for one configured driver (imports only the protocol stacks in use)."""
    if isinstance(d, Cjt188Driver):
        from edge_agent.drivers.cjt188 import MeterBusDriver

        return lambda: MeterBusDriver(d, emitter, clock)
    if isinstance(d, ModbusGaugeDriver):
        from edge_agent.drivers.modbus_gauge import GaugeBusDriver

        return lambda: GaugeBusDriver(d, emitter, clock)
    if isinstance(d, CallButtonDriver):
        from edge_agent.drivers.callbutton import ButtonReceiverDriver

        return lambda: ButtonReceiverDriver(d, emitter, clock)
    if isinstance(d, LocalMqttDriver):
        from edge_agent.drivers.local_mqtt import LocalInputDriver

        return lambda: LocalInputDriver(d, emitter, clock, gateway)
    raise TypeError(f"no driver for {type(d).__name__}")


class Agent:
    """The whole gateway daemon."""

    def __init__(self, cfg: AgentConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.started = self.clock.monotonic()
        self.stop_event = threading.Event()
        o = cfg.outbox
        self.outbox = Outbox(cfg.outbox_path, self.clock, max_messages=o.max_messages, max_bytes=o.max_bytes,
                             max_age_ms=int(o.max_age_h * 3_600_000), synchronous=o.synchronous)
        self.emitter = Emitter(cfg.gateway, self.outbox, self.clock)
        self.uplink = Uplink(cfg, self.outbox, self.clock, self.started)
        self.supervisor = Supervisor({d.id: driver_factory(d, self.emitter, self.clock, cfg.gateway)
                                      for d in cfg.drivers}, self.clock, cfg.health.restart_backoff_s,
                                     cfg.health.restart_backoff_max_s)
        self._cpu = CpuMeter(cpu_seconds(), self.clock.monotonic())
        self._uplink_thread: threading.Thread | None = None

    def run(self) -> int:
        """Run until stop(); returns the process exit code (1 when a stalled driver forces a restart)."""
        log.info("agent %s: %d drivers, outbox %s (synchronous=%s, %d queued)", self.cfg.gateway,
                 len(self.cfg.drivers), self.cfg.outbox_path, self.cfg.outbox.synchronous, self.outbox.depth)
        self._uplink_thread = threading.Thread(target=self.uplink.run, args=(self.stop_event,), name="uplink",
                                               daemon=True)
        self._uplink_thread.start()
        self.supervisor.start()
        notify("READY=1")
        next_health = self.clock.monotonic() + min(5.0, self.cfg.health.interval_s)
        next_sweep = self.clock.monotonic()
        code = 0
        try:
            while not self.stop_event.wait(0.5):
                notify("WATCHDOG=1")
                self.supervisor.check()
                now = self.clock.monotonic()
                if now >= next_sweep:
                    self.outbox.shed_expired()
                    next_sweep = now + AGE_SWEEP_S
                if now >= next_health:
                    self.report_health()
                    next_health = now + self.cfg.health.interval_s
                stalled = self.supervisor.stalled(self.cfg.health.stall_exit_s)
                if stalled:
                    log.error("drivers %s stalled for %.0f s: exiting so that systemd restarts the agent",
                              ",".join(stalled), self.cfg.health.stall_exit_s)
                    code = 1
                    break
        finally:
            self.shutdown()
        return code

    def report_health(self) -> None:
        """Queue one gateway/status for the agent and one per driver."""
        now = self.clock.monotonic()
        data: dict[str, object] = {
            "uptime_s": round(now - self.started, 1),
            "outbox_depth": max(0, self.outbox.depth),
            "outbox_bytes": max(0, self.outbox.size_bytes),
            "outbox_oldest_s": round(self.outbox.oldest_age_s(), 1),
            "sent": self.uplink.sent,
            "cpu_pct": self._cpu.percent(now),
            "rss_mb": round(rss_mb(), 1),
            "connected": self.uplink.connected.is_set(),
            "drivers_down": self.supervisor.down(),
        }
        data.update({k: self.outbox.counters.get(k, 0)
                     for k in ("shed_readings", "shed_events", "shed_status", "rejected")})
        temp = temperature_c()
        if temp is not None:
            data["temp_c"] = temp
        self.emitter.emit(self.cfg.gateway, Kind.GATEWAY, Channel.STATUS, data)
        for slot in self.supervisor.slots:
            self.emitter.emit(slot.id, Kind.GATEWAY, Channel.STATUS, slot.stats.snapshot())

    def stop(self) -> None:
        """Ask run() to return (signal handlers call this)."""
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        notify("STOPPING=1")
        self.supervisor.stop()
        if self._uplink_thread is not None:
            self._uplink_thread.join(5)
        self.uplink.close()
        self.outbox.close()
        log.info("agent stopped; %d messages kept in the outbox", self.outbox.depth)


def notify(state: str) -> None:
    """sd_notify: tell systemd we are ready / alive (no-op outside systemd)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            s.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify failed: %s", exc)


def run_agent(config_path: str) -> int:
    """Entry point of `shouwang agent --config FILE`."""
    import signal

    from edge_agent.config import load_agent_config

    cfg = load_agent_config(config_path)
    # pymodbus logs every timeout as an ERROR with a traceback; the driver counts and reports them instead
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    agent = Agent(cfg)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())
    return agent.run()
