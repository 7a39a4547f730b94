"""The check-in step closed-loop on a small population: answers forced through the answer model reach the real
engine (a call button's cancel as a wire message, a family's tap through the check-in link) and the outcomes are
read back from the store: who closed what, whether staff were pushed, the audit trail."""

from __future__ import annotations

from alerts.settings import AlertsConfig
from evaluation.populations import run_population
from firmware_sim.models.answers import (
    DEFAULT,
    EMERGENCY,
    HOME,
    PESSIMISTIC,
    AnswerRanges,
    Answers,
    Household,
    Whereabouts,
    answer,
)
from firmware_sim.models.populations import Population
from firmware_sim.seeding import rng_for

WAIT_MS = 30 * 60_000
TICK_S = 300


def _forced(*, self_press: float, unreachable_tap: float = 1.0) -> AnswerRanges:
    """Every household has a family that sees the message at once and always reaches a resident who is fine."""
    return AnswerRanges(family=1.0, sees=(1.0, 1.0), react_min=(2.0, 2.0), react_sigma=0.0, phone_home=(1.0, 1.0),
                        phone_asleep=(1.0, 1.0), phone_out=(1.0, 1.0), knows_hospital=(1.0, 1.0),
                        self_press=(self_press, self_press), unreachable_tap=(unreachable_tap, unreachable_tap))


def _run(name: str, households: int, days: int, seed: int, ranges: AnswerRanges) -> dict:
    pop = Population(name, households, days, seed=seed)
    model = Answers(ranges, seed, name, [h.id for h in pop.households])
    rep = run_population(AlertsConfig(), pop, TICK_S, model, trails=True)
    return rep.checkin


def _actions(trail: list[dict]) -> list[tuple[str, str, str]]:
    return [(e["action"], e["actor"], e["channel"]) for e in trail]


def test_a_family_that_answers_quickly_sends_no_staff_for_false_alarms() -> None:
    c = _run("low_use", 10, 6, 3, _forced(self_press=0.0))
    asked = [(aid, d) for aid, d in c["detail"].items() if d["answer"] is not None and not d["emergency"]]
    assert len(asked) >= 5, c["by_state"]
    for aid, d in asked:
        assert d["answer"]["by"] == "family" and d["answer"]["result"] == "recorded", (aid, d["answer"])
        assert d["checkin"] == "ok_family" and d["state"] == "closed" and d["outcome"] == "no_emergency", (aid, d)
        assert d["staff_pushed_at"] is None, (aid, d)
        household = d["household"]
        assert ("checkin_ok", f"fam-{household}", "ack_link") in _actions(d["trail"]), d["trail"]
        assert not any(e["action"] == "staff_pushed" for e in d["trail"])
    # staff went only where the engine pushes at once (night) or to an emergency
    for d in c["detail"].values():
        if d["staff_pushed_at"] is not None:
            assert d["emergency"] or d["checkin"] == "night", d
    assert c["staff_dispatches_false"] == sum(1 for d in c["detail"].values()
                                              if not d["emergency"] and d["checkin"] == "night")
    assert c["answered_family_ok"] == len(asked) and c["answered_by_resident"] == 0


def test_a_resident_who_presses_cancel_closes_it_as_no_emergency() -> None:
    c = _run("low_use", 10, 6, 3, _forced(self_press=1.0))
    pressed = [d for d in c["detail"].values() if d["answer"] is not None and d["answer"]["by"] == "resident"]
    assert len(pressed) >= 5, c["by_state"]
    for d in pressed:
        assert d["checkin"] == "ok_resident" and d["state"] == "closed" and d["outcome"] == "no_emergency", d
        assert d["staff_pushed_at"] is None and not d["emergency"]
        assert ("checkin_ok", "resident", "device") in _actions(d["trail"]), d["trail"]
    assert c["answered_by_resident"] == len(pressed)


def test_an_emergency_pushes_staff_and_is_never_closed_as_fine() -> None:
    for unreachable_tap in (1.0, 0.0):  # the family taps 联系不上 / does nothing
        c = _run("typical", 10, 6, 5, _forced(self_press=1.0, unreachable_tap=unreachable_tap))
        ems = [d for d in c["detail"].values() if d["emergency"]]
        assert len(ems) >= 2 and c["emergency_alerts"] == len(ems)
        asked = [d for d in ems if d["checkin"] not in ("night", "no_family")]
        assert asked, ems
        for d in ems:
            assert d["staff_pushed_at"] is not None and d["outcome"] is None and d["state"] == "open", d
            assert not any(e["action"] == "checkin_ok" for e in d["trail"]), d["trail"]
            assert any(e["action"] == "staff_pushed" for e in d["trail"])
            # never later than had nobody answered: the wait's end, at the next tick
            assert d["first_pushed_at"] - d["opened_at"] <= WAIT_MS + 2 * TICK_S * 1000, d
            assert d["first_pushed_at"] == min(e["at"] for e in d["trail"] if e["action"] == "staff_pushed") \
                or d["checkin"] in ("night", "no_family")
        for d in asked:
            if unreachable_tap:
                assert d["checkin"] == "unreachable" and d["answer"]["what"] == "unreachable"
                assert d["staff_pushed_at"] < d["answer"]["at"] + TICK_S * 1000 + 1
                assert d["staff_pushed_at"] - d["opened_at"] < WAIT_MS, d
            else:
                assert d["checkin"] == "no_answer" and d["answer"] is None
        assert c["emergency_closed_ok"] == 0 and c["emergency_push_later_than_no_answer"] == 0


def test_the_answer_model_is_a_pure_function_and_an_emergency_is_never_fine() -> None:
    where = Whereabouts([0, 86_400_000], [50_000_000, 136_400_000], [(10_000_000, 20_000_000, "outing")], 30_000_000)
    assert where.at(5_000_000) == HOME and where.at(12_000_000) == "outing" and where.at(31_000_000) == EMERGENCY
    assert where.at(60_000_000) == EMERGENCY
    assert Whereabouts([0], [50_000_000], []).at(60_000_000) == "asleep"
    a = Answers(DEFAULT, 7, "typical", [f"h{i}" for i in range(50)])
    b = Answers(DEFAULT, 7, "typical", [f"h{i}" for i in range(50)])
    assert a.households == b.households
    assert [a.answer(f"h{i}", where, 1_000_000) for i in range(50)] == \
        [b.answer(f"h{i}", where, 1_000_000) for i in range(50)]
    fine = sum(x is not None and x.what == "ok" for x in (a.answer(f"h{i}", where, 1_000_000) for i in range(50)))
    assert 10 <= fine <= 49  # most families reach a resident who is at home, not all
    for ranges in (DEFAULT, PESSIMISTIC):
        for k in range(300):
            h = Household.draw(ranges, k, "typical", "h")
            ans = answer(h, where, 35_000_000, rng_for(k, "t"))
            assert ans is None or (ans.what == "unreachable" and ans.by == "family"), ans
