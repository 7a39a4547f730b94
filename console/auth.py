"""Accounts, passwords (Argon2id), sessions and the login rate limit.

A session token is 32 random bytes, handed to the browser as an HttpOnly cookie or to API
clients to send as `Authorization: Bearer ...`; the store keeps only its SHA-256, so a copy
of the database does not log anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from console.scope import SCOPE_LEVELS, UserRole
from console.tables import UserAccount, UserSession
from ground.errors import ShouwangError
from registry.model import RegistrySnapshot
from storage.sql import Database

_hasher = PasswordHasher()  # Argon2id, the library's current recommended parameters
_DUMMY = _hasher.hash("not a password of anyone")
USERNAME_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MIN_PASSWORD = 8


class AccountError(ShouwangError):
    """A user account that cannot be created or changed as asked (message says why)."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: UserRole
    scopes: tuple[str, ...]
    contact: str | None
    display_name: str
    language: str


def _user(u: UserAccount) -> User:
    return User(u.id, u.username, UserRole(u.role), tuple(s for s in u.scopes.split(",") if s), u.contact,
                u.display_name, u.language)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_scopes(role: UserRole, scopes: list[str], contact: str | None, reg: RegistrySnapshot) -> None:
    """Raise AccountError unless every scope node exists at a level the role allows."""
    if not scopes:
        raise AccountError("a user needs at least one scope node")
    for code in scopes:
        node = reg.nodes.get(code)
        if node is None:
            raise AccountError(f"scope {code!r} is not in the registry")
        if node.level not in SCOPE_LEVELS[role]:
            allowed = ", ".join(lv.value for lv in SCOPE_LEVELS[role])
            raise AccountError(f"a {role.value} is scoped to a {allowed}, and {code} is a {node.level.value}")
    if role is UserRole.FAMILY:
        if len(scopes) != 1:
            raise AccountError("a family member is scoped to exactly one household")
        if contact is not None and contact not in {c.code for c in reg.contacts.get(scopes[0], ())}:
            raise AccountError(f"contact {contact!r} is not a contact of household {scopes[0]}")


def create_user(db: Database, reg: RegistrySnapshot, username: str, password: str, role: UserRole,
                scopes: list[str], *, contact: str | None = None, display_name: str = "", language: str = "zh",
                now: int, password_hash: str | None = None) -> User:
    """Create an account (AccountError if the name is taken or the scope does not fit the role).

    password_hash: an Argon2 hash made elsewhere (accounts moved from another install); then
    `password` is ignored.
    """
    import re

    if not re.fullmatch(USERNAME_RE, username):  # re.match with $ would let "name\n" through
        raise AccountError("username: letters, digits, '.', '_' or '-', at most 64")
    if password_hash is None and len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if password_hash is not None and not password_hash.startswith("$argon2"):
        raise AccountError("password_hash: not an Argon2 hash")
    check_scopes(role, scopes, contact, reg)
    try:
        with db.session() as s, s.begin():
            u = UserAccount(username=username, password_hash=password_hash or hash_password(password), role=role.value,
                            scopes=",".join(scopes), contact=contact, display_name=display_name[:200],
                            language=language if language in ("zh", "en") else "zh", active=True, created_at=now)
            s.add(u)
            s.flush()
            return _user(u)
    except IntegrityError:
        raise AccountError(f"username {username!r} is taken") from None


def list_users(db: Database) -> list[tuple[User, bool]]:
    with db.session() as s:
        return [(_user(u), u.active) for u in s.scalars(select(UserAccount).order_by(UserAccount.username))]


def get_user(db: Database, user_id: int) -> tuple[User, bool] | None:
    with db.session() as s:
        u = s.get(UserAccount, user_id)
        return (_user(u), u.active) if u else None


def set_active(db: Database, user_id: int, active: bool) -> None:
    with db.session() as s, s.begin():
        u = s.get(UserAccount, user_id)
        if u is None:
            raise AccountError(f"no user {user_id}")
        u.active = active
        if not active:
            s.execute(delete(UserSession).where(UserSession.user_id == user_id))


def verify_login(db: Database, username: str, password: str) -> User | None:
    """The user if the password matches an active account; None otherwise (same work either way)."""
    with db.session() as s:
        u = s.scalar(select(UserAccount).where(UserAccount.username == username))
        stored = u.password_hash if u is not None and u.active else _DUMMY
    try:
        _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if u is None or not u.active:
        return None
    if _hasher.check_needs_rehash(stored):
        with db.session() as s, s.begin():
            row = s.get(UserAccount, u.id)
            if row is not None:
                row.password_hash = hash_password(password)
    return _user(u)


def account_exists(db: Database, username: str) -> bool:
    with db.session() as s:
        return s.scalar(select(UserAccount.id).where(UserAccount.username == username)) is not None


def audit_name(db: Database, username: str, key: bytes) -> str:
    """How a name typed at login is recorded: an account's own name, else a keyed digest of it.

    People type their real name, phone number or password into the username box; that must not be
    kept in clear. The digest (HMAC, so a list of guesses cannot reverse it) still shows repeated tries.
    """
    if account_exists(db, username):
        return username
    return "unknown-" + hmac.new(key, username.encode(), hashlib.sha256).hexdigest()[:16]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(db: Database, user: User, now: int, ttl_ms: int) -> str:
    token = secrets.token_urlsafe(32)
    with db.session() as s, s.begin():
        s.execute(delete(UserSession).where(UserSession.expires_at < now))  # housekeeping
        s.add(UserSession(token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=now + ttl_ms))
    return token


def session_user(db: Database, token: str, now: int) -> User | None:
    if not token or len(token) > 200:
        return None
    with db.session() as s:
        sess = s.get(UserSession, _token_hash(token))
        if sess is None or sess.expires_at <= now:
            return None
        u = s.get(UserAccount, sess.user_id)
        return _user(u) if u is not None and u.active else None


def end_session(db: Database, token: str) -> None:
    with db.session() as s, s.begin():
        s.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))


class LoginLimiter:
    """Failed logins per (username, address) and per address in a sliding window; in process memory."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max = max_failures
        self.window = window_s
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._by_addr: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, q: deque[float], now: float) -> None:
        while q and q[0] <= now - self.window:
            q.popleft()

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until another try is allowed (0 = now)."""
        now = time.monotonic()
        with self._lock:
            q = self._fails[(username.lower(), address)]
            a = self._by_addr[address]
            self._trim(q, now)
            self._trim(a, now)
            waits = []
            if len(q) >= self.max:
                waits.append(q[0] + self.window - now)
            if len(a) >= self.max * 4:  # many names from one address: spraying
                waits.append(a[0] + self.window - now)
            return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._fails[(username.lower(), address)].append(now)
            self._by_addr[address].append(now)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._fails.pop((username.lower(), address), None)
