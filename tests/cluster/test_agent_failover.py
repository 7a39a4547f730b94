"""The edge agent on the cluster: MQTT 3.1.1, three node addresses; its node dies and it moves to the next one
with nothing lost (every seq of its meter stored, none skipped)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.clusterrig import IngestWorkers
from firmware_sim.serial import MeterBus, PtyPort, SimMeter
from tests.cluster.conftest import ClusterRig
from tests.edge_agent.conftest import AgentProcess, write_agent_config
from tests.helpers import wait_for

M1 = "00000000000001"


def _seqs(rig: ClusterRig, device: str) -> list[int]:
    return sorted(int(r["seq"]) for r in rig.influx.rows(f"SELECT seq FROM water_meter WHERE device = '{device}'"))


def test_the_agent_fails_over_to_another_node_and_loses_nothing(rig: ClusterRig, tmp_path: Path, uid: str) -> None:
    dev = f"wm-ag-{uid}"
    urls = [f"mqtt://{n.host}:{n.mqtt_port}" for n in rig.cfg.broker.nats_nodes]
    mqtt = {"url": urls[0], "fallback_urls": urls[1:], "protocol": "3.1.1", "password": rig.passwords["cgw-b"],
            "reconnect_min_s": 0.2, "reconnect_max_s": 1.0}
    config = write_agent_config(tmp_path / "agent.toml", gateway="cgw-b", state_dir=tmp_path / "state", mqtt=mqtt,
                                drivers=[{"driver": "cjt188", "id": f"meters-{uid}", "port": str(tmp_path / "meters"),
                                          "poll_s": 0.2, "timeout_s": 0.3, "meters": [{"device": dev, "address": M1}]}])
    bus = MeterBus(PtyPort(tmp_path / "meters"), [SimMeter(M1)], lambda address, now: (1000.0 + now % 1000, None))
    bus.start()
    workers = IngestWorkers(rig.cfg, rig.config_file, 1).start()
    agent = AgentProcess(config, tmp_path / "agent.log").start()
    try:
        wait_for(lambda: len(_seqs(rig, dev)) >= 10, 30, what="the agent's readings stored")
        rig.cluster.kill(0)
        before = len(_seqs(rig, dev))
        wait_for(lambda: agent.connected_count() >= 2, 30, what="the agent connected to another node")
        wait_for(lambda: len(_seqs(rig, dev)) >= before + 20, 30, what="readings stored after the failover")
        assert agent.stop() == 0
        seqs = wait_for(lambda: (s := _seqs(rig, dev)) and s == list(range(s[0], s[-1] + 1)) and s, 30,
                        what="every seq between the first and the last stored")
    finally:
        agent.stop()
        workers.stop()
        bus.stop()
        if not rig.cluster.procs[0].running():
            rig.cluster.restart(0)
    log = agent.log()
    assert f"connected to 127.0.0.1:{rig.cfg.broker.nats_nodes[0].mqtt_port}" in log
    assert any(f"connected to 127.0.0.1:{n.mqtt_port}" in log for n in rig.cfg.broker.nats_nodes[1:])
    assert len(seqs) >= 30 and seqs[0] == 1
