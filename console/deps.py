"""Request dependencies: the shared context and the logged-in caller with their scope."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from alerts.actions import Actor
from console.auth import User, session_user
from console.context import AppContext
from console.scope import CARERS, Scope, UserRole

COOKIE = "sw_session"
CSRF_HEADER = "x-sw-csrf"
_bearer = HTTPBearer(auto_error=False, description="session token from POST /api/login")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="the console's session cookie")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CHANNEL = "console"  # the audit trail's channel of changes made here


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    scope: Scope
    address: str

    @property
    def name(self) -> str:
        return self.user.username

    @property
    def actor(self) -> Actor:
        """The caller as the one who makes a change (alerts/actions.py): audit trail and audit log."""
        return Actor(self.user.username, CHANNEL, self.user.role.value, self.address)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def token_of(request: Request, bearer: HTTPAuthorizationCredentials | None, cookie: str | None) -> tuple[str, bool]:
    if bearer is not None and bearer.credentials:
        return bearer.credentials, False
    return (cookie or ""), True


def caller(request: Request, ctx: AppContext = Depends(get_ctx),
           bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
           cookie: str | None = Depends(_cookie)) -> Caller:
    """The logged-in user (401 otherwise); cookie sessions must send X-Sw-Csrf on writes."""
    token, via_cookie = token_of(request, bearer, cookie)
    user = session_user(ctx.db, token, ctx.now()) if token else None
    if user is None:
        raise HTTPException(401, "not logged in or the session expired: POST /api/login",
                            headers={"WWW-Authenticate": "Bearer"})
    if via_cookie and request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        raise HTTPException(403, "cookie sessions must send the header X-Sw-Csrf: 1 on writes")
    return Caller(user, ctx.registry.scope(user), client_address(request))


def staff(c: Caller = Depends(caller)) -> Caller:
    """Anyone but a family member."""
    if c.user.role is UserRole.FAMILY:
        raise HTTPException(403, "staff only")
    return c


def carer(c: Caller = Depends(caller)) -> Caller:
    """Someone who looks after residents: a street administrator, community staff or a grid worker."""
    if c.user.role not in CARERS:
        raise HTTPException(403, "only street administrators, community staff and grid workers look after "
                                 "residents (away mode)")
    return c


def admin(c: Caller = Depends(caller)) -> Caller:
    if c.user.role is not UserRole.STREET_ADMIN:
        raise HTTPException(403, "street administrators only")
    return c
