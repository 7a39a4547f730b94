"""Camera analytics: motion, person, line-crossing and intrusion events in named zones, and tamper.

Background activity is a Poisson process (daytime rate, a night factor) of motion or
person detections as start/end pairs or single pulses with a score; some activities
are bursts of low-score motion pulses (wind in trees); tripwire zones see line
crossings; at night an occasional low-score intrusion (a cat) tests confirmation rules.
Scripted intrusions and tampering are labelled; the background is not (an alert on it
is a false alarm). In a live run (DeviceContext.live: the demo under `shouwang up`) the
background is motion only, which no zone watches (zones watch persons, intrusions or line
crossings), so the only camera alerts are the run's incidents, whatever the hour.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from firmware_sim.labels import Label, Rule, Source
from firmware_sim.models.base import EVENT, STATUS, DeviceContext, Emit, by_days, first_tick
from firmware_sim.scenario.schema import Camera
from firmware_sim.timeparse import DAY_MS, HOUR_MS


def _ev(kind: str, state: str, zone: str | None, score: float | None, event_id: str) -> dict:
    data: dict = {"type": kind, "state": state}
    if zone is not None:
        data["zone"] = zone
    if score is not None:
        data["score"] = score
    data["event_id"] = event_id
    return data


def _activity(cam: Camera, rng: random.Random, t: int, night: bool, new_id, items: list) -> None:  # noqa: ANN001
    areas = [z for z in cam.zones if z not in cam.lines] or list(cam.zones)
    if rng.random() < cam.burst_prob:
        zone = rng.choice(areas)
        for _ in range(rng.randint(3, 8)):
            t += int(rng.uniform(2, 12) * 1000)
            items.append((t, EVENT, _ev("motion", "pulse", zone, round(rng.uniform(0.3, 0.6), 2), new_id())))
        return
    if cam.lines and rng.random() < 0.15:
        items.append((t, EVENT, _ev("line_crossing", "pulse", rng.choice(cam.lines),
                                    round(rng.uniform(0.7, 0.97), 2), new_id())))
        return
    if night and rng.random() < 0.05:
        kind, score = "intrusion", round(rng.uniform(0.35, 0.6), 2)
    elif rng.random() < cam.person_share:
        kind, score = "person", round(rng.uniform(0.6, 0.98), 2)
    else:
        kind, score = "motion", round(rng.uniform(0.4, 0.95), 2)
    zone, eid = rng.choice(areas), new_id()
    if rng.random() < cam.pulse_share:
        items.append((t, EVENT, _ev(kind, "pulse", zone, score, eid)))
    else:
        items.append((t, EVENT, _ev(kind, "start", zone, score, eid)))
        items.append((t + int(rng.uniform(5, 90) * 1000), EVENT, _ev(kind, "end", zone, None, eid)))


def camera(ctx: DeviceContext, cam: Camera, incidents: list) -> Iterator[Emit]:
    """Events and hourly status of one camera."""
    cal = ctx.cal
    rng0 = ctx.rng("camera")
    status_phase = rng0.randrange(cam.status_interval)
    scripted: dict[int, list] = {}
    base = dict(devices=(ctx.device,), gateway=ctx.gateway)
    for n, inc in enumerate(incidents):
        t = cal.at(inc.day, inc.at)
        eid = f"{ctx.device}-s{n + 1:03d}"
        if inc.type == "intrusion":
            end = t + inc.duration
            items = [(t, EVENT, _ev("intrusion", "start", inc.zone, inc.score, eid)),
                     (t + 1000, EVENT, _ev("person", "start", inc.zone, min(1.0, inc.score + 0.03), eid + "p")),
                     (max(t + 2000, end - 5000), EVENT, _ev("person", "end", inc.zone, None, eid + "p")),
                     (end, EVENT, _ev("intrusion", "end", inc.zone, None, eid))]
            ctx.labels.add(Label("intrusion", Source.SCRIPTED, t, Rule.CAMERA_INTRUSION, end_ms=end,
                                 details={"zone": inc.zone, "score": inc.score, "event_id": eid,
                                          "alert_due_ms": t}, **base))
        else:  # tamper
            if inc.duration is None:
                items, end = [(t, EVENT, _ev("tamper", "pulse", None, 1.0, eid))], None
            else:
                end = t + inc.duration
                items = [(t, EVENT, _ev("tamper", "start", None, 1.0, eid)),
                         (end, EVENT, _ev("tamper", "end", None, None, eid))]
            ctx.labels.add(Label("tamper", Source.SCRIPTED, t, Rule.CAMERA_TAMPER, end_ms=end,
                                 details={"event_id": eid, "alert_due_ms": t}, **base))
        for it in items:
            scripted.setdefault(cal.day_of(it[0]), []).append(it)
    day_rate = cam.activity_per_hour
    night_rate = day_rate * cam.night_factor
    top = max(day_rate, night_rate)

    def day_items(d: int) -> list:
        mid, rng = cal.midnight(d), ctx.rng("activity", d)
        key, counter = cal.date_key(d), [0]

        def new_id() -> str:
            counter[0] += 1
            return f"{ctx.device}-{key}-{counter[0]:04d}"

        items = list(scripted.get(d, ()))
        n = first_tick(mid, cam.status_interval, status_phase)
        while n < mid + DAY_MS:
            items.append((n, STATUS, {"heartbeat": True}))
            n += cam.status_interval
        if top > 0:
            t = mid + rng.expovariate(top) * HOUR_MS
            while t < mid + DAY_MS:
                hour = (t - mid) / HOUR_MS
                night = not 6.5 <= hour < 22.0
                if rng.random() * top < (night_rate if night else day_rate):
                    first = len(items)
                    _activity(cam, rng, int(t), night, new_id, items)
                    if ctx.live:  # the same activity, seen as motion only (no rule watches it)
                        items[first:] = [(ts, ch, {**data, "type": "motion"}) for ts, ch, data in items[first:]]
                t += rng.expovariate(top) * HOUR_MS
        return items

    return by_days(ctx, day_items)
