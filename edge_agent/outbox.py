"""The durable outbox: every normalized message is stored in SQLite (WAL) before it is sent.

A row is deleted only after its PUBACK. Appends commit with `PRAGMA synchronous=FULL` by
default: in WAL mode each commit then fsyncs the log, so an appended message survives
SIGKILL *and* power loss. Deletions (after PUBACK) use a second connection with
synchronous=NORMAL: losing the last deletions to a power cut only means sending those
messages again, which the contract's `ts` makes idempotent.

Bounds and shedding policy (explicit, counted):
  * size: more than max_messages rows or max_bytes of payload -> delete the oldest rows of
    the lowest class first: status, then readings, and events only when neither remains.
    A call-button or camera event is therefore never dropped while a reading is queued.
  * age: status and readings older than max_age are deleted; events are kept.
Send order: events first (in order), then readings and status in the order they were
appended; the uplink paces the latter so live events overtake a backlog.

Per-device `seq` counters live in the same database and advance in the same transaction
as the append, so they keep increasing across restarts and power cuts.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from edge_agent.clock import Clock
from edge_agent.errors import OutboxError

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    prio INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_prio ON outbox (prio, id);
CREATE TABLE IF NOT EXISTS seq (device TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


class Priority(IntEnum):
    """Shedding class: lowest shed first; events are sent first."""

    STATUS = 0
    READING = 1
    EVENT = 2


SHED_COUNTER = {Priority.STATUS: "shed_status", Priority.READING: "shed_readings", Priority.EVENT: "shed_events"}


@dataclass(frozen=True, slots=True)
class Row:
    """One queued message."""

    id: int
    prio: int
    topic: str
    payload: bytes


Build = Callable[[int], tuple[str, bytes]]


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-512")  # 512 KiB: the hot part of a queue is its head and tail
    return conn


class Outbox:
    """SQLite WAL queue with bounded size and age; safe to use from several threads."""

    def __init__(self, path: Path, clock: Clock, *, max_messages: int, max_bytes: int, max_age_ms: int,
                 synchronous: str = "full") -> None:
        self.path = path
        self.clock = clock
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.max_age_ms = max_age_ms
        self.synchronous = synchronous
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._w = _connect(path, synchronous)       # appends, shedding (durable)
            self._w.executescript(SCHEMA)
            self._r = _connect(path, "normal")           # reads and deletions after PUBACK
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open the outbox {path}: {exc}") from exc
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._state = threading.Lock()
        self.listeners: list[Callable[[int], None]] = []
        count, size = self._w.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox").fetchone()
        self._count, self._bytes = int(count), int(size)
        self._seqs = dict(self._w.execute("SELECT device, value FROM seq").fetchall())
        self.counters: dict[str, int] = {"shed_status": 0, "shed_readings": 0, "shed_events": 0, "rejected": 0}
        self.counters.update(dict(self._w.execute("SELECT name, value FROM counters").fetchall()))
        self.appended = 0
        self.deleted = 0

    # ------------------------------------------------------------------ appending

    def put(self, device: str, prio: Priority, build: Build) -> int:
        """Allocate the device's next seq, build (topic, payload) with it and store it durably; returns the row id.

        `build` may raise (e.g. wire.ContractError): nothing is stored and the seq is not used.
        """
        with self._wlock:
            seq = self._seqs.get(device, 0) + 1
            topic, payload = build(seq)
            try:
                self._w.execute("BEGIN IMMEDIATE")
                self._shed_for(prio, len(payload))
                cur = self._w.execute("INSERT INTO outbox (prio, created_ms, topic, payload) VALUES (?, ?, ?, ?)",
                                      (int(prio), self.clock.now_ms(), topic, payload))
                self._w.execute("INSERT INTO seq (device, value) VALUES (?, ?) "
                                "ON CONFLICT(device) DO UPDATE SET value = excluded.value", (device, seq))
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox append failed: {exc}") from exc
            self._seqs[device] = seq
            with self._state:
                self._count += 1
                self._bytes += len(payload)
            self.appended += 1
            row_id = int(cur.lastrowid or 0)
        for listener in self.listeners:
            listener(int(prio))
        return row_id

    def count_rejected(self) -> None:
        """A message the agent could not put in contract form (counted, persisted)."""
        with self._wlock:
            self._bump({"rejected": 1})

    def _rollback(self) -> None:
        try:
            self._w.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction open: nothing to undo

    def _shed_for(self, prio: Priority, size: int) -> None:
        """Inside the append transaction: make room for one message of `size` bytes."""
        with self._state:
            over_n = self._count + 1 - self.max_messages
            over_b = self._bytes + size - self.max_bytes
        if over_n <= 0 and over_b <= 0:
            return
        # shed a little more than needed so a full outbox does not pay for shedding on every append
        want_n = max(over_n, 0) + max(1, self.max_messages // 1000)
        shed: dict[str, int] = {}
        freed_n = freed_b = 0
        for cls in Priority:
            if cls > prio and cls is Priority.EVENT:
                break  # an arriving reading or status never pushes out an event
            while freed_n < want_n or freed_b < over_b:
                rows = self._w.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE prio = ? ORDER BY id LIMIT ?) "
                    "RETURNING LENGTH(payload)", (int(cls), max(1, want_n - freed_n))).fetchall()
                if not rows:
                    break
                freed_n += len(rows)
                freed_b += sum(r[0] for r in rows)
                shed[SHED_COUNTER[cls]] = shed.get(SHED_COUNTER[cls], 0) + len(rows)
            if freed_n >= over_n and freed_b >= over_b:
                break
        if shed:
            self._bump(shed)
            with self._state:
                self._count -= freed_n
                self._bytes -= freed_b
            log.warning("outbox full: shed %s", ", ".join(f"{v} {k[5:]}" for k, v in sorted(shed.items())))
        # if nothing could be shed (an outbox full of events and a reading arrives) the bound is exceeded
        # by that one message rather than losing an event; the next age sweep sheds the reading.

    def _bump(self, inc: dict[str, int]) -> None:
        for name, n in inc.items():
            self.counters[name] = self.counters.get(name, 0) + n
            self._w.execute("INSERT INTO counters (name, value) VALUES (?, ?) "
                            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, n))

    def shed_expired(self) -> int:
        """Delete readings and status older than max_age (events are kept); returns how many."""
        cutoff = self.clock.now_ms() - self.max_age_ms
        with self._wlock:
            try:
                self._w.execute("BEGIN IMMEDIATE")
                rows = self._w.execute("DELETE FROM outbox WHERE prio < ? AND created_ms < ? "
                                       "RETURNING prio, LENGTH(payload)", (int(Priority.EVENT), cutoff)).fetchall()
                inc: dict[str, int] = {}
                for prio, _ in rows:
                    inc[SHED_COUNTER[Priority(prio)]] = inc.get(SHED_COUNTER[Priority(prio)], 0) + 1
                self._bump(inc)
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise OutboxError(f"outbox age sweep failed: {exc}") from exc
            with self._state:
                self._count -= len(rows)
                self._bytes -= sum(r[1] for r in rows)
        if rows:
            log.warning("outbox: shed %d readings/status older than %.1f h", len(rows), self.max_age_ms / 3.6e6)
        return len(rows)

    # ------------------------------------------------------------------ sending side

    def fetch(self, after_event: int, after_other: int, events: int, others: int) -> tuple[list[Row], list[Row]]:
        """Up to `events` events with id > after_event and `others` readings/status with id > after_other."""
        with self._rlock:
            try:
                ev = self._r.execute("SELECT id, prio, topic, payload FROM outbox WHERE prio = ? AND id > ? "
                                     "ORDER BY id LIMIT ?", (int(Priority.EVENT), after_event, events)).fetchall() \
                    if events > 0 else []
                ot = self._r.execute("SELECT id, prio, topic, payload FROM outbox WHERE id > ? AND prio < ? "
                                     "ORDER BY id LIMIT ?", (after_other, int(Priority.EVENT), others)).fetchall() \
                    if others > 0 else []
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox read failed: {exc}") from exc
        return [Row(*r) for r in ev], [Row(*r) for r in ot]

    def delete(self, ids: list[int]) -> int:
        """Remove acknowledged rows; returns how many were still there (shedding may have taken some)."""
        if not ids:
            return 0
        with self._rlock:
            try:
                self._r.execute("BEGIN IMMEDIATE")
                gone = 0
                size = 0
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    rows = self._r.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))}) "
                                           "RETURNING LENGTH(payload)", chunk).fetchall()
                    gone += len(rows)
                    size += sum(r[0] for r in rows)
                self._r.execute("COMMIT")
            except sqlite3.Error as exc:
                try:
                    self._r.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # nothing open
                raise OutboxError(f"outbox delete failed: {exc}") from exc
        with self._state:
            self._count -= gone
            self._bytes -= size
        self.deleted += gone
        return gone

    # ------------------------------------------------------------------ health

    @property
    def depth(self) -> int:
        with self._state:
            return self._count

    @property
    def size_bytes(self) -> int:
        with self._state:
            return self._bytes

    def oldest_age_s(self) -> float:
        """Age of the oldest queued message in seconds (0 when empty)."""
        with self._rlock:
            row = self._r.execute("SELECT created_ms FROM outbox ORDER BY id LIMIT 1").fetchone()
        return max(0.0, (self.clock.now_ms() - row[0]) / 1000) if row else 0.0

    def close(self) -> None:
        """Close both connections (checkpointing the WAL)."""
        with self._wlock, self._rlock:
            self._r.close()
            self._w.close()
