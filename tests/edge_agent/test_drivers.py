"""Drivers against simulated devices on ptys and socat pairs: decoding, bad input, lost and restored ports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edge_agent.clock import SystemClock
from edge_agent.config import CallButtonDriver, Cjt188Driver, LocalMqttDriver, ModbusGaugeDriver, parse_section
from edge_agent.drivers.callbutton import ButtonReceiverDriver
from edge_agent.drivers.cjt188 import MeterBusDriver
from edge_agent.drivers.local_mqtt import LocalInputDriver
from edge_agent.drivers.modbus_gauge import GaugeBusDriver
from edge_agent.emit import Emitter
from edge_agent.outbox import Outbox
from fieldbus.callbutton_line import ButtonEvent
from fieldbus.cjt188 import MeterStatus, Unit, ValveState
from firmware_sim.serial import (
    CallButtonReceiver,
    GaugeInput,
    LineFaults,
    MeterBus,
    MeterFaults,
    ModbusGauge,
    PtyPort,
    SimMeter,
    SocatPort,
)
from tests.helpers import wait_for
from wire import decode
from wire.models import Message

M1, M2, M3 = "00000000000001", "00000000000002", "00000000000003"


class Rig:
    """An outbox and emitter for one driver under test, and the messages it queued."""

    def __init__(self, tmp: Path) -> None:
        self.clock = SystemClock()
        self.outbox = Outbox(tmp / "o.db", self.clock, max_messages=100_000, max_bytes=10**8, max_age_ms=10**9)
        self.emitter = Emitter("gw-t", self.outbox, self.clock)

    def messages(self, device: str | None = None, channel: str | None = None) -> list[Message]:
        events, rest = self.outbox.fetch(0, 0, 100_000, 100_000)
        msgs = [decode(r.topic, r.payload) for r in sorted(events + rest, key=lambda r: r.id)]
        return [m for m in msgs if isinstance(m, Message) and (device is None or m.device == device)
                and (channel is None or m.channel.value == channel)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.outbox.close()


@contextmanager
def running(driver) -> Iterator[threading.Thread]:
    stop = threading.Event()
    t = threading.Thread(target=driver.run, args=(stop,), daemon=True)
    t.start()
    try:
        yield t
    finally:
        stop.set()
        t.join(10)
        driver.close()
        assert not t.is_alive()


def meter_cfg(port: Path, **kw) -> Cjt188Driver:
    base = {"driver": "cjt188", "id": "meters", "port": str(port), "poll_s": 0.3, "timeout_s": 0.3, "retries": 2,
            "gap_s": 0.0, "meters": [{"device": "wm-1", "address": M1}, {"device": "wm-2", "address": M2},
                                     {"device": "wm-3", "address": M3}]}
    return parse_section(Cjt188Driver, base | kw)


def litres(address: str, now: float) -> tuple[float, MeterStatus | None]:
    if address == M2:
        return 5000.0, MeterStatus(ValveState.CLOSED, battery_low=True)
    return 1234.56, None


def test_meter_bus_reads_every_meter(tmp_path: Path, rig: Rig) -> None:
    meters = [SimMeter(M1), SimMeter(M2, unit=Unit.L), SimMeter(M3)]
    with MeterBus(PtyPort(tmp_path / "rs485"), meters, litres) as bus:
        drv = MeterBusDriver(meter_cfg(bus.path), rig.emitter, rig.clock)
        with running(drv):
            wait_for(lambda: len(rig.messages("wm-3", "reading")) >= 2, 10, what="two polls of each meter")
    one = rig.messages("wm-1", "reading")[0]
    assert one.data == {"total_l": 1230.0, "valve_open": True}   # m3 register: 10 L resolution, truncated
    two = rig.messages("wm-2", "reading")[0]
    assert two.data == {"total_l": 5000.0, "valve_open": False}
    assert rig.messages("wm-2", "status")[0].data == {"fault": "battery_low"}   # once, on change
    assert len(rig.messages("wm-2", "status")) == 1
    assert drv.stats.get("errors") == 0 and drv.stats.get("ok") >= 6


def test_meter_bus_counts_bad_input_and_keeps_good_readings(tmp_path: Path, rig: Rig) -> None:
    faults = MeterFaults(bad_checksum=0.2, garbage=0.3, no_answer=0.2, split=0.3, abnormal=0.1,
                         silent=frozenset({M3}))
    with MeterBus(PtyPort(tmp_path / "rs485"), [M1, M2, M3], litres, faults=faults, seed=3) as bus:
        drv = MeterBusDriver(meter_cfg(bus.path, timeout_s=0.15), rig.emitter, rig.clock)
        with running(drv):
            wait_for(lambda: len(rig.messages("wm-1", "reading")) >= 4 and len(rig.messages("wm-2", "reading")) >= 4,
                     20, what="readings despite faults")
        counters = dict(bus.stats.counters)
    s = drv.stats
    assert s.get("checksum_errors") > 0 and s.get("garbage") > 0 and s.get("timeouts") > 0
    assert s.get("bad_values") > 0 or counters.get("abnormal", 0) == 0       # abnormal replies are counted
    assert "wm-3" in s.devices_down and not rig.messages("wm-3", "reading")  # the silent meter
    assert rig.messages("wm-3", "status")[0].data == {"fault": "no_response"}
    snap = s.snapshot()
    assert snap["devices_down"] == 1 and snap["errors"] >= snap["timeouts"] + snap["checksum_errors"]
    # every reading queued is a good one: the simulated register, never a corrupted value
    assert {m.data["total_l"] for m in rig.messages("wm-1", "reading")} == {1230.0}


def test_meter_bus_survives_link_cut_and_restore(tmp_path: Path, rig: Rig) -> None:
    port = SocatPort(tmp_path / "usb0")
    with MeterBus(port, [M1], litres) as bus:
        cfg = meter_cfg(port.path, meters=[{"device": "wm-1", "address": M1}], poll_s=0.1, reopen_max_s=0.5)
        drv = MeterBusDriver(cfg, rig.emitter, rig.clock)
        with running(drv) as thread:
            wait_for(lambda: rig.messages("wm-1", "reading"), 10, what="first reading")
            port.kill()                                    # USB adapter pulled: the port vanishes
            wait_for(lambda: drv.stats.port_down, 10, what="driver noticing the lost port")
            time.sleep(1.0)
            before = len(rig.messages("wm-1", "reading"))
            port.start()                                   # ... and plugged back in
            wait_for(lambda: bus.connected, 5, what="simulated meter reattached")
            wait_for(lambda: len(rig.messages("wm-1", "reading")) > before + 2, 15, what="readings again")
            assert thread.is_alive() and not drv.stats.port_down
    assert drv.stats.get("port_errors") >= 1


def gauge_cfg(port: Path, **gauge) -> ModbusGaugeDriver:
    return parse_section(ModbusGaugeDriver, {"driver": "modbus_gauge", "id": "river", "port": str(port),
                                             "poll_s": 0.2, "timeout_s": 0.3, "retries": 1, "reopen_max_s": 0.5,
                                             "gauges": [{"device": "rg-1"} | gauge]})


class Level:
    def __init__(self) -> None:
        self.value: float | GaugeInput | None = 2.5

    def __call__(self, now: float) -> float | GaugeInput | None:
        return self.value


def test_gauge_stage_from_mount_height_faults_range_and_relink(tmp_path: Path, rig: Rig) -> None:
    level = Level()
    port = SocatPort(tmp_path / "gauge")
    gauge = ModbusGauge(port, level, mount_height_m=8.0).start()
    try:
        cfg = gauge_cfg(port.path, mount_height_m=8.3, max_level_m=6.0)
        drv = GaugeBusDriver(cfg, rig.emitter, rig.clock)
        with running(drv) as thread:
            first = wait_for(lambda: rig.messages("rg-1", "reading"), 10, what="a gauge reading")[0]
            # distance 5.5 m measured; the config's mount height 8.3 m gives the stage 2.8 m
            assert first.data == {"level_m": 2.8, "raw_distance_m": 5.5}
            level.value = None                               # no echo: sensor fault
            wait_for(lambda: drv.stats.get("bad_values") > 0, 10, what="sensor fault counted")
            assert any(m.data.get("fault") == "sensor_fault" for m in rig.messages("rg-1", "status"))
            level.value = GaugeInput(0.5)                    # distance 7.5 m -> 0.8 m
            n = len(rig.messages("rg-1", "reading"))
            wait_for(lambda: len(rig.messages("rg-1", "reading")) > n, 10, what="readings after the fault")
            level.value = 7.9                                # stage 8.2 m > max_level_m 6.0: out of range
            wait_for(lambda: drv.stats.get("out_of_range") > 0, 10, what="out-of-range counted")
            level.value = 2.0
            gauge.cut()                                      # port gone
            wait_for(lambda: drv.stats.port_down, 10, what="lost gauge port")
            gauge.restore()
            n = len(rig.messages("rg-1", "reading"))
            wait_for(lambda: len(rig.messages("rg-1", "reading")) > n, 15, what="gauge readings after relink")
            assert thread.is_alive()
        levels = [m.data["level_m"] for m in rig.messages("rg-1", "reading")]
        assert max(levels) <= 6.0 and 0.8 in levels and 2.3 in levels   # stage = 8.3 - (8.0 - simulated level)
    finally:
        gauge.stop()


def test_gauge_wrong_unit_id_times_out_and_is_marked_down(tmp_path: Path, rig: Rig) -> None:
    with ModbusGauge(SocatPort(tmp_path / "g"), lambda now: 1.0) as gauge:
        drv = GaugeBusDriver(gauge_cfg(gauge.path, unit_id=7), rig.emitter, rig.clock)
        with running(drv):
            wait_for(lambda: "rg-1" in drv.stats.devices_down, 10, what="silent gauge marked down")
    assert drv.stats.get("timeouts") >= 2 and not rig.messages("rg-1", "reading")
    assert rig.messages("rg-1", "status")[0].data == {"fault": "no_response"}


def button_cfg(port: Path, **kw) -> CallButtonDriver:
    return parse_section(CallButtonDriver, {"driver": "callbutton", "id": "buttons", "port": str(port),
                                            "buttons": {"B0001": "cb-0001"}} | kw)


def test_call_buttons_events_heartbeats_and_bad_lines(tmp_path: Path, rig: Rig) -> None:
    faults = LineFaults(garbage=0.3, split=0.3)
    with CallButtonReceiver(PtyPort(tmp_path / "rx"), faults=faults, seed=5) as rx:
        drv = ButtonReceiverDriver(button_cfg(rx.path), rig.emitter, rig.clock)
        with running(drv):
            wait_for(lambda: not drv.stats.port_down and drv.link.port is not None, 5, what="port open")
            rx.emit("B0001", ButtonEvent.PRESS)
            rx.emit("B0001", ButtonEvent.CANCEL)
            rx.emit("B7", ButtonEvent.LONG)                  # not listed: cb-b7
            rx.emit("B0001", ButtonEvent.HB, battery_mv=2900, rssi_dbm=-71)
            rx.send(b"\x00\xff$CB,B0001,PRESS,99,3000,-60*00\r\n")   # wrong checksum
            rx.send(b"$CB,B0001,EXPLODE,5,3000,-60*" + b"%02X" % _xor(b"CB,B0001,EXPLODE,5,3000,-60") + b"\r\n")
            rx.send(b"\xfe" * 200 + b"\n")                    # garbage run without a line
            line = b"$CB,B0001,TEST,40,3000,-60*" + b"%02X" % _xor(b"CB,B0001,TEST,40,3000,-60") + b"\r\n"
            rx.send(line)
            rx.send(line)                                    # radio retransmission: same seq
            wait_for(lambda: len(rig.messages("cb-0001", "event")) >= 3, 10, what="button events")
            time.sleep(0.3)
    assert [m.data["action"] for m in rig.messages("cb-0001", "event")] == ["press", "cancel", "test"]
    assert rig.messages("cb-b7", "event")[0].data == {"action": "long_press"}
    assert rig.messages("cb-0001", "status")[0].data == {"heartbeat": True, "battery_v": 2.9, "rssi_dbm": -71.0}
    s = drv.stats
    assert s.get("checksum_errors") == 1 and s.get("bad_values") == 1 and s.get("duplicates") == 1
    assert s.get("bad_frames") + s.get("garbage") >= 2


def _xor(body: bytes) -> int:
    value = 0
    for b in body:
        value ^= b
    return value


def test_unlisted_buttons_can_be_ignored(tmp_path: Path, rig: Rig) -> None:
    drv = ButtonReceiverDriver(button_cfg(tmp_path / "none", unknown_prefix=""), rig.emitter, rig.clock)
    drv.feed(b"$CB,B9,PRESS,1,3000,-60*" + b"%02X" % _xor(b"CB,B9,PRESS,1,3000,-60") + b"\r\n")
    assert drv.stats.get("bad_values") == 1 and not rig.messages()


def test_local_mqtt_mapping(tmp_path: Path, rig: Rig) -> None:
    cfg = parse_section(LocalMqttDriver, {"driver": "local_mqtt", "id": "cams", "devices": {
        "gate": {"device": "cam-1", "kind": "camera"}, "tank": {"device": "wm-9", "kind": "water_meter"}}})
    drv = LocalInputDriver(cfg, rig.emitter, rig.clock, "gw-t")
    ts = rig.clock.now_ms() - 5000
    assert drv.handle("local/gate/event", b'{"type":"person","state":"start","zone":"north","score":0.91}')
    assert drv.handle("local/tank/reading", b'{"ts":%d,"data":{"total_l":42.5}}' % ts)
    assert not drv.handle("local/gate/event", b'{"type":"fire","state":"start"}')        # contract refuses
    assert not drv.handle("local/unknown/event", b'{"type":"motion","state":"pulse"}')   # unmapped
    assert not drv.handle("local/gate/event", b"\xff{not json")
    assert not drv.handle("local/gate/event", b"[1,2]")
    assert not drv.handle("local/tank/reading", b'{"ts":"yesterday","data":{"total_l":1}}')
    cam = rig.messages("cam-1")[0]
    assert cam.data == {"type": "person", "state": "start", "zone": "north", "score": 0.91}
    tank = rig.messages("wm-9")[0]
    assert tank.ts == ts and tank.data == {"total_l": 42.5}
    s = drv.stats
    assert s.get("out_of_range") == 1 and s.get("bad_frames") == 2 and s.get("bad_values") == 2
    drv.close()


def test_button_receiver_survives_link_cut_and_restore(tmp_path: Path, rig: Rig) -> None:
    port = SocatPort(tmp_path / "rx")
    with CallButtonReceiver(port) as rx:
        drv = ButtonReceiverDriver(button_cfg(port.path, reopen_max_s=0.5), rig.emitter, rig.clock)
        with running(drv) as thread:
            wait_for(lambda: drv.link.port is not None, 5, what="port open")
            rx.emit("B0001", ButtonEvent.PRESS)
            wait_for(lambda: rig.messages("cb-0001", "event"), 5, what="first press")
            port.kill()
            wait_for(lambda: drv.stats.port_down, 10, what="lost receiver port noticed")
            port.start()
            wait_for(lambda: rx.connected and drv.link.port is not None, 10, what="receiver port reopened")
            rx.emit("B0001", ButtonEvent.CANCEL)
            wait_for(lambda: len(rig.messages("cb-0001", "event")) == 2, 10, what="press after the relink")
            assert thread.is_alive()
    assert [m.data["action"] for m in rig.messages("cb-0001", "event")] == ["press", "cancel"]
