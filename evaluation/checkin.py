"""The check-in step in an evaluation: check-ins vs staff dispatches per household-month (alerts/checkin.py).

The engine runs the step for real: a water-inactivity alert asks the family first; water used during the
wait clears it; at night staff are pushed at once; otherwise staff are pushed when the wait runs out. Nobody
in a simulation taps the family's links, so the run itself gives the dispatches when no family ever answers.
The other bound assumes every family reaches a resident who is fine within the wait (an alert no label
explains) and taps "她/他没事": those alerts would not have pushed staff. A real community lies in between.

The populations close the loop (`CheckinLoop`): an answer model of residents and families
(firmware_sim/models/answers.py) answers every check-in the engine asks, and each answer reaches the engine the
way a real one does, at its own time in the run - the resident's as a wire message (call_button event
`cancel`) from the household's button, encoded and decoded as a gateway would send it, through Engine.handle;
the family's as a tap on the check-in link it was sent (a signed link minted for the family member the
recorder's check-in notification went to, verified and redeemed with notify.links.answer_checkin, the function
the console's check-in page calls, through alerts/actions.py). The engine learns of "联系不上" as it does from
the console: from the store, at its next look (the evaluation's tick stands in for its 5 s poll).
"""

from __future__ import annotations

import heapq
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from alerts.actions import AlertActions
from alerts.checkin import CHECKIN_RULES
from alerts.engine import Engine
from alerts.lifecycle import AlertChange
from alerts.store import AlertStore
from alerts.tables import Alert, AlertEvent
from alerts.types import CheckIn
from firmware_sim.models.answers import OK, RESIDENT, Answer, Answers, Whereabouts
from ground.clock import ManualClock
from notify.links import CheckinAnswer, CheckinLinks, answer_checkin
from registry.types import Role
from storage.sql import Database
from wire.models import Channel, Kind, Message, decode, encode

LINK_BASE = "https://console.invalid"  # nobody opens these: the evaluation verifies and redeems them itself
LINK_TTL_MS = 7 * 86_400_000


def checkin_rows(db: Database) -> dict[int, tuple[str | None, bool]]:
    """Alert id -> (its check-in, whether staff were pushed), for the check-in rules' alerts."""
    with db.session() as s:
        q = select(Alert.id, Alert.checkin, Alert.staff_pushed_at).where(
            Alert.rule.in_(sorted(r.value for r in CHECKIN_RULES)))
        return {r.id: (r.checkin, r.staff_pushed_at is not None) for r in s.execute(q)}


def checkin_summary(rows: dict[int, tuple[str | None, bool]], false_alarm_ids: set[int],
                    household_months: float) -> dict[str, Any]:
    """Check-ins and staff dispatches, in counts and per household-month, with both answer bounds."""
    asked = sum(1 for c, _ in rows.values() if c is not None and c != CheckIn.NO_FAMILY.value)
    pushed = sum(1 for _, p in rows.values() if p)
    # a family that answers "没事" for every resident who is fine: their timed-out check-ins push nobody
    answerable = sum(1 for aid, (c, p) in rows.items() if p and aid in false_alarm_ids and c == CheckIn.NO_ANSWER.value)
    by_state: dict[str, int] = {}
    for c, _ in rows.values():
        by_state[c or "none"] = by_state.get(c or "none", 0) + 1

    def per(n: int) -> float:
        return n / household_months if household_months else 0.0

    return {"alerts": len(rows), "checkins": asked, "checkins_per_household_month": per(asked),
            "staff_dispatches_no_answers": pushed, "staff_dispatches_no_answers_per_household_month": per(pushed),
            "staff_dispatches_families_answer": pushed - answerable,
            "staff_dispatches_families_answer_per_household_month": per(pushed - answerable),
            "by_state": dict(sorted(by_state.items()))}


def checkin_line(s: dict[str, Any]) -> str:
    """The report's line: check-ins vs staff dispatches (goal: dispatches <= 0.3 per household-month)."""
    return (f"check-in step: {s['checkins']} check-ins ({s['checkins_per_household_month']:.3f} per household-month); "
            f"staff dispatches {s['staff_dispatches_no_answers']} "
            f"({s['staff_dispatches_no_answers_per_household_month']:.3f}) if no family ever answers, "
            f"{s['staff_dispatches_families_answer']} "
            f"({s['staff_dispatches_families_answer_per_household_month']:.3f}) if every family answers for a "
            f"resident who is fine (goal <= 0.3); " + ", ".join(f"{k} {v}" for k, v in s["by_state"].items()))


# --- the closed loop: answers from residents and families (firmware_sim/models/answers.py) -------------------


@dataclass
class Asked:
    """One check-in the engine asked, and what the answer model made of it."""

    alert_id: int
    household: str
    asked_ms: int
    answer: Answer | None
    result: str = ""  # what became of the answer: recorded, already_handled, ... ("": none yet / none)


