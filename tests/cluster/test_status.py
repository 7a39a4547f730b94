"""`shouwang status` on a NATS cluster: the broker line from the nodes' monitoring endpoints, counts only."""

from __future__ import annotations

import json

from shouwang.status import gather, render
from tests.cluster.conftest import ClusterRig, Gateway
from tests.helpers import wait_for


def test_status_reads_the_nodes_counters_and_names_no_client(rig: ClusterRig) -> None:
    gw = Gateway(rig, "cgw-c")
    try:
        st = gather(rig.cfg)
        assert "broker" not in st.errors, st.errors
        assert st.broker["nodes_up"] == 3 and st.broker["nodes"] == 3
        assert st.broker["clients_connected"] >= 1  # the gateway above, at least
        assert isinstance(st.broker["messages_received"], int) and isinstance(st.broker["stored_messages"], int)
        assert "cgw-c" not in json.dumps(st.broker)  # counts, never a client's name or id
        assert "集群节点在线 3/3" in render(st, "zh")
        assert "cluster nodes up 3/3" in render(st, "en")
        rig.cluster.kill(2)
        try:
            st = gather(rig.cfg)
            assert st.broker["nodes_up"] == 2 and st.broker["nodes_down"] == [rig.cfg.broker.nats_nodes[2].name]
            assert "2/3" in render(st, "zh")
        finally:
            rig.cluster.restart(2)
        wait_for(lambda: gather(rig.cfg).broker.get("nodes_up") == 3, 30, what="the node back in status")
    finally:
        gw.close()
