"""The learned routine survives a restart: saved, loaded and re-indexed to the registry's households.

A restart of the engine once crashed here (a field not saved came back empty and re-indexing it failed), so
`up` could not start again after its first run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alerts.rules.routine import Routine


def test_saved_routine_loads_and_reindexes_every_field(tmp_path: Path) -> None:
    r = Routine(3)
    r.over[:] = [1, 2, 3]
    r.days[:] = [7, 8, 9]
    r.recur[1, 2, 0] = 300
    r.evening[:] = [0.5, 0.9, 1.0]
    r.evening_today[:] = [True, False, True]
    path = str(tmp_path / "routine.npz")
    r.save(path, ["hh-a", "hh-b", "hh-c"])
    loaded, codes = Routine.load(path)
    assert codes == ["hh-a", "hh-b", "hh-c"]
    order = np.array([2, -1, 1])  # hh-c, a new household, hh-b
    t = loaded.take(order)
    assert t.size == 3
    assert t.over.tolist() == [3, 0, 2] and t.days.tolist() == [9, 0, 8]
    assert t.recur[2, 2, 0] == 300 and t.evening_today.tolist() == [True, False, False]


def test_a_file_without_todays_evening_flag_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.npz"
    r = Routine(2)
    np.savez(path, over=r.over, excess=r.excess, exposure=r.exposure, days=r.days, today=r.today, recur=r.recur,
             evening=r.evening, codes=np.asarray(["hh-a", "hh-b"], dtype=object))
    loaded, _ = Routine.load(str(path))
    assert loaded.take(np.array([1, 0])).evening_today.tolist() == [False, False]