class CheckinLoop:
    """Answers the engine's check-ins in a run (Backtest._run calls seen() with every change and fire() when
    next_at() is due)."""

    def __init__(self, answers: Answers, where: dict[str, Whereabouts], buttons: dict[str, tuple[str, str]], *,
                 trails: bool = False) -> None:
        """buttons: household -> (gateway, call button); trails: also keep every alert's audit trail."""
        self.answers, self.where, self.buttons = answers, where, buttons
        self.trails = trails
        self.asked: dict[int, Asked] = {}
        self._due: list[tuple[int, int]] = []  # (answer time, alert id)
        self._seq: dict[str, int] = {}
        self.rows: dict[int, dict[str, Any]] = {}

    def start(self, engine: Engine, clock: ManualClock) -> None:
        self.engine, self.clock = engine, clock
        self.actions = AlertActions(engine.store, clock)  # as the console's, without its MQTT/InfluxDB sinks
        self.links = CheckinLinks(secrets.token_hex(16), LINK_BASE, LINK_TTL_MS)

    def seen(self, changes: list[AlertChange]) -> None:
        """The engine's changes: a check-in it opened (asking the family) gets its answer scheduled."""
        for ch in changes:
            a = ch.alert
            if ch.action != "opened" or a.checkin is not CheckIn.ASKING or a.id in self.asked:
                continue
            ans = self.answers.answer(a.subject, self.where[a.subject], ch.at) if a.subject in self.where else None
            self.asked[a.id] = Asked(a.id, a.subject, ch.at, ans)
            if ans is not None:
                heapq.heappush(self._due, (max(ans.at_ms, ch.at), a.id))

    def next_at(self) -> int | None:
        return self._due[0][0] if self._due else None

    def fire(self) -> list[AlertChange]:
        """The earliest answer, at its time (the clock is set to it): into the engine as a real one arrives."""
        at, aid = heapq.heappop(self._due)
        asked = self.asked[aid]
        ans = asked.answer
        assert ans is not None
        if ans.by == RESIDENT:
            gateway, button = self.buttons[asked.household]
            seq = self._seq[button] = self._seq.get(button, 100_000) + 1
            topic, payload = encode(Message(gateway, button, Channel.EVENT, Kind.CALL_BUTTON, at, seq,
                                            {"action": "cancel"}))
            changes = self.engine.handle(decode(topic, payload, now_ms=at))
            asked.result = "recorded" if any(c.alert.id == aid and c.action == "checkin_ok" for c in changes) \
                else "already_handled"
            return changes
        family = [d.contact for d in self.engine.store.deliveries(aid)
                  if d.event == "checkin" and d.role == Role.FAMILY.value]
        if not family:
            asked.result = "no_message"
            return []
        which = CheckinAnswer.OK if ans.what == OK else CheckinAnswer.UNREACHABLE
        token = self.links.token(which, aid, family[0], asked.asked_ms)  # the link in the message they got
        result, change = answer_checkin(self.actions, which, self.links.verify(which, token, at),
                                        self.engine.registry())
        asked.result = result.value
        return [change] if change is not None else []

    def collect(self, db: Database) -> None:
        """Read the check-in rules' alerts back from the store (before the run's database goes)."""
        with db.session() as s:
            q = select(Alert.id, Alert.subject, Alert.opened_at, Alert.checkin, Alert.checkin_at,
                       Alert.staff_pushed_at, Alert.outcome).where(
                Alert.rule.in_(sorted(r.value for r in CHECKIN_RULES)))
            self.rows = {r.id: {"household": r.subject, "opened_at": r.opened_at, "checkin": r.checkin,
                                "checkin_at": r.checkin_at, "staff_pushed_at": r.staff_pushed_at,
                                "outcome": r.outcome} for r in s.execute(q)}
            # staff_pushed_at is the last push ("联系不上" after a push pushes again): the first is on the trail
            first = select(AlertEvent.alert_id, func.min(AlertEvent.at)).where(
                AlertEvent.action == "staff_pushed").group_by(AlertEvent.alert_id)
            for aid, at in s.execute(first):
                if aid in self.rows:
                    self.rows[aid]["first_pushed_at"] = at
        for row in self.rows.values():  # pushed when it opened (night, no family): no staff_pushed entry
            row.setdefault("first_pushed_at", row["staff_pushed_at"])
        if self.trails:
            store = AlertStore(db)
            for aid, row in self.rows.items():
                row["state"] = store.get(aid).state.value
                row["trail"] = store.events(aid)


