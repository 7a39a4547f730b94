"""`shouwang up` as a user runs it: whole stack, demo gateway credentials, single instance, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shouwang.config import load_config
from ground.errors import InfluxRejected
from storage.influx import InfluxClient
from shouwang.procs import free_port
from tests.conftest import now_ms, reading, write_config
from tests.helpers import MqttPeer, free_port_pair, wait_for


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in out.stdout.split()]


def test_up_runs_the_stack_and_stops_cleanly(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state",
                            broker={"port": free_port(), "service_port": free_port()}, influx={"port": free_port_pair()},
                            ingest={"metrics_port": free_port(), "flush_interval_ms": 100},
                            api={"port": free_port()})
    cfg = load_config(cfg_file, env={})
    log = open(tmp_path / "up.out", "w+")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    up = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "up"], stdout=log,
                          stderr=subprocess.STDOUT, env=env)
    try:
        wait_for(lambda: "Shouwang is up." in (tmp_path / "up.out").read_text(), timeout=60, what="banner")
        banner = (tmp_path / "up.out").read_text()
        cred_file = cfg.state_path / "broker" / "gateways" / "demo-gw-1.toml"
        assert str(cred_file) in banner
        assert f"mqtt://127.0.0.1:{cfg.broker.port}" in banner
        children = _children(up.pid)
        assert len(children) == 6  # mosquitto, influxd, ingest, alerts, api, sim (the demo scenario's devices)
        assert f"console       http://127.0.0.1:{cfg.api.port}/" in banner and "log in as staff / " in banner

        # a second `up` on the same state says so and leaves the first alone
        second = subprocess.run([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "up"],
                                capture_output=True, text=True, timeout=30, env=env, check=False)
        assert second.returncode == 2
        assert "already running" in second.stderr and str(up.pid) in second.stderr

        # a demo gateway's reading lands in InfluxDB
        password = cred_file.read_text().split('password = "')[1].split('"')[0]
        gw = MqttPeer(cfg.broker.port, "demo-gw-1", password).start()
        ts = now_ms() - 1000
        topic, body = reading("demo-gw-1", "meter-1", ts, 1, 42.0)
        gw.wait_acked([gw.publish(topic, body)])
        gw.stop()
        with InfluxClient(cfg.influx) as influx:
            rows = wait_for(lambda: influx.rows("SELECT total_l FROM water_meter WHERE device = 'meter-1'"),
                            timeout=30, what="the demo reading")
            assert rows == [{"time": ts, "total_l": 42.0}]
            # the demo scenario's simulated devices publish as the demo gateways
            wait_for(lambda: influx.rows("SELECT count(total_l) FROM water_meter WHERE device = 'wm-0001'"),
                     timeout=30, what="simulated demo readings")

        # a service that dies is restarted by the supervisor
        ingest_pid = next(p for p in children if b"ingest" in Path(f"/proc/{p}/cmdline").read_bytes())
        os.kill(ingest_pid, signal.SIGKILL)
        wait_for(lambda: len(_children(up.pid)) == 5 and ingest_pid not in _children(up.pid), timeout=30,
                 what="ingest restarted")

        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        remaining = children + [ingest_pid]
        time.sleep(0.5)
        assert not [p for p in remaining if os.path.exists(f"/proc/{p}") and
                    b"zombie" not in open(f"/proc/{p}/status", "rb").read().lower()]
        assert "Shouwang stopped." in (tmp_path / "up.out").read_text()
    finally:
        if up.poll() is None:
            up.terminate()  # stops its children too
            up.wait(60)
        log.close()


def test_up_uses_external_broker_and_influxdb(tmp_path: Path, services) -> None:  # noqa: ANN001
    """With broker.url and influx.url set, `up` launches neither and ingest writes to the external ones."""
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state",
                            broker={"url": f"mqtt://127.0.0.1:{services.port}",
                                    "service_url": f"mqtt://127.0.0.1:{services.cfg.broker.service_port}"},
                            influx={"url": services.cfg.influx.base_url, "database": "external_db"},
                            ingest={"metrics_port": free_port(), "client_id": "svc_ingest_external",
                                    "session_expiry_s": 10},
                            alerts={"client_id": "svc_alerts_external", "session_expiry_s": 10},
                            api={"port": free_port(), "client_id": "svc_api_external"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    with open(tmp_path / "up.out", "w+") as log:
        up = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "up"], stdout=log,
                              stderr=subprocess.STDOUT, env=env)
        try:
            wait_for(lambda: "Shouwang is up." in (tmp_path / "up.out").read_text(), timeout=60, what="banner")
            children = _children(up.pid)
            assert len(children) == 3  # only ingest, alerts and api
            commands = sorted(Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[3:-1] for c in children)
            assert commands == [[b"alerts", b"run"], [b"api"], [b"ingest"]]
            gw = services.gateway("gw-b")
            ts = now_ms() - 1000
            topic, body = reading("gw-b", "ext-meter", ts, 1, 7.0)
            gw.wait_acked([gw.publish(topic, body)])
            gw.stop()
            cfg = load_config(cfg_file, env={})
            with InfluxClient(cfg.influx) as influx:

                def landed() -> list[dict]:
                    try:
                        return influx.rows("SELECT total_l FROM water_meter WHERE device = 'ext-meter'")
                    except InfluxRejected:  # ingest has not created the database yet
                        return []

                rows = wait_for(landed, timeout=30, what="reading in the external database")
            assert rows == [{"time": ts, "total_l": 7.0}]
            up.send_signal(signal.SIGTERM)
            assert up.wait(60) == 0
        finally:
            if up.poll() is None:
                up.terminate()
                up.wait(60)


def test_children_stop_when_up_is_killed(tmp_path: Path) -> None:
    """SIGKILL of `up` (OOM killer, kill -9) must not leave an orphan broker holding the port."""
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state", broker={"port": free_port(), "service_port": free_port()},
                            influx={"port": free_port_pair()}, ingest={"metrics_port": free_port()},
                            api={"port": free_port()})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
    with open(tmp_path / "up.out", "w+") as log:
        up = subprocess.Popen([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "up"], stdout=log,
                              stderr=subprocess.STDOUT, env=env)
        try:
            wait_for(lambda: "Shouwang is up." in (tmp_path / "up.out").read_text(), timeout=60, what="banner")
            children = _children(up.pid)
            assert len(children) == 6  # mosquitto, influxd, ingest, alerts, api, sim
            up.kill()
            up.wait()
            wait_for(lambda: not [p for p in children if os.path.exists(f"/proc/{p}")], timeout=30,
                     what="children to exit")
        finally:
            if up.poll() is None:
                up.kill()
                up.wait()


def test_free_ports_are_outside_the_range_the_kernel_gives_outgoing_connections() -> None:
    """A port taken from the ephemeral range can be handed to any process's next outgoing connection before the
    child that was to listen on it binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(1024 < p < low for p in ports), ports
    pairs = [free_port_pair() for _ in range(20)]
    assert all(p + 1 < low for p in pairs)
    # a port handed out and not bound yet is not handed out again (a fixture picks several before starting any)
    given = ports + pairs + [p + 1 for p in pairs]
    assert len(set(given)) == len(given)
