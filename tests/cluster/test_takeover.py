"""What a gateway's stolen credentials achieve against another gateway on NATS 2.9, measured.

NATS 2.9 does not bind an MQTT client id to the username (fixed upstream in 2.11.15 / 2.12.6, CVE-2026-33215;
docs/cluster.md): cgw-z's credentials connect with cgw-a's client id, again and again, and each time the node
drops cgw-a's agent. The agent keeps every reading in its durable outbox and sends it once connected again, so the
attack delays cgw-a's readings and loses none; the test counts both. Also: what a gateway publishing outside its
permissions sees (a PUBACK, MQTT 3.1.1 has no reason code) and that nothing of it is stored."""

from __future__ import annotations

import json
import time
from pathlib import Path

from benchmarks.clusterrig import IngestWorkers
from tests.cluster.conftest import ClusterRig, Gateway, Intruder, metered_agent, stored_seqs
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind

ATTACK_S = 15.0


def test_another_gateways_credentials_with_cgw_a_s_client_id_delay_its_readings_and_lose_none(
        rig: ClusterRig, tmp_path: Path, uid: str) -> None:
    dev = f"wm-to-{uid}"
    intruder = Intruder(rig, ["cgw-a"])
    with metered_agent(rig, tmp_path, "cgw-a", dev, uid) as agent:
        try:
            wait_for(lambda: len(stored_seqs(rig, dev)) >= 10, 30, what="the agent's readings stored")
            connects_before = agent.connected_count()
            stored_before = len(stored_seqs(rig, dev))
            intruder.start()
            time.sleep(ATTACK_S)
            intruder.stop()
            stored_in_attack = len(stored_seqs(rig, dev)) - stored_before
            connects_in_attack = agent.connected_count() - connects_before
            time.sleep(3.0)  # the agent reconnects and drains its outbox
            assert agent.stop() == 0
            seqs = wait_for(lambda: (s := stored_seqs(rig, dev)) and s == list(range(s[0], s[-1] + 1)) and s, 30,
                            what="every seq between the first and the last stored")
        finally:
            intruder.stop()
    report = {"attack_s": ATTACK_S, "intruder_connects": intruder.accepted, "agent_reconnects": connects_in_attack,
              "polled_in_attack": round(ATTACK_S / 0.2), "stored_during_attack": stored_in_attack,
              "stored_in_all": len(seqs), "lost": seqs[-1] - seqs[0] + 1 - len(seqs)}
    print(json.dumps(report))
    assert intruder.accepted > 0, "the node accepted cgw-z's credentials with cgw-a's client id (NATS 2.9)"
    assert connects_in_attack >= 1, "cgw-a's agent was thrown off and connected again"
    assert seqs[0] == 1 and report["lost"] == 0  # the outbox sent everything once the attack ended


def test_a_publish_outside_the_gateways_permissions_is_acknowledged_and_nothing_is_stored(
        rig: ClusterRig, uid: str) -> None:
    workers = IngestWorkers(rig.cfg, rig.config_file, 1).start()
    z = Gateway(rig, "cgw-z", client_id=f"cgw-z-{uid}")
    try:
        now = time.time_ns() // 1_000_000
        own = encode(Message("cgw-z", f"wm-own-{uid}", Channel.READING, Kind.WATER_METER, now, 1, {"total_l": 1.0}))
        forged = encode(Message("cgw-a", f"wm-forged-{uid}", Channel.READING, Kind.WATER_METER, now, 1,
                                {"total_l": 1.0}))
        # and the forged reading under the subject NATS stores MQTT messages at (ACLs were not applied in the $MQTT.>
        # namespace before 2.11.15 / 2.12.6, CVE-2026-33217)
        dollar = ("$MQTT/msgs/" + forged[0], forged[1])
        infos = [z.publish(*forged), z.publish(*dollar), z.publish(*own)]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published() and info.rc == 0  # PUBACK for both: the gateway cannot tell
        wait_for(lambda: rig.influx.rows(f"SELECT * FROM water_meter WHERE device = 'wm-own-{uid}'"), 30,
                 what="the gateway's own reading stored")
        # ingest handles the stream in order: the forged one, published first, would be stored by now
        assert rig.influx.rows(f"SELECT * FROM water_meter WHERE device = 'wm-forged-{uid}'") == []
        assert z.disconnects == 0  # NATS does not drop the connection either
    finally:
        z.close()
        workers.stop()