def loop_summary(loop: CheckinLoop, explained: Callable[[str, int], bool], household_months: float,
                 uses: dict[str, list[int]], wait_ms: int, tick_ms: int) -> dict[str, Any]:
    """Check-ins and staff dispatches per household-month with the answers of the loop; the two bounds (nobody
    answers / every family answers for a resident who is fine) counted on the same alerts; and the emergencies'
    staff-push delay, beside the delay had nobody answered."""
    def per(n: int) -> float:
        return round(n / household_months, 4) if household_months else 0.0

    by_state: dict[str, int] = {}
    asked = pushed = pushed_false = late_ok = 0
    bound_none = bound_families = 0
    em_delay: list[float] = []
    em_bound: list[float] = []
    em_later = em_closed_ok = em_alerts = 0
    for aid, r in loop.rows.items():
        state = r["checkin"] or "none"
        by_state[state] = by_state.get(state, 0) + 1
        emergency = explained(r["household"], r["opened_at"])
        was_asked = aid in loop.asked
        asked += was_asked
        if r["staff_pushed_at"] is not None:
            pushed += 1
            pushed_false += not emergency
            late_ok += state in (CheckIn.OK_FAMILY.value, CheckIn.OK_RESIDENT.value)
        # the bounds: had nobody answered, an asked alert pushes staff unless water was used within the wait
        if was_asked:
            opened = loop.asked[aid].asked_ms
            deadline = opened + wait_ms + tick_ms
            h_uses = uses.get(r["household"], [])
            watered = any(opened < u <= deadline for u in h_uses)
            times_out = not watered and state != CheckIn.WATER_USED.value
            bound_none += times_out
            bound_families += times_out and emergency
        else:
            bound_none += r["staff_pushed_at"] is not None
            bound_families += r["staff_pushed_at"] is not None
        if emergency:
            em_alerts += 1
            em_closed_ok += state in (CheckIn.OK_FAMILY.value, CheckIn.OK_RESIDENT.value)
            if r["first_pushed_at"] is not None:
                d = (r["first_pushed_at"] - r["opened_at"]) / 1000
                em_delay.append(d)
                # had nobody answered: at the end of the wait from when it asked (the alert's opening time is the
                # threshold's, up to a tick earlier)
                nobody = (loop.asked[aid].asked_ms + wait_ms - r["opened_at"]) / 1000 if was_asked else d
                em_bound.append(nobody)
                em_later += d > nobody + tick_ms / 1000
    answers = {"resident": 0, "family_ok": 0, "unreachable": 0, "none": 0}
    stories: dict[str, int] = {}
    for a in loop.asked.values():
        if a.answer is None:
            answers["none"] += 1
            continue
        key = "resident" if a.answer.by == RESIDENT else "family_ok" if a.answer.what == OK else "unreachable"
        answers[key] += 1
        stories[a.answer.story] = stories.get(a.answer.story, 0) + 1
    results: dict[str, int] = {}
    for a in loop.asked.values():
        if a.answer is not None:
            results[a.result or "not_yet"] = results.get(a.result or "not_yet", 0) + 1

    def med(xs: list[float]) -> float | None:
        return round(statistics.median(xs), 1) if xs else None

    return {"alerts": len(loop.rows), "checkins": asked, "checkins_per_household_month": per(asked),
            "answers": answers, "answer_stories": dict(sorted(stories.items())),
            "answer_results": dict(sorted(results.items())),
            "by_state": dict(sorted(by_state.items())),
            "answered_by_resident": by_state.get(CheckIn.OK_RESIDENT.value, 0),
            "answered_family_ok": by_state.get(CheckIn.OK_FAMILY.value, 0),
            "answered_unreachable": by_state.get(CheckIn.UNREACHABLE.value, 0),
            "no_answer": by_state.get(CheckIn.NO_ANSWER.value, 0),
            "water_used": by_state.get(CheckIn.WATER_USED.value, 0),
            "staff_dispatches": pushed, "staff_dispatches_per_household_month": per(pushed),
            "staff_dispatches_false": pushed_false, "staff_dispatches_false_per_household_month": per(pushed_false),
            "ok_after_staff_pushed": late_ok,
            "staff_dispatches_no_answers": bound_none,
            "staff_dispatches_no_answers_per_household_month": per(bound_none),
            "staff_dispatches_families_answer": bound_families,
            "staff_dispatches_families_answer_per_household_month": per(bound_families),
            "emergency_alerts": em_alerts, "emergency_closed_ok": em_closed_ok,
            "emergency_push_delay_median_s": med(em_delay), "emergency_push_delay_max_s": max(em_delay, default=None),
            "emergency_push_delay_no_answer_median_s": med(em_bound),
            "emergency_push_later_than_no_answer": em_later,
            "household_months": round(household_months, 4),
            **({"detail": {aid: {**r, "emergency": explained(r["household"], r["opened_at"]),
                                 "answer": None if aid not in loop.asked or loop.asked[aid].answer is None else
                                 {"at": loop.asked[aid].answer.at_ms, "by": loop.asked[aid].answer.by,
                                  "what": loop.asked[aid].answer.what, "story": loop.asked[aid].answer.story,
                                  "result": loop.asked[aid].result}}
                           for aid, r in loop.rows.items()}} if loop.trails else {})}
