"""Press to push: a call-button press published -> the notification POST at a webhook, and -> the SSE stream.

Run it from the repository root:

    .venv/bin/python benchmarks/notify_latency.py            # 200 presses
    .venv/bin/python benchmarks/notify_latency.py --short    # 40 presses, well under a minute

Real Mosquitto (project config and ACL) and influxd are started in a temp state dir on free
ports. The alerts service (MQTT consumer, SQLite store, sinks and the real ChannelNotifier
delivering through Apprise) runs in this process, the web API (`shouwang api`) as a child
process. Every grid worker's channel is a json:// webhook on a local HTTP receiver in this
process, and an SSE client in this process follows /api/stream as a community staff member,
so one monotonic clock times every end. Each press is on a new household (a new critical
alert), --every seconds apart, and is timed from just before the PUBLISH to
  - the moment the receiver has read the grid worker's notification POST (goal p99 < 300 ms);
  - the moment the `opened` event of that household arrives on the SSE stream.
The baseline beside them is the bare MQTT round trip (publish -> a subscriber in this process),
i.e. what the broker alone costs; ratios are shown against it and against the goal.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from registry.csvio import COLUMNS, import_rows  # noqa: E402
from registry.model import load_snapshot  # noqa: E402
from storage.sql import Database  # noqa: E402
from alerts.service import AlertsService  # noqa: E402
from broker_config import add_gateway  # noqa: E402
from console.auth import create_user  # noqa: E402
from console.scope import UserRole  # noqa: E402
from shouwang.config import load_config  # noqa: E402
from shouwang.procs import ChildProcess, free_port, free_port_pair, port_open  # noqa: E402
from shouwang.services import alerts_notifier, influxd_process, mosquitto_process  # noqa: E402
from tests.notify.receivers import HttpReceiver  # noqa: E402
from roundtrip import RoundTrip  # noqa: E402  (benchmarks/ is sys.path[0] for a script)
from wire import Message, encode  # noqa: E402
from wire.models import Channel, Kind  # noqa: E402

GATEWAY = "bench-btn"
GRIDS = 10
GOAL_P99_MS = 300.0
PASSWORD = "bench-password-1"



def registry_csv(households: int, hook_port: int) -> str:
    rows: list[dict[str, str]] = []

    def add(**kw: str) -> None:
        rows.append({c: kw.get(c, "") for c in COLUMNS})

    add(record="street", code="st-b")
    add(record="community", code="cm-b", parent="st-b")
    for g in range(GRIDS):
        add(record="grid", code=f"gr-{g}", parent="cm-b")
        add(record="contact", code=f"worker-{g}", parent=f"gr-{g}", role="grid_worker",
            channels=f"json://127.0.0.1:{hook_port}/hook/worker-{g}")
        add(record="building", code=f"bd-{g}", parent=f"gr-{g}")
    for i in range(households):
        hh = f"hh-{i:05d}"
        add(record="household", code=hh, parent=f"bd-{i % GRIDS}", flags="solitary_elderly", window_h="7")
        add(record="device", code=f"btn-{i:05d}", parent=hh, gateway=GATEWAY, kind="call_button", interval_s="86400")
        add(record="contact", code=f"fam-{i:05d}", parent=hh, role="family",
            channels=f"json://127.0.0.1:{hook_port}/hook/fam-{i:05d}")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class SseClient:
    """Follows /api/stream; records when each household's `opened` event arrived."""

    def __init__(self, url: str, token: str) -> None:
        self.opened: dict[str, int] = {}
        self.ready = threading.Event()
        self.cond = threading.Condition()
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self.resp = self.client.send(self.client.build_request(
            "GET", f"{url}/api/stream", headers={"Authorization": f"Bearer {token}"}), stream=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        event = ""
        try:
            for line in self.resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "hello":
                        self.ready.set()
                elif line.startswith("data:") and event == "alert":
                    t = time.perf_counter_ns()
                    d = json.loads(line[5:])
                    if d.get("action") == "opened":
                        with self.cond:
                            self.opened.setdefault(d["place"], t)
                            self.cond.notify_all()
        except (httpx.HTTPError, RuntimeError):
            return

    def close(self) -> None:
        self.resp.close()
        self.client.close()


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * (len(s) - 1)))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presses", type=int, default=200)
    ap.add_argument("--every", type=float, default=0.15, help="seconds between presses")
    ap.add_argument("--short", action="store_true", help="40 presses (CI smoke run)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    presses = 40 if args.short else args.presses
    state = Path(tempfile.mkdtemp(prefix="sw-bench-notify-"))
    receiver = HttpReceiver().start()
    hook_at: dict[str, int] = {}

    def on_hook(r) -> None:  # noqa: ANN001
        m = re.search(r"hh-\d{5}", r.json().get("title", ""))
        if r.path.startswith("/hook/worker-") and m:
            hook_at.setdefault(m.group(0), r.at_ns)

    receiver.on_receive = on_hook
    api_port = free_port()
    cfg_file = state / "shouwang.toml"
    cfg_file.write_text(
        f'state_dir = "{state}"\n[broker]\nport = {free_port()}\nservice_port = {free_port()}\n[influx]\nport = {free_port_pair()}\n'
        '[alerts]\nclient_id = "svc_alerts_bench"\ntick_s = 1.0\n'
        f'[api]\nport = {api_port}\nclient_id = "svc_api_bench"\n'
        '[notify]\nenabled = true\n')
    cfg = load_config(cfg_file, env={})
    broker = mosquitto_process(cfg)
    password = add_gateway(cfg.state_path / "broker", GATEWAY)[1]
    broker.start()
    influxd = influxd_process(cfg)
    influxd.start()
    svc = api = sse = rt = None
    try:
        with Database.from_config(cfg) as db:
            rep = import_rows(db, registry_csv(presses, receiver.port))
            assert not rep.errors, rep.errors[:3]
            create_user(db, load_snapshot(db), "bench", PASSWORD, UserRole.COMMUNITY_STAFF, ["cm-b"], now=0)
        svc = AlertsService(cfg, notifier=alerts_notifier(cfg))
        runner = threading.Thread(target=svc.run, name="alerts-service", daemon=True)
        runner.start()
        if not svc.ready.wait(30):
            raise RuntimeError("the alerts service did not subscribe")
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")}
        env["SHOUWANG_CONFIG"] = str(cfg_file)
        api = ChildProcess("api", [sys.executable, "-m", "shouwang", "api"], state / "api.log",
                           ready=lambda: port_open("127.0.0.1", api_port), env=env)
        api.start(timeout=60)
        url = f"http://127.0.0.1:{api_port}"
        token = httpx.post(f"{url}/api/login", json={"username": "bench", "password": PASSWORD}).json()["token"]
        sse = SseClient(url, token)
        if not sse.ready.wait(10):
            raise RuntimeError("no SSE hello")

        rt = RoundTrip(cfg, GATEWAY, password)
        echo = rt.echo
        # warm-up press (first-use costs: plugin import, connection pools), not counted
        sent_at: dict[str, tuple[int, str]] = {}
        for k in range(presses):
            hh, btn = f"hh-{k:05d}", f"btn-{k:05d}"
            topic, body = encode(Message(GATEWAY, btn, Channel.EVENT, Kind.CALL_BUTTON, time.time_ns() // 1_000_000, 1,
                                         {"action": "press"}))
            sent_at[hh] = (time.perf_counter_ns(), topic)
            rt.publish(topic, body)
            time.sleep(args.every)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (len(hook_at) < presses or len(sse.opened) < presses):
            time.sleep(0.05)
        svc.notifier.flush(10)
        warm = 1 if presses > 1 else 0
        keys = [f"hh-{k:05d}" for k in range(warm, presses)]
        mqtt_ms = [(echo[sent_at[h][1]] - sent_at[h][0]) / 1e6 for h in keys if sent_at[h][1] in echo]
        hook_ms = [(hook_at[h] - sent_at[h][0]) / 1e6 for h in keys if h in hook_at]
        sse_ms = [(sse.opened[h] - sent_at[h][0]) / 1e6 for h in keys if h in sse.opened]
        lost_hook, lost_sse = len(keys) - len(hook_ms), len(keys) - len(sse_ms)
        b50, b99 = pct(mqtt_ms, 50), pct(mqtt_ms, 99)
        h50, h99 = pct(hook_ms, 50), pct(hook_ms, 99)
        s50, s99 = pct(sse_ms, 50), pct(sse_ms, 99)
        fam_posts = len([r for r in receiver.received if r.path.startswith("/hook/fam-")])
        print(f"notify latency: {len(keys)} presses ({warm} warm-up not counted), {args.every:g} s apart, "
              f"{GRIDS} grids, SQLite store")
        print(f"  baseline, bare MQTT round trip:        p50 {b50:7.1f} ms  p99 {b99:7.1f} ms")
        print(f"  press -> webhook POST received:        p50 {h50:7.1f} ms  p99 {h99:7.1f} ms  "
              f"max {max(hook_ms):.1f} ms   p99 {h99 / b99:5.1f}x baseline, {h99 / GOAL_P99_MS:.2f} of the "
              f"{GOAL_P99_MS:.0f} ms goal: {'met' if h99 < GOAL_P99_MS else 'MISSED'}")
        print(f"  press -> `opened` on the SSE stream:   p50 {s50:7.1f} ms  p99 {s99:7.1f} ms  "
              f"max {max(sse_ms):.1f} ms   p99 {s99 / b99:5.1f}x baseline")
        print(f"  missing: {lost_hook} webhook POSTs, {lost_sse} SSE events; family POSTs received {fam_posts}")
        if args.json:
            args.json.write_text(json.dumps({
                "presses": len(keys), "every_s": args.every, "baseline_p50_ms": b50, "baseline_p99_ms": b99,
                "webhook_p50_ms": h50, "webhook_p99_ms": h99, "sse_p50_ms": s50, "sse_p99_ms": s99,
                "goal_p99_ms": GOAL_P99_MS, "lost_webhook": lost_hook, "lost_sse": lost_sse}, indent=2))
        return 0 if lost_hook == 0 and lost_sse == 0 else 1
    finally:
        if rt is not None:
            rt.close()
        if sse is not None:
            sse.close()
        if api is not None:
            api.stop()
        if svc is not None:
            svc.stop()
            time.sleep(0.5)
        receiver.stop()
        influxd.stop()
        broker.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
