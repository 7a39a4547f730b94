"""Generate a scenario's traffic: a deterministic, time-ordered stream for [start_ms, end_ms).

Each device is a lazy generator (models/); heapq.merge of all of them on
(ts, device order, seq) gives one total order, so the same scenario, seed and window
give the same messages in the same order, byte for byte. `messages()` yields
wire.Message objects; `outgoing()` yields ready-to-publish payloads built without
pydantic (fast_payload, byte-identical to wire.encode; the tests check both decode).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

from firmware_sim.labels import Label, LabelSink, Rule, Source
from firmware_sim.live import place
from firmware_sim.models.base import Calendar, DeviceContext, Emit, silenced
from firmware_sim.models.button import call_button
from firmware_sim.models.camera import camera
from firmware_sim.models.gauge import river_gauge
from firmware_sim.models.water import water_meter
from firmware_sim.scenario.community import Community
from firmware_sim.stream import Control, Item, Outgoing, fast_payload
from wire.models import Channel, Kind, Message
from wire.topics import device_topic, state_topic


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A simulated device and its topics."""

    order: int
    id: str
    gateway: str
    kind: Kind
    topics: dict[Channel, str]


@dataclass(frozen=True, slots=True)
class Outage:
    """A gateway's uplink down from start_ms to end_ms (scripted or injected)."""

    gateway: str
    start_ms: int
    end_ms: int


class Simulation:
    """A scenario's devices over one window, ready to stream."""

    def __init__(self, community: Community, start_ms: int, end_ms: int | None, *,
                 live_origin_ms: int | None = None) -> None:
        """live_origin_ms: a live run (firmware_sim/live.py) from that origin: its live incidents, at their
        offsets from it, instead of the scripted days' incidents, and a background that crosses no rule
        (cameras see motion only, call buttons no accidental presses: DeviceContext.live)."""
        self.community = community
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.live_origin_ms = live_origin_ms
        self.cal = Calendar.for_window(community.zone, start_ms, end_ms)
        self.labels = LabelSink(start_ms, end_ms)
        self.devices: list[SimDevice] = []
        self.outages: list[Outage] = []
        self._streams: list[Iterator[Emit]] = []
        self._used = False
        self._build()

    def _add(self, dev_id: str, gateway: str, kind: Kind) -> DeviceContext:
        order = len(self.devices)
        topics = {ch: device_topic(gateway, dev_id, ch) for ch in Channel}
        self.devices.append(SimDevice(order, dev_id, gateway, kind, topics))
        return DeviceContext(dev_id, gateway, kind, order, self.community.seed, self.cal, self.labels,
                             live=self.live_origin_ms is not None)

    def _build(self) -> None:
        c = self.community
        by_target: dict[str, list] = {}
        if self.live_origin_ms is None:
            incidents = list(c.incidents)
        else:
            incidents = place(c, self.cal, self.live_origin_ms)
        for inc in incidents:
            if inc.type == "gateway_outage":
                t = self.cal.at(inc.day, inc.at)
                self.outages.append(Outage(inc.gateway, t, t + inc.duration))
                self.labels.add(Label("gateway_outage", Source.SCRIPTED, t, Rule.GATEWAY_OFFLINE, gateway=inc.gateway,
                                      end_ms=t + inc.duration, details={"alert_due_ms": t}))
                continue
            target = getattr(inc, "household", None) or getattr(inc, "button", None) or getattr(
                inc, "gauge", None) or getattr(inc, "camera", None) or getattr(inc, "device", None)
            by_target.setdefault(target, []).append(inc)
        makers = []
        for hh in c.households:
            if hh.meter:
                makers.append((self._add(hh.meter.id, hh.gateway, Kind.WATER_METER), water_meter, hh,
                               by_target.get(hh.id, []) + by_target.get(hh.meter.id, [])))
        for hh in c.households:
            if hh.button:
                makers.append((self._add(hh.button.id, hh.gateway, Kind.CALL_BUTTON), call_button, hh,
                               by_target.get(hh.button.id, [])))
        for g in c.gauges:
            makers.append((self._add(g.id, g.gateway, Kind.RIVER_GAUGE), river_gauge, g, by_target.get(g.id, [])))
        for cam in c.cameras:
            makers.append((self._add(cam.id, cam.gateway, Kind.CAMERA), camera, cam, by_target.get(cam.id, [])))
        for ctx, model, spec, incs in makers:
            silent = [i for i in incs if i.type == "device_silent"]
            stream = model(ctx, spec, [i for i in incs if i.type != "device_silent"])
            if silent:
                windows = []
                for inc in silent:
                    t = self.cal.at(inc.day, inc.at)
                    end = None if inc.duration is None else t + inc.duration
                    windows.append((t, end))
                    self.labels.add(Label("device_silent", Source.SCRIPTED, t, Rule.DEVICE_SILENT, end_ms=end,
                                          devices=(ctx.device,), gateway=ctx.gateway,
                                          household=getattr(spec, "id", None) if ctx.kind in (
                                              Kind.WATER_METER, Kind.CALL_BUTTON) else None))
                stream = silenced(stream, windows)
            self._streams.append(stream)

    @property
    def gateways(self) -> tuple[str, ...]:
        return tuple(sorted({d.gateway for d in self.devices}))

    def emissions(self) -> Iterator[Emit]:
        """All devices' emissions merged in (ts, device order, seq) order. A Simulation streams once."""
        if self._used:
            raise RuntimeError("this Simulation has already been streamed; make a new one for another pass")
        self._used = True
        return heapq.merge(*self._streams)

    def messages(self) -> Iterator[Message]:
        """The stream as wire.Message objects."""
        devices = self.devices
        for ts, order, seq, ch, data in self.emissions():
            dev = devices[order]
            yield Message(dev.gateway, dev.id, ch, dev.kind, ts, seq, data)

    def outgoing(self) -> Iterator[Outgoing]:
        """The stream as ready-to-publish messages (QoS 1), sent at their ts."""
        devices = self.devices
        kinds = [d.kind.value for d in devices]
        for ts, order, seq, ch, data in self.emissions():
            dev = devices[order]
            yield Outgoing(ts, dev.topics[ch], fast_payload(kinds[order], ts, seq, data), dev.gateway)

    def items(self, with_outages: bool = True) -> Iterator[Item]:
        """outgoing() with scripted gateway outages applied (messages held until the uplink returns)."""
        stream: Iterator[Item] = self.outgoing()
        if with_outages and self.outages:
            from firmware_sim.faults import apply_outages

            stream = apply_outages(stream, self.outages)
        return stream


def birth_message(gateway: str, at_ms: int, online: bool = True) -> Outgoing:
    """A gateway presence message (retained), as an agent sends on connect or its last will."""
    from wire.models import encode_state

    payload = encode_state(online, ts=at_ms) if online else encode_state(False)
    return Outgoing(at_ms, state_topic(gateway), payload, gateway, qos=1, retain=True)


def control_to_state(ctl: Control) -> Outgoing:
    """The state message a Control stands for, for file sinks (no live connection to drop)."""
    return birth_message(ctl.gateway, ctl.at_ms, ctl.online)
