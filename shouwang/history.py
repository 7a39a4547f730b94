"""A live scenario's past, written straight to InfluxDB before the alerts engine starts.

`shouwang up` runs its scenario live (firmware_sim/live.py). What lies before the point the devices
resume from — on a first start the scenario's days before now, on a restart the gap while the stack
was stopped — is history: it goes to InfluxDB as ingest would have stored it (ingest/lineproto.py),
so the console's charts have a past and the engine's rebuild finds each device's last report, each
household's last water use and the river's recent levels. It never passes through the broker, so the
engine judges none of it as live traffic and its clock is never moved by it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from firmware_sim.generate import Simulation
from firmware_sim.live import begin, save_state, state_file
from firmware_sim.scenario.community import Community
from ground.errors import InfluxRejected, InfluxUnavailable
from ingest.lineproto import message_line, state_line
from shouwang.config import Config
from storage.influx import InfluxClient
from wire.models import StateMessage

log = logging.getLogger(__name__)
BATCH = 5000


@dataclass(frozen=True, slots=True)
class History:
    """What was written: the live origin, the window [from_ms, to_ms) and how many points."""

    origin_ms: int
    from_ms: int
    to_ms: int
    points: int
    first_start: bool


def write_history(cfg: Config, community: Community, now_ms: int | None = None) -> History:
    """Write the scenario's traffic from where it last stood up to now; the devices resume from there."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    path = state_file(cfg.state_path, community.meta.name)
    st, after = begin(path, community, now)
    first = after < st.origin_ms
    points = 0
    if after < now - 1:
        sim = Simulation(community, st.anchor_ms(community), now, live_origin_ms=st.origin_ms)
        lines = [message_line(m) for m in sim.messages() if m.ts > after]
        # the gateways were up while their devices reported: presence as of the end of the history, so the
        # rebuilt engine does not see the last will of the previous run as an outage still going on
        lines += [state_line(StateMessage(gw, True, now - 1, {"online": True, "ts": now - 1}), now - 1)
                  for gw in sim.gateways]
        with InfluxClient(cfg.influx) as client:
            client.ensure_database()
            for i in range(0, len(lines), BATCH):
                client.write("\n".join(lines[i:i + BATCH]).encode())
        points = len(lines)
    save_state(path, replace(st, played_to_ms=max(now - 1, st.played_to_ms)))
    return History(st.origin_ms, after + 1, now, points, first)


def try_write_history(cfg: Config, community: Community) -> History | None:
    """write_history, or None (logged) when InfluxDB refuses: the engine then starts without that past."""
    try:
        return write_history(cfg, community)
    except (InfluxUnavailable, InfluxRejected) as exc:
        log.error("could not write the %s scenario's history to InfluxDB (%s): the charts and the engine start "
                  "without it", community.meta.name, exc)
        return None
