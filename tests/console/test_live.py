"""The live path on real services: press -> engine -> webhook and SSE; API writes -> stream; InfluxDB readings."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx

from tests.conftest import now_ms
from tests.console.conftest import LiveStack
from tests.helpers import wait_for
from wire import Message, encode
from wire.models import Channel, Kind


class SseReader:
    """Reads an SSE stream on a thread and queues (event, data) pairs."""

    def __init__(self, url: str, token: str) -> None:
        self.q: queue.Queue[tuple[str, dict]] = queue.Queue()
        self.client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self.resp = self.client.send(self.client.build_request(
            "GET", f"{url}/api/stream", headers={"Authorization": f"Bearer {token}"}), stream=True)
        assert self.resp.status_code == 200 and self.resp.headers["content-type"].startswith("text/event-stream")
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        event, data = "message", []
        try:
            for line in self.resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line:
                    if data:
                        self.q.put((event, json.loads("\n".join(data))))
                    event, data = "message", []
        except (httpx.HTTPError, RuntimeError):
            return  # closed by the test

    def next_alert(self, pred, timeout: float = 5.0) -> dict:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching alert event on the stream")
            try:
                ev, data = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if ev == "alert" and pred(data):
                return data

    def close(self) -> None:
        self.resp.close()
        self.client.close()


def test_press_reaches_webhook_and_stream_and_acks_flow_back(live: LiveStack) -> None:
    gw1 = SseReader(live.url, live.token("gw1"))
    gw2 = SseReader(live.url, live.token("gw2"))
    try:
        t0 = time.monotonic()
        live.press("btn-0001")
        opened = gw1.next_alert(lambda d: d["place"] == "hh-0001" and d["action"] == "opened", timeout=5)
        assert time.monotonic() - t0 < 2.0
        assert opened["rule"] == "call_button" and opened["severity"] == "critical" and opened["state"] == "open"
        hook = live.http.wait(lambda rs: [r for r in rs if r.path == "/hook/c-gw1"], timeout=5)[0].json()
        # the title names the place as people say it (building and flat), never its registry code
        assert hook["title"] == "[紧急] 一键呼叫 — Building 3 Room 301", hook["title"]
        assert "hh-0001" not in hook["title"] + hook["message"] and f"{live.url}/ack/" in hook["message"]
        # the family's phone (ntfy on the local receiver) got it too
        live.http.wait(lambda rs: [r for r in rs if r.path == "/" and r.json().get("topic") == "fam1"], timeout=5)
        # gw2 works grid 2: the stream does not show them grid 1's press
        try:
            gw2.next_alert(lambda d: d["id"] == opened["id"], timeout=0.5)
            raise AssertionError("grid 2's worker saw grid 1's alert")
        except AssertionError as exc:
            assert "no matching" in str(exc)
        # acknowledging through the API shows on the stream at once
        r = httpx.post(f"{live.url}/api/alerts/{opened['id']}/acknowledge", json={"note": "on my way"},
                       headers={"Authorization": f"Bearer {live.token('gw1')}"}, timeout=10)
        assert r.status_code == 200
        acked = gw1.next_alert(lambda d: d["id"] == opened["id"] and d["action"] == "acknowledged", timeout=3)
        assert acked["state"] == "acknowledged" and acked["actor_channel"] == "console"
        # the detail answers "was the family told?"
        d = httpx.get(f"{live.url}/api/alerts/{opened['id']}", headers={"Authorization": f"Bearer {live.token('gw1')}"},
                      timeout=10).json()
        fam = [x for x in d["deliveries"] if x["contact"] == "c-fam1"]
        assert fam and wait_for(lambda: fam[0]["status"] in ("sent", "queued"), timeout=1)
    finally:
        gw1.close()
        gw2.close()


def test_readings_from_influxdb(live: LiveStack) -> None:
    influx = live.services.influx
    influx.ensure_database()
    gauge, meter, button = live.device("rg-01"), live.device("wm-0001"), live.device("btn-0002")
    t = now_ms()
    lines = []
    for i in range(24):  # a level rising through the warning line over the last 2 h
        ts = t - (24 - i) * 300_000
        lines.append(f"river_gauge,device={gauge},gateway=gw-b level_m={3.0 + 0.05 * i},seq={i}i {ts * 10**6}")
    for i, total in enumerate([100.0, 100.0, 105.0, 105.0, 105.0]):
        ts = t - (5 - i) * 600_000
        lines.append(f"water_meter,device={meter},gateway=gw-a total_l={total},seq={i}i {ts * 10**6}")
    lines.append(f"device_status,device={button},gateway=gw-a,kind=call_button battery_v=2.3,seq=1i {(t - 1000) * 10**6}")
    # what gw-z sent naming these devices (its own topics, any device id: ingest stores it as it came, tagged gw-z)
    # is not theirs: not a newer level, not a use of water, not a good battery
    lines.append(f"river_gauge,device={gauge},gateway=gw-z level_m=0.5,seq=900i {(t - 500) * 10**6}")
    lines.append(f"water_meter,device={meter},gateway=gw-z total_l=180.0,seq=900i {(t - 500) * 10**6}")
    lines.append(f"device_status,device={button},gateway=gw-z,kind=call_button battery_v=3.1,seq=900i {(t - 500) * 10**6}")
    influx.write("\n".join(lines).encode(), precision="ns")
    auth = {"Authorization": f"Bearer {live.token('staff')}"}
    lv = httpx.get(f"{live.url}/api/stations/rs-01/levels", params={"hours": 24}, headers=auth, timeout=10).json()
    assert lv["readings_available"] and len(lv["points"]) == 24
    assert lv["station"]["warning_m"] == 3.5 and abs(lv["station"]["level_m"] - 4.15) < 1e-9
    devs = {d["id"]: d for d in httpx.get(f"{live.url}/api/devices", headers=auth, timeout=10).json()["items"]}
    assert devs[button]["health"] == "low_battery" and devs[button]["battery_v"] == 2.3
    assert devs[gauge]["health"] == "ok"
    hh = httpx.get(f"{live.url}/api/households/hh-0001", headers={"Authorization": f"Bearer {live.token('fam1')}"},
                   timeout=10).json()
    assert hh["meter"] == meter and hh["total_l"] == 105.0
    assert hh["last_water_use"] == t - 3 * 600_000  # the reading where the register moved
    topic, body = encode(Message("gw-a", meter, Channel.READING, Kind.WATER_METER, t, 99, {"total_l": 106.0}))
    assert topic and body  # the same ids are valid on the wire
