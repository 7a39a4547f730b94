"""One-touch call button: presses on the event channel, a jittered daily heartbeat with battery on status.

Besides scripted presses (optionally repeated while nobody comes, or cancelled by the
resident), a button sees accidental presses cancelled seconds later (a false alarm the
rules must close; not in a live run, DeviceContext.live, where every press that opens an
alert is one of the run's incidents) and a periodic `test` press. The battery decays slowly; the
`battery_low` incident drops it below the low threshold from its time on.
"""

from __future__ import annotations

from collections.abc import Iterator

from firmware_sim.labels import Label, Rule, Source
from firmware_sim.models.base import EVENT, STATUS, DeviceContext, Emit, by_days, first_tick
from firmware_sim.scenario.community import HouseholdSpec
from firmware_sim.seeding import rng_for
from firmware_sim.timeparse import DAY_MS, HOUR_MS


def call_button(ctx: DeviceContext, hh: HouseholdSpec, incidents: list) -> Iterator[Emit]:
    """Events and heartbeats of one household's call button."""
    btn = hh.button
    assert btn is not None
    cal = ctx.cal
    rng0 = ctx.rng("button")
    interval, jitter = btn.heartbeat, min(btn.heartbeat_jitter, btn.heartbeat // 3)
    phase = rng0.randrange(interval)
    v0 = btn.battery_v - rng0.uniform(0.0, 0.08)
    test_offset = rng0.randrange(btn.test_every_days) if btn.test_every_days else None
    base = dict(household=hh.id, devices=(ctx.device,), gateway=ctx.gateway)

    def heartbeat_at(nominal: int) -> int:
        return nominal + int(rng_for(ctx.seed, ctx.device, "hb", nominal).uniform(-jitter, jitter))

    def next_heartbeat(t: int) -> int:
        n = first_tick(t - jitter, interval, phase)
        while heartbeat_at(n) < t:
            n += interval
        return heartbeat_at(n)

    low_at: int | None = None
    scripted: dict[int, list[tuple[int, object, dict]]] = {}
    for inc in incidents:
        t = cal.at(inc.day, inc.at)
        if inc.type == "battery_low":
            low_at = t if low_at is None else min(low_at, t)
            ctx.labels.add(Label("battery_low", Source.SCRIPTED, t, Rule.BATTERY_LOW,
                                 details={"battery_low_v": btn.battery_low_v,
                                          "alert_due_ms": next_heartbeat(t)}, **base))
        elif inc.type == "button_press":
            action = "long_press" if inc.long else "press"
            items = [(t + k * inc.repeat_every, EVENT, {"action": action}) for k in range(inc.repeat + 1)]
            cancel = None
            if inc.cancel_after is not None:
                cancel = t + inc.cancel_after
                items.append((cancel, EVENT, {"action": "cancel"}))
            for it in items:
                scripted.setdefault(cal.day_of(it[0]), []).append(it)
            ctx.labels.add(Label("button_" + action, Source.SCRIPTED, t, Rule.CALL_BUTTON, end_ms=cancel,
                                 details={"presses": inc.repeat + 1, "false_alarm": cancel is not None,
                                          "cancel_ms": cancel, "alert_due_ms": t}, **base))

    def battery(t: int, rng) -> float:  # noqa: ANN001
        days = (t - cal.start_ms) / DAY_MS
        if low_at is not None and t >= low_at:
            v = btn.battery_low_v - 0.05 - 0.002 * (t - low_at) / DAY_MS
        else:
            v = v0 - btn.battery_decay_v_per_day * days
        return round(max(0.0, v - rng.uniform(0, 0.01)), 3)

    def day_items(d: int) -> list:
        mid, rng = cal.midnight(d), ctx.rng("day", d)
        items = list(scripted.get(d, ()))
        n = first_tick(mid, interval, phase)
        while n < mid + DAY_MS:
            t = heartbeat_at(n)
            items.append((t, STATUS, {"battery_v": battery(t, rng), "rssi_dbm": float(rng.randint(-92, -55)),
                                      "heartbeat": True}))
            n += interval
        if rng.random() < btn.accidental_press_per_day and not ctx.live:
            t = mid + int(rng.uniform(7, 21) * HOUR_MS)
            cancel = t + int(rng.uniform(2, 12) * 1000)
            items += [(t, EVENT, {"action": "press"}), (cancel, EVENT, {"action": "cancel"})]
            ctx.labels.add(Label("accidental_press", Source.ROUTINE, t, Rule.CALL_BUTTON, end_ms=cancel,
                                 details={"false_alarm": True, "cancel_ms": cancel, "alert_due_ms": t}, **base))
        if test_offset is not None and (d - test_offset) % btn.test_every_days == 0:
            t = mid + int(rng.uniform(9.5, 11.5) * HOUR_MS)
            items.append((t, EVENT, {"action": "test"}))
            ctx.labels.add(Label("test_press", Source.ROUTINE, t, None, **base))
        return items

    return by_days(ctx, day_items)
