"""One active alerts engine per share of the work: leases in the PostgreSQL store, and writes fenced by them.

    engine_lease   a row per lease: `alerts/p0of1` (the whole stream), `alerts/p2of6` (a partition, alerts/
                   partition.py), `alerts/member/<engine>` (an engine that is up); holder = the engine's id
                   (host and pid: no personal data), token = raised on every acquisition, expires_at = the
                   database's clock in ms, so engines whose machines' clocks disagree still agree on expiry
    engine_state   what an active engine hands to the next one (the learned water routine)

Acquire: an upsert that takes the row only once it has expired (or never existed), raising the token.
Renew: every `alerts.lease_renew_s`, only while it is unexpired and still ours (same holder and token).
The engine acts only while its local deadline -- the monotonic time a renewal was *sent* plus the TTL -- has not
passed; the database's expiry is later than that, so the engine stops before another may start.

Fencing, for an engine that is paused (SIGSTOP, a frozen VM, a network partition from the database) and wakes up
not knowing how long it slept: every transaction of an active engine's store begins by reading its lease row
`FOR SHARE` with the holder and token it acquired. A lease taken over has another holder or token, so the
transaction fails with LeaseLost before it writes anything. A takeover is an UPDATE of that row, so it waits for
the old holder's open transactions to end: nothing the old holder writes commits after the new one began. The
engine's connections have `idle_in_transaction_session_timeout` = the TTL, so a holder paused inside a
transaction cannot keep the row locked (the takeover waits at most that long).

SQLite is a file on one machine: there is no standby on it. A second engine on the same SQLite store is refused
by a lock on the file (sqlite_lock).

    book = LeaseBook(url, instance_id(), ttl_s=5)
    lease = book.acquire("alerts/p0of1")    # None while another engine holds it
    fence(db, book, lease.name)             # the engine's store now writes only under this lease
    book.renew()                            # every lease_renew_s, from any thread; returns the names lost
    book.valid(lease.name)                  # before acting
    book.release(lease.name)                # a clean stop: the standby takes over at once
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import BigInteger, LargeBinary, String, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from ground.errors import ServiceError, ShouwangError
from ground.pidlock import PidLockHeld, take_pid_lock
from storage.sql import Base, Database, make_engine

log = logging.getLogger(__name__)
NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint"


class LeaseLost(ShouwangError):
    """The engine was about to act under a lease it no longer holds (expired, or taken over)."""


class EngineLease(Base):
    __tablename__ = "engine_lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    token: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    acquired_at: Mapped[int] = mapped_column(BigInteger)


class EngineState(Base):
    __tablename__ = "engine_state"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    saved_at: Mapped[int] = mapped_column(BigInteger)


def instance_id() -> str:
    """This engine's id in lease rows and logs: host, pid and a random suffix (a restarted pid is another engine)."""
    host = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().lower())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def is_postgresql(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def fenced_url(url: str, ttl_s: float) -> str:
    """The store's URL with a session option: a transaction left idle (its engine paused) ends after the TTL."""
    u = make_url(url)
    opt = f"-c idle_in_transaction_session_timeout={int(ttl_s * 1000)}"
    old = u.query.get("options")
    opts = f"{old} {opt}" if isinstance(old, str) and old else opt
    return u.update_query_dict({"options": opts}).render_as_string(hide_password=False)


@dataclass(slots=True)
class Lease:
    """A lease this engine holds: its name, the token of this acquisition, and until when it may act on it."""

    name: str
    token: int
    deadline: float  # time.monotonic() after which the engine must not act

    def valid(self) -> bool:
        return time.monotonic() < self.deadline


class LeaseBook:
    """The leases one engine holds, over a small connection pool of its own (not the engine's store)."""

    def __init__(self, url: str, holder: str, *, ttl_s: float) -> None:
        if not is_postgresql(url):
            raise ServiceError("leases need the PostgreSQL store (alerts.database_url)")
        self.holder = holder
        self.ttl_ms = int(ttl_s * 1000)
        self.engine = make_engine(url)
        self.held: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def _tx(self) -> Connection:
        conn = self.engine.connect()
        conn.begin()
        # never wait long on a row an engine's transaction holds: try again next round
        conn.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
        return conn

    def acquire(self, name: str) -> Lease | None:
        """Take the lease if it is free or expired; None if another engine holds it (or the store is down)."""
        sent = time.monotonic()
        try:
            with self._tx() as conn:
                token = conn.execute(text(
                    f"INSERT INTO engine_lease (name, holder, token, expires_at, acquired_at) "
                    f"VALUES (:name, :holder, 1, {NOW_MS} + :ttl, {NOW_MS}) "
                    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, token = engine_lease.token + 1, "
                    "expires_at = EXCLUDED.expires_at, acquired_at = EXCLUDED.acquired_at "
                    "WHERE engine_lease.expires_at < EXCLUDED.acquired_at RETURNING token"),
                    {"name": name, "holder": self.holder, "ttl": self.ttl_ms}).scalar()
                conn.commit()
        except OperationalError as exc:
            log.warning("lease %s: store unavailable (%s)", name, exc.orig)
            return None
        if token is None:
            return None
        lease = Lease(name, int(token), sent + self.ttl_ms / 1000)
        with self._lock:
            self.held[name] = lease
        return lease

    def renew(self) -> list[str]:
        """Extend every lease held; returns the names of those lost (expired or taken over), now dropped."""
        lost = []
        for name, lease in list(self.held.items()):
            sent = time.monotonic()
            try:
                with self._tx() as conn:
                    ok = conn.execute(text(
                        f"UPDATE engine_lease SET expires_at = {NOW_MS} + :ttl WHERE name = :name AND holder = "
                        f":holder AND token = :token AND expires_at > {NOW_MS} RETURNING token"),
                        {"name": name, "holder": self.holder, "token": lease.token, "ttl": self.ttl_ms}).scalar()
                    conn.commit()
            except OperationalError as exc:
                # not renewed: the local deadline runs out on its own if this lasts
                log.warning("lease %s not renewed: %s", name, exc.orig)
                continue
            if ok is None:
                lost.append(name)
                with self._lock:
                    self.held.pop(name, None)
            else:
                lease.deadline = sent + self.ttl_ms / 1000
        return lost

    def valid(self, name: str) -> bool:
        lease = self.held.get(name)
        return lease is not None and lease.valid()

    def release(self, name: str) -> None:
        """Give the lease up at once (a clean stop or a rebalance): the next engine need not wait for its expiry."""
        with self._lock:
            lease = self.held.pop(name, None)
        if lease is None:
            return
        try:
            with self._tx() as conn:
                conn.execute(text("UPDATE engine_lease SET expires_at = 0 WHERE name = :name AND holder = :holder "
                                  "AND token = :token"), {"name": name, "holder": self.holder, "token": lease.token})
                conn.commit()
        except OperationalError as exc:
            log.warning("lease %s not released (%s): it expires on its own", name, exc.orig)

    def live(self, prefix: str) -> dict[str, str]:
        """Unexpired leases whose name starts with prefix: name -> holder."""
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT name, holder FROM engine_lease WHERE name LIKE :p AND expires_at > "
                                     f"{NOW_MS} ORDER BY name"), {"p": prefix.replace("%", r"\%") + "%"}).all()
        return {r.name: r.holder for r in rows}

    def close(self) -> None:
        for name in list(self.held):
            self.release(name)
        self.engine.dispose()


