"""Behaviour populations: deterministic, the emergencies really stop the resident's water, and the report has
every population and every detector (a CI-sized run; the full report is benchmarks/evaluation_populations.py)."""

from __future__ import annotations

from itertools import islice

from alerts.settings import AlertsConfig
from evaluation.populations import population_registry, run_populations
from firmware_sim.models.answers import DEFAULT, Answers
from firmware_sim.models.populations import INTERVAL_MS, POPULATIONS, Population
from registry.csvio import read_rows

DETECTORS = ["engine", "timer 6 h", "timer 7 h", "timer 8 h", "timer 10 h"]


def _sample(p: Population, n: int = 3000) -> list[tuple]:
    return [(m.device, m.ts, m.data["total_l"]) for m in islice(p.messages(), n)]


def test_same_seed_same_traffic_on_any_date() -> None:
    a, b, c = Population("visitors", 6, 5, seed=7), Population("visitors", 6, 5, seed=7), Population("visitors", 6, 5,
                                                                                                        seed=8)
    assert _sample(a) == _sample(b) and a.incidents == b.incidents
    assert _sample(a) != _sample(c)
    assert a.start_ms == 1772380800000  # 2026-03-02 00:00 in Shanghai, whatever today is


def _register_after(p: Population, household: str, t: int) -> tuple[float, float]:
    """The meter's register at the first reading after t and at the last reading."""
    k = next(i for i, h in enumerate(p.households) if h.id == household)
    regs = [(ts, total) for ts, total, _ in p.meter_readings(k) if ts > t]
    return regs[0][1], regs[-1][1]


def test_an_emergency_stops_the_residents_water() -> None:
    """After the labelled last use the register never moves again - unless a second person shares the meter."""
    for name in POPULATIONS:
        p = Population(name, 10, 6, seed=2)
        ems = [i for i in p.incidents if i.kind == "emergency"]
        assert len(ems) == 2, name
        moved = 0
        for e in ems:
            first, last = _register_after(p, e.household, e.start_ms + INTERVAL_MS)
            moved += last > first
        if name == "shared_meter":
            assert moved >= 1  # the co-user goes on using water: a water-only detector cannot see it
        else:
            assert moved == 0, name


def test_populations_differ_where_they_should() -> None:
    """Late risers use no water in the early morning when typical residents do; hospital stays are labelled."""
    def early_litres(name: str) -> float:
        p = Population(name, 8, 6, seed=4)
        used = 0.0
        for k in range(len(p.households)):
            prev = None
            for ts, total, _ in p.meter_readings(k):
                minute = (ts // 60_000 + 8 * 60) % 1440  # Shanghai local
                if prev is not None and 6 * 60 + 40 <= minute < 8 * 60:
                    used += total - prev
                prev = total
        return used

    assert early_litres("late_risers") < 0.1 * early_litres("typical")
    notes = {i.note for i in Population("hospital", 20, 30, seed=1).incidents if i.kind == "absence"}
    assert "hospital" in notes


def test_report_has_every_population_and_detector() -> None:
    p = Population("shared_meter", 3, 2, seed=1)
    rows, errors, _, _ = read_rows(population_registry(p))
    assert not errors and sum(r.record == "household" for r in rows) == 3
    assert not any(r.record == "contact" and r.values.get("role") == "family" for r in rows)
    model = Answers(DEFAULT, 1, p.name, [h.id for h in p.households])
    rows, errors, _, _ = read_rows(population_registry(p, model))
    buttons = [r.code for r in rows if r.record == "device" and r.values.get("kind") == "call_button"]
    family = [r.parent for r in rows if r.record == "contact" and r.values.get("role") == "family"]
    assert not errors and buttons == [h.button for h in p.households]
    assert family == [h.id for h in p.households if model.has_family(h.id)]
    rep = run_populations(AlertsConfig(), households=4, days=4, seed=3, tick_s=300)
    assert list(rep.results) == list(POPULATIONS)
    j = rep.as_json()["populations"]
    for name in POPULATIONS:
        dets = j[name]["detectors"]
        assert list(dets) == DETECTORS, name
        c = j[name]["checkin"]  # the check-in loop ran: every alert is accounted for
        assert c["answers_model"] == "default" and c["alerts"] == j[name]["detectors"]["engine"]["alarms"], (name, c)
        assert sum(c["by_state"].values()) == c["alerts"] and c["emergency_closed_ok"] == 0
        assert c["emergency_push_later_than_no_answer"] == 0
        assert c["staff_dispatches"] <= c["alerts"] and c["staff_dispatches_families_answer"] <= c[
            "staff_dispatches_no_answers"]
        for det, s in dets.items():
            assert s["emergencies"] == 1, (name, det)
            assert s["household_months"] > 0
            if name != "shared_meter":  # 2+ days after the last use: every detector must have caught it
                assert s["caught"] == 1, (name, det, s)
                # the last use is dated at the reading before the one showing it: up to one interval early
                hours = 7 if det == "engine" else float(det.split()[1])  # 4 days: nothing learned, the window
                assert s["delay_median_s"] >= hours * 3600 - INTERVAL_MS / 1000, (name, det, s)
    zh, en = rep.table("zh"), rep.table("en")
    for name in POPULATIONS:
        assert name in zh and name in en
    assert "本系统规则" in zh and "计时 10 h" in zh and "timer 6 h" in en
    assert "询问步骤" in zh and "check-in step" in en
