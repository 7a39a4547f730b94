"""Partitions: engines that each own a share of the gateways, assigned through leases and rebalanced.

    alerts.partitions = n     the gateways are cut into n partitions, gateway g in partition crc32(g) mod n
                              (stable: the same on every engine, whatever the registry says)

Each partition is a lease (`alerts/p{k}of{n}`, alerts/lease.py) and an MQTT session of its own (client id
`{alerts.client_id}_p{k}of{n}`, persistent, subscribed to `sw/v1/{g}/#` for each registered gateway g of the
partition). While nobody holds a partition the broker queues its gateways' messages in that session; the engine
that takes the lease over connects with the same client id and receives them (and whatever the previous holder
had received but not acknowledged). So a rebalance loses nothing, and alerts are not raised twice because the
store remembers every episode.

Every engine keeps a membership lease (`alerts/member/<engine>`) and aims at its fair share,
ceil(n / engines alive): it takes a free partition while it holds fewer, and gives one up (stops consuming it,
then releases the lease) while it holds more -- one partition a round, so engines converge without a
coordinator. When an engine dies, its leases expire after the TTL and the others take its partitions over.

n = 1 is the standby case: one partition, one active engine, the others waiting for its lease.

Which gateways: those the registry names and every gateway that ever announced its presence (its retained
`sw/v1/{g}/state`, PRESENCE): each partition's session also subscribes to PRESENCE, and a gateway the registry
does not know yet (a button on it still raises, without a location) is added to its partition's subscriptions
when its presence arrives. What such a gateway published before its first presence reached the engine is not
received: register gateways before they connect.

Queued and held notifications (notify/dispatch.py) are resumed and digested by one partition each
(delivery_owner): the escalating partition 0 for the escalation events, otherwise the partition of the alert's
place (place_partitions), so two engines never send the same delivery.

An engine of a partition sees the registry's devices of its gateways only (registry_view), so its timers (silence,
inactivity) judge only what it hears. Escalation of open alerts (timers in the store, for every partition's
alerts) runs in the engine holding partition 0. A place whose devices sit on gateways of different partitions
(a household's meter and button on two gateways, a zone's cameras on two) is judged in parts: keep a place's
devices on one gateway, or use one partition.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Iterable

from registry.model import RegistrySnapshot

MEMBER_PREFIX = "alerts/member/"
PRESENCE = "sw/v1/+/state"  # every gateway's retained presence (wire/topics.py)
#: the notifications of the store-wide escalation timers (AlertManager.tick), which run in partition 0's engine
ESCALATION_EVENTS = frozenset({"escalated", "checkin_no_answer", "checkin_unreachable"})


def partition_of(gateway: str, n: int) -> int:
    """The partition a gateway belongs to."""
    return zlib.crc32(gateway.encode()) % n if n > 1 else 0


def lease_name(k: int, n: int) -> str:
    return f"alerts/p{k}of{n}"


def client_id(base: str, k: int, n: int) -> str:
    """The MQTT client id of a partition's session: the plain id when there is one partition (the standby case)."""
    return base if n == 1 else f"{base}_p{k}of{n}"


def registry_view(snap: RegistrySnapshot, k: int, n: int) -> RegistrySnapshot:
    """The registry as partition k's engine sees it: only the devices on its gateways."""
    if n == 1:
        return snap
    return dataclasses.replace(snap, devices={d: info for d, info in snap.devices.items()
                                              if partition_of(info.gateway, n) == k})


def gateways_of(snap: RegistrySnapshot, k: int, n: int) -> list[str]:
    """The registered gateways of partition k."""
    return sorted({info.gateway for info in snap.devices.values() if info.gateway and partition_of(info.gateway, n) == k})


def place_partitions(snap: RegistrySnapshot, n: int) -> dict[str, int]:
    """The partition answering for each place with devices at or under it: that of the first such device's gateway
    (in gateway order). Places without devices are partition 0's. The same on every engine of a registry revision."""
    first: dict[str, str] = {}
    for info in snap.devices.values():
        if not info.gateway:
            continue
        for node in snap.ancestors(info.place):
            if node.code not in first or info.gateway < first[node.code]:
                first[node.code] = info.gateway
    return {place: partition_of(g, n) for place, g in first.items()}


def delivery_owner(places: dict[str, int], place: str, event: str) -> int:
    """The partition whose engine resumes and digests a delivery of an alert of `place` for `event`."""
    return 0 if event in ESCALATION_EVENTS else places.get(place, 0)


def topics(gateways: Iterable[str]) -> list[str]:
    """The subscriptions of a partition's session: each gateway's devices and presence."""
    return [f"sw/v1/{g}/#" for g in gateways]


def fair_share(n: int, engines: int) -> int:
    return math.ceil(n / max(engines, 1))


def plan(n: int, held: set[int], taken: set[int], engines: int) -> tuple[int | None, int | None]:
    """One round of rebalancing: (a partition to try to take, a partition to give up); at most one of each.

    held: partitions this engine holds; taken: partitions some live engine holds (ours included)."""
    share = fair_share(n, engines)
    if len(held) > share:
        return None, max(held)  # the highest first: partition 0 (escalation) moves least
    if len(held) < share:
        free = sorted(set(range(n)) - taken)
        if free:
            return free[0], None
    return None, None