def fence(db: Database, book: LeaseBook, name: str) -> None:
    """Make every transaction of db check, first, that `name` is still ours (see the module docstring)."""

    def check(conn: Connection) -> None:
        lease = book.held.get(name)
        if lease is None or not lease.valid():
            raise LeaseLost(f"lease {name} expired")
        row = conn.exec_driver_sql(
            f"SELECT token FROM engine_lease WHERE name = %(name)s AND holder = %(holder)s AND token = %(token)s "
            f"AND expires_at > {NOW_MS} FOR SHARE", {"name": name, "holder": book.holder, "token": lease.token}).first()
        if row is None:
            raise LeaseLost(f"lease {name} was taken over")

    event.listen(db.engine, "begin", check)


def save_state(db: Database, name: str, data: bytes, now_ms: int) -> None:
    """Store what the next holder needs (through the fenced store: a lost lease saves nothing)."""
    with db.session() as s, s.begin():
        row = s.get(EngineState, name)
        if row is None:
            s.add(EngineState(name=name, data=data, saved_at=now_ms))
        else:
            row.data, row.saved_at = data, now_ms


def load_state(db: Database, name: str) -> bytes | None:
    with db.session() as s:
        row = s.get(EngineState, name)
        return bytes(row.data) if row is not None else None


def sqlite_lock(db_file: Path) -> IO[str]:
    """Hold an exclusive lock beside the SQLite store for the life of the engine; a second engine is refused."""
    try:
        return take_pid_lock(db_file.with_name(db_file.name + ".engine.lock"))
    except PidLockHeld as held:
        raise ServiceError(f"another alerts engine (pid {held.pid}) already runs on the SQLite store {db_file}; a "
                           "second engine, as a standby or a partition, needs the PostgreSQL store "
                           "(alerts.database_url)") from None
