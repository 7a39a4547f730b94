"""The edge agent on the cluster: MQTT 3.1.1, three node addresses; its node dies and it moves to the next one
with nothing lost (every seq of its meter stored, none skipped)."""

from __future__ import annotations

from pathlib import Path

from tests.cluster.conftest import ClusterRig, metered_agent, stored_seqs
from tests.helpers import wait_for


def test_the_agent_fails_over_to_another_node_and_loses_nothing(rig: ClusterRig, tmp_path: Path, uid: str) -> None:
    dev = f"wm-ag-{uid}"
    try:
        with metered_agent(rig, tmp_path, "cgw-b", dev, uid) as agent:
            wait_for(lambda: len(stored_seqs(rig, dev)) >= 10, 30, what="the agent's readings stored")
            rig.cluster.kill(0)
            before = len(stored_seqs(rig, dev))
            wait_for(lambda: agent.connected_count() >= 2, 30, what="the agent connected to another node")
            wait_for(lambda: len(stored_seqs(rig, dev)) >= before + 20, 30, what="readings stored after the failover")
            assert agent.stop() == 0
            seqs = wait_for(lambda: (s := stored_seqs(rig, dev)) and s == list(range(s[0], s[-1] + 1)) and s, 30,
                            what="every seq between the first and the last stored")
    finally:
        if not rig.cluster.procs[0].running():
            rig.cluster.restart(0)
    log = agent.log()
    assert f"connected to 127.0.0.1:{rig.cfg.broker.nats_nodes[0].mqtt_port}" in log
    assert any(f"connected to 127.0.0.1:{n.mqtt_port}" in log for n in rig.cfg.broker.nats_nodes[1:])
    assert len(seqs) >= 30 and seqs[0] == 1
