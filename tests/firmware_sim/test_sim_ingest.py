"""`sim run demo --fast` into the real ingest: accepted with zero rejections; injected corruption is what ingest rejects."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

from firmware_sim.faults import FaultInjector, FaultSpec
from firmware_sim.generate import Simulation
from firmware_sim.labels import read_labels
from firmware_sim.scenario import load_scenario
from firmware_sim.stream import Outgoing
from firmware_sim.timeparse import HOUR_MS
from tests.conftest import Services
from tests.firmware_sim.conftest import run_cli
from tests.helpers import IngestProcess, wait_for
from wire import ContractError, decode



def _rejected(ingest: IngestProcess) -> float:
    return sum(v for k, v in ingest.metrics().items() if k.startswith("ingest_messages_rejected_total"))


def _points(services: Services, measurement: str, start: int, end: int) -> int:
    # every point ingest writes has a `seq` field; count(*) would answer null for a field with no value in
    # the window (InfluxDB 1.6)
    rows = services.influx.rows(f"SELECT count(seq) FROM {measurement} WHERE gateway =~ /^demo-gw-/ "
                                f"AND time >= {start}ms AND time < {end}ms")
    return int(rows[0]["count"]) if rows else 0


def _recent_day(weeks_back: int) -> dt.date:
    """A Monday some weeks back: the same weekday (the demo's routines) on any date, inside InfluxDB's retention
    and the contract's accepted age, in a window no other test writes to."""
    today = dt.date.today()
    return today - dt.timedelta(days=today.weekday() + 7 * weeks_back)


def _expected_points(outs: list[Outgoing]) -> Counter:
    n: Counter = Counter()
    for o in outs:
        try:
            msg = decode(o.topic, o.payload)
        except ContractError:
            continue
        n["device_status" if o.topic.endswith("/status") else msg.kind.value] += 1
    return n


def test_demo_traffic_is_accepted_by_ingest_with_zero_rejections(demo_services: Services, ingest: IngestProcess,
                                                                 tmp_path: Path) -> None:
    c = load_scenario("demo")
    day = _recent_day(2)
    start = c.start_ms(day)
    end = start + 3 * HOUR_MS
    before = _rejected(ingest)
    out = run_cli(demo_services.config_file, "sim", "run", "demo", "--fast", "--start", day.isoformat(),
                  "--duration", "3h", "--labels", str(tmp_path / "labels.jsonl"),
                  "--summary-json", str(tmp_path / "summary.json"))
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    expected = _expected_points(list(Simulation(c, start, end).outgoing()))
    assert summary["messages"] == sum(expected.values()) and summary["delivery"]["acked"] == summary["messages"]
    for measurement, n in expected.items():
        wait_for(lambda m=measurement, n=n: _points(demo_services, m, start, end) == n, timeout=30,
                 what=f"{n} {measurement} points in InfluxDB")
    assert _rejected(ingest) == before == 0
    labels = read_labels(tmp_path / "labels.jsonl")
    assert {"intrusion"} <= {lab["what"] for lab in labels}  # 02:15 is inside the three hours
    assert all(start <= lab["start_ms"] < end for lab in labels)


def test_injected_corruption_is_exactly_what_ingest_rejects(demo_services: Services, ingest: IngestProcess,
                                                            tmp_path: Path) -> None:
    c = load_scenario("demo")
    day = _recent_day(3)
    start = c.start_ms(day)
    end = start + HOUR_MS
    before = _rejected(ingest)
    out = run_cli(demo_services.config_file, "sim", "run", "demo", "--fast", "--start", day.isoformat(),
                  "--duration", "1h", "--drop", "5", "--corrupt", "5", "--fault-seed", "99",
                  "--summary-json", str(tmp_path / "summary.json"))
    assert out.returncode == 0, out.stderr
    faults = json.loads((tmp_path / "summary.json").read_text())["faults"]
    assert 0 < faults["corrupted"] and 0 < faults["dropped"]
    # the same faults, reproduced in process from the seed
    inj = FaultInjector(FaultSpec(drop_pct=5, corrupt_pct=5, seed=99))
    outs = list(inj.apply(Simulation(c, start, end).outgoing()))
    assert inj.report.as_dict() == faults
    wait_for(lambda: _rejected(ingest) - before == faults["corrupted"], timeout=30,
             what=f"{faults['corrupted']} rejections")
    for measurement, n in _expected_points(outs).items():
        wait_for(lambda m=measurement, n=n: _points(demo_services, m, start, end) == n, timeout=30,
                 what=f"{n} {measurement} points")
