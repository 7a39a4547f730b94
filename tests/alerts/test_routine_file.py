"""The learned routine survives a restart: saved, loaded and re-indexed to the registry's households.

A restart of the engine once crashed here (a field not saved came back empty and re-indexing it failed), so
`up` could not start again after its first run. A file of an earlier format is refused (alerts/rebuild.py then
learns the routine again from scratch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alerts.rules.routine import FIELDS, Routine


def test_saved_routine_loads_and_reindexes_every_field(tmp_path: Path) -> None:
    r = Routine(3)
    r.over[:] = [1, 2, 3]
    r.days[:] = [7, 8, 9]
    r.recur[1, 2, 0] = 300
    r.recur_at[1, 2, 0] = 54  # 09:00
    r.today_at[:] = [1, 2, 3]
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
    assert t.recur[2, 2, 0] == 300 and t.recur_at[2, 2, 0] == 54 and t.today_at.tolist() == [3, 0, 2]
    assert t.evening_today.tolist() == [True, False, False]
    for name in FIELDS:  # every field survives the file and the re-indexing
        assert getattr(t, name).shape[0] == 3 and getattr(t, name).dtype == getattr(r, name).dtype, name


def test_a_file_of_an_earlier_format_is_refused_and_learned_again(tmp_path: Path) -> None:
    """Format 2 (weekday silences of three weeks, no hour): refused, so the engine learns the routine again rather
    than reading weekday maxima as slots."""
    path = tmp_path / "old.npz"
    n = 2
    np.savez(path, over=np.zeros(n, np.float32), excess=np.zeros(n, np.float32), exposure=np.zeros(n, np.float32),
             days=np.zeros(n, np.uint8), today=np.zeros(n, np.float32), recur=np.zeros((n, 7, 3), np.uint16),
             evening=np.zeros(n, np.float32), evening_today=np.zeros(n, bool),
             codes=np.asarray(["hh-a", "hh-b"], dtype=object))
    with pytest.raises(KeyError):
        Routine.load(str(path))
