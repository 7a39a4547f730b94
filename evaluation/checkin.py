"""The check-in step in an evaluation: check-ins vs staff dispatches per household-month (alerts/checkin.py).

The engine runs the step for real: a water-inactivity alert asks the family first; water used during the
wait clears it; at night staff are pushed at once; otherwise staff are pushed when the wait runs out. Nobody
in a simulation taps the family's links, so the run itself gives the dispatches when no family ever answers.
The other bound assumes every family reaches a resident who is fine within the wait (an alert no label
explains) and taps "她/他没事": those alerts would not have pushed staff. A real community lies in between.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alerts.checkin import CHECKIN_RULES
from alerts.tables import Alert
from alerts.types import CheckIn
from storage.sql import Database


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
