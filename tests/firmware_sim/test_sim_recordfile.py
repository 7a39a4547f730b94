"""The record file: round trip (text and binary payloads), damaged files lose only the damage."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from firmware_sim.errors import RecordFormatError
from firmware_sim.recordfile import Record, RecordReader, RecordWriter, record_line
from firmware_sim.replay import ReplayFilter, plan_replay, replay_items

RECS = [
    Record(1_750_000_000_000, "sw/v1/gw-1/wm-0001/reading", b'{"v":1,"kind":"water_meter","ts":1750000000000,'
           b'"seq":1,"data":{"total_l":5.0}}'),
    Record(1_750_000_000_500, "sw/v1/gw-1/state", b'{"online":true}', 1, True),
    Record(1_750_000_001_000, "sw/v1/gw-2/cam-1/event", b"\xff\xfe not utf-8 \x00", 0, False),
    Record(1_750_000_002_000, "sw/v1/gw-2/rg-1/reading", '{"v":1,"kind":"river_gauge","ts":1750000002000,'
           '"seq":9,"data":{"level_m":1.5},"note":"水位"}'.encode()),
]


def _write(path: Path, recs=RECS) -> Path:  # noqa: ANN001
    with RecordWriter(path, "test") as w:
        for r in recs:
            w.write(r)
    return path


def test_round_trip_keeps_every_field_and_byte(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.jsonl.gz")
    reader = RecordReader(path)
    assert list(reader) == RECS
    assert reader.header["shouwang_record"] == 1 and reader.header["source"] == "test"
    assert not reader.skipped and not reader.truncated
    lines = gzip.open(path, "rt").read().splitlines()
    assert "payload_b64" in json.loads(lines[3]) and "payload" in json.loads(lines[4])


def test_bad_lines_are_skipped_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl.gz"
    good = [record_line(r) for r in RECS]
    with gzip.open(path, "wb") as fh:
        fh.write(b'{"shouwang_record":1,"source":"x"}\n')
        fh.write(good[0])
        fh.write(b"this is not json\n")
        fh.write(b'{"t_ms":"soon","topic":"sw/v1/gw-1/x/reading","payload":"{}"}\n')
        fh.write(good[1])
        fh.write(b'{"t_ms":1,"topic":"t","payload_b64":"***"}\n')
    reader = RecordReader(path)
    assert list(reader) == RECS[:2]
    assert [s.split(": ")[0] for s in reader.skipped] == [f"{path}:3", f"{path}:4", f"{path}:6"]
    assert "t_ms" in reader.skipped[1] and "base64" in reader.skipped[2]


def test_a_file_cut_short_replays_up_to_the_cut(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl.gz", RECS * 2000)
    data = path.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])  # the recorder was killed mid-write
    reader = RecordReader(cut)
    got = list(reader)
    assert reader.truncated
    assert 0 < len(got) < len(RECS) * 2000
    assert got == (RECS * 2000)[: len(got)]


def test_not_a_recording_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonl.gz"
    with gzip.open(plain, "wb") as fh:
        fh.write(b'{"t_ms":1}\n')
    with pytest.raises(RecordFormatError, match=r":1: not a Shouwang recording"):
        list(RecordReader(plain))
    text = tmp_path / "text.jsonl.gz"
    text.write_text("hello\n")
    with pytest.raises(RecordFormatError, match="not a gzip file"):
        list(RecordReader(text))


def test_replay_filters_and_shift(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl.gz")
    plan = plan_replay(path, ReplayFilter())
    assert plan.count == 4 and plan.gateways == {"gw-1", "gw-2"} and plan.span_ms == 2000
    only = plan_replay(path, ReplayFilter(kinds=frozenset({"river_gauge"})))
    items = list(replay_items(only, shift_ms=1000))
    assert [i.topic for i in items] == ["sw/v1/gw-2/rg-1/reading"]
    assert b'"ts":1750000003000' in items[0].payload and "水位".encode() in items[0].payload
    gw1 = plan_replay(path, ReplayFilter(gateways=frozenset({"gw-1"})))
    assert [i.retain for i in replay_items(gw1)] == [False, True]
    dev = plan_replay(path, ReplayFilter(devices=frozenset({"cam-1"})))
    assert [i.payload for i in replay_items(dev)] == [RECS[2].payload]
