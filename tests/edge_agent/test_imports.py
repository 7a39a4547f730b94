"""The agent's import chain stays free of the server's heavy libraries (its RSS goal is 40 MB on a gateway).

benchmarks/agent_footprint.py measures the RSS; this guards the cause found there: importing pydantic
(the server config, FastAPI models) cost the agent ~16 MB, and SQLAlchemy/FastAPI/numpy would cost more.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from shouwang.procs import free_port

HEAVY = {"pydantic", "pydantic_core", "fastapi", "starlette", "sqlalchemy", "alembic", "numpy", "httpx", "apprise",
         "rich"}
NEEDED = {"edge_agent", "wire", "msgspec", "paho", "pymodbus", "serial", "sqlite3"}

CONFIG = """
gateway = "gw-imp"
state_dir = "{state}"
[mqtt]
url = "mqtt://127.0.0.1:{port}"
[[drivers]]
driver = "cjt188"
id = "meters"
port = "{tmp}/no-meter-port"
meters = [{{ device = "wm-1", address = "00000000000001" }}]
[[drivers]]
driver = "modbus_gauge"
id = "river"
port = "{tmp}/no-gauge-port"
gauges = [{{ device = "rg-1" }}]
[[drivers]]
driver = "callbutton"
id = "buttons"
port = "{tmp}/no-button-port"
[[drivers]]
driver = "local_mqtt"
id = "cams"
url = "mqtt://127.0.0.1:{port}"
devices = {{ gate = {{ device = "cam-1", kind = "camera" }} }}
"""

_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(.+)$", re.M)


def test_running_agent_does_not_import_server_libraries(tmp_path: Path) -> None:
    """`python -m shouwang agent` (what systemd runs) with every driver: agent, drivers, wire, nothing heavier."""
    cfg = tmp_path / "agent.toml"
    cfg.write_text(CONFIG.format(state=tmp_path / "state", port=free_port(), tmp=tmp_path))
    err = tmp_path / "stderr"
    with err.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "shouwang", "agent", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=sink)
        try:
            deadline = time.monotonic() + 30
            imported: set[str] = set()
            while time.monotonic() < deadline and not NEEDED <= imported:
                time.sleep(0.2)
                imported = {m.strip().split(".")[0] for m in _LINE.findall(err.read_text())}
                assert proc.poll() is None, err.read_text()[-2000:]
            time.sleep(1.0)  # let the drivers' first attempts and the uplink's first connect run too
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    imported = {m.strip().split(".")[0] for m in _LINE.findall(err.read_text())}
    assert NEEDED <= imported, f"not imported: {sorted(NEEDED - imported)} (the probe did not reach every driver)"
    assert not imported & HEAVY, sorted(imported & HEAVY)
