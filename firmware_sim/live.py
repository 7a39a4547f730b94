"""A scenario run live: devices at real time from an origin, incidents at offsets from it, resumable.

`shouwang up` runs its scenario this way (`sim run SCENARIO --live`). The origin is the instant the
scenario first went live on a state directory; it is kept, with how far the run has played, in
`<state>/sim/<scenario>.json`, so that

- the traffic is one deterministic stream anchored at `origin - days` (the scenario's days before the
  origin are its history: `shouwang up` writes them to InfluxDB before the alerts engine starts, so
  charts and the engine's rebuild have a past, and they never pass through the live alert path);
- the live incidents (`after = "2m"`, a fall's `window_ends_after`) happen once, at their offset
  from the origin; a restart resumes at the wall clock and does not replay what was played (the gap
  while it was stopped is written as history by `up`, like the first day).

Pure: the state file and the placement of incidents; no broker, no InfluxDB.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from firmware_sim.models.base import Calendar
from firmware_sim.scenario.community import Community, HouseholdSpec
from firmware_sim.scenario.schema import TapLeftRunning
from firmware_sim.timeparse import DAY_MS, MINUTE_MS

log = logging.getLogger(__name__)
#: the hand-wash (2 min) that marks a fallen resident's last use ends at the fall
WASH_MS = 2 * MINUTE_MS
#: a window that would end in the household's sleep ends this many minutes after it wakes
WAKE_MARGIN_MIN = 2


@dataclass(frozen=True, slots=True)
class LiveState:
    """Where a live scenario stands on a state directory."""

    scenario: str
    seed: int
    origin_ms: int  # first went live: live incidents count from here
    played_to_ms: int  # traffic up to here was published or written as history

    def anchor_ms(self, community: Community) -> int:
        """Start of the deterministic stream: the scenario's days before the origin."""
        return self.origin_ms - community.meta.days * DAY_MS


def state_file(state_dir: Path, scenario: str) -> Path:
    return state_dir / "sim" / f"{scenario}.json"


def load_state(path: Path, community: Community) -> LiveState | None:
    """The saved state of this scenario and seed; None if there is none (or it was of another seed)."""
    try:
        data = json.loads(path.read_text())
        st = LiveState(str(data["scenario"]), int(data["seed"]), int(data["origin_ms"]), int(data["played_to_ms"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s unreadable (%s): the scenario starts live again from now", path, exc)
        return None
    if st.scenario != community.meta.name or st.seed != community.seed:
        log.info("%s is of scenario %s seed %d, not %s seed %d: starting live again from now", path, st.scenario,
                 st.seed, community.meta.name, community.seed)
        return None
    return st


def save_state(path: Path, st: LiveState) -> None:
    """Write the state atomically (a crash leaves the old or the new file, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(st), indent=1))
    tmp.replace(path)


def begin(path: Path, community: Community, now_ms: int) -> tuple[LiveState, int]:
    """The state to run with, and the instant after which its traffic is still to be played: just before the
    anchor on a first start (the origin is now), where the previous run stopped on a restart."""
    st = load_state(path, community)
    if st is None:
        origin = now_ms // 1000 * 1000
        st = LiveState(community.meta.name, community.seed, origin, origin)
        return st, st.anchor_ms(community) - 1
    return st, min(st.played_to_ms, now_ms)


# --- incidents ---------------------------------------------------------------------------


def _minute_of_day(ts_ms: int, cal: Calendar) -> int:
    local = dt.datetime.fromtimestamp(ts_ms / 1000, cal.zone)
    return local.hour * 60 + local.minute


def _asleep(minute: int, hh: HouseholdSpec) -> bool:
    start = hh.bedtime_ms // MINUTE_MS
    end = (start + int(hh.sleep_hours * 60)) % 1440
    return (start <= minute < end) if start < end else (minute >= start or minute < end)


def fall_time(hh: HouseholdSpec, window_ends_ms: int, cal: Calendar) -> int:
    """When to place a fall so that the household's inactivity window ends at window_ends_ms.

    The rules engine counts the time awake since the last use against the household's window and leaves out
    the registry's sleep hours (alerts/rules/water.py); the registry bridge takes the sleep hours from the
    bedtime and sleep length and clamps the window to 6-8 h (registry/scenario.py). Walk back from the end
    of the window, minute by minute, until that many awake minutes lie behind it.
    """
    need = round(min(8.0, max(6.0, hh.inactivity_window_h)) * 60)
    t = window_ends_ms // MINUTE_MS * MINUTE_MS
    while need > 0:
        t -= MINUTE_MS
        if not _asleep(_minute_of_day(t, cal), hh):
            need -= 1
    return t


def window_end(hh: HouseholdSpec, ends_ms: int, cal: Calendar) -> int:
    """When an inactivity window stated to end at ends_ms can end: then, or, if that is in the household's
    sleep hours or just after them, two minutes after the household wakes.

    The rule does not count sleep, so a window cannot run out while the household sleeps: one placed to end
    there would have run out when it went to bed, before the start. The two awake minutes keep it from doing
    so when the engine dates the last use up to a meter interval early (the demo's meter reads every minute).
    """
    t = ends_ms // MINUTE_MS * MINUTE_MS
    while any(_asleep(_minute_of_day(t - k * MINUTE_MS, cal), hh) for k in range(WAKE_MARGIN_MIN + 1)):
        t += MINUTE_MS
    return t


def place(community: Community, cal: Calendar, origin_ms: int) -> list[Any]:
    """The live incidents as ordinary ones: each at the day and time of day of origin + its offset.

    A fall given by `window_ends_after` is placed before the origin (fall_time) with a short hand-wash ending
    at it, so that the last use the engine finds is the fall's time. A window stated to end in the household's
    sleep hours ends when the household wakes (window_end): the rule does not count sleep, so no inactivity
    alert can open while the household sleeps.
    """
    out: list[Any] = []
    households = {h.id: h for h in community.households}
    for inc in community.live_incidents:
        if inc.type == "fall" and inc.window_ends_after is not None:
            hh = households[inc.household]
            t = fall_time(hh, window_end(hh, origin_ms + inc.window_ends_after, cal), cal)
            wash = TapLeftRunning(type="tap_left_running", household=inc.household, at="00:00", duration="2m",
                                  flow_lpm=4.0, note="hand-wash: the last use before the fall")
            out.append(_at(wash, t - WASH_MS, cal))
        else:
            t = origin_ms + (inc.after or 0)
        out.append(_at(inc, t, cal))
    return out


def _at(inc: Any, t: int, cal: Calendar) -> Any:
    day = cal.day_of(t)
    return inc.model_copy(update={"day": day, "at": t - cal.midnight(day), "after": None})


def throttle(items: Iterator, every_ms: int, on_progress) -> Iterator:  # noqa: ANN001
    """Pass items through; call on_progress(at_ms) with the time of the last item sent, every every_ms of it."""
    last_sent: int | None = None
    next_mark: int | None = None
    try:
        for item in items:
            if last_sent is not None and (next_mark is None or last_sent >= next_mark):
                on_progress(last_sent)
                next_mark = last_sent + every_ms
            yield item  # the runner sends it before asking for the next one
            last_sent = item.at_ms
    finally:  # also when the run is stopped (the generator is closed): a restart resumes after the last one sent
        if last_sent is not None:
            on_progress(last_sent)

