"""Make a running broker reread its password files and ACLs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from broker_config.nats import reload_nats_nodes


def reload_running_broker(broker_dir: Path) -> bool:
    """SIGHUP the broker started by `shouwang up` (pid in <broker_dir>/mosquitto.pid), or the NATS nodes of this
    state dir after rewriting their users (broker_config.nats); False if none runs."""
    if reload_nats_nodes(broker_dir):
        return True
    try:
        pid = int((broker_dir / "mosquitto.pid").read_text())
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if b"mosquitto" not in fh.read():
                return False
        os.kill(pid, signal.SIGHUP)
        return True
    except (OSError, ValueError):
        return False
