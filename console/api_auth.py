"""Login (rate-limited), logout, who am I; and the server-sent-event stream of alert changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sse_starlette.sse import EventSourceResponse

from console.auth import User, audit_name, create_session, end_session, verify_login
from console.context import AppContext
from console.deps import COOKIE, Caller, caller, client_address, get_ctx
from console.errors import ApiError
from console.schemas import LoginIn, LoginOut, UserOut

router = APIRouter(prefix="/api", tags=["session"])


def user_out(u: User, active: bool = True) -> UserOut:
    return UserOut(id=u.id, username=u.username, role=u.role, scopes=list(u.scopes), contact=u.contact,
                   display_name=u.display_name, language=u.language, active=active)


def login_user(ctx: AppContext, username: str, password: str, address: str) -> tuple[User, str, int]:
    """Check the rate limit and the password; (user, token, expires_at) or HTTPException 401/429."""
    wait = ctx.limiter.retry_after(username, address)
    if wait:
        who = audit_name(ctx.db, username, ctx.audit_key)
        ctx.audit(who, "", "login.throttled", f"user {who}", "", address)
        raise ApiError(429, f"too many failed logins; try again in {wait} s", "too_many_logins",
                       headers={"Retry-After": str(wait)}, wait=wait)
    user = verify_login(ctx.db, username, password)
    if user is None:
        ctx.limiter.failed(username, address)
        who = audit_name(ctx.db, username, ctx.audit_key)
        ctx.audit(who, "", "login.failed", f"user {who}", "", address)
        raise HTTPException(401, "wrong username or password")
    ctx.limiter.succeeded(username, address)
    ttl = int(ctx.cfg.api.session_ttl_h * 3_600_000)
    token = create_session(ctx.db, user, ctx.now(), ttl)
    ctx.audit(user.username, user.role.value, "login", f"user {user.username}", "", address)
    return user, token, ctx.now() + ttl


def set_cookie(ctx: AppContext, response: Response, token: str, request: Request | None = None) -> None:
    """The session cookie: HttpOnly, and Secure (sent over HTTPS only) when the console is served over HTTPS --
    its public URL is https, the installation runs in prod mode (TLS-only behind nginx), or this request came
    over https (X-Forwarded-Proto is believed from api.trusted_proxies only)."""
    secure = (ctx.cfg.api.base_url.startswith("https://") or ctx.cfg.mode == "prod"
              or (request is not None and request.url.scheme == "https"))
    response.set_cookie(COOKIE, token, max_age=int(ctx.cfg.api.session_ttl_h * 3600), httponly=True,
                        samesite="lax", secure=secure, path="/")


@router.post("/login", response_model=LoginOut, responses={401: {"description": "wrong username or password"},
                                                           429: {"description": "too many failed logins"}})
def login(body: LoginIn, request: Request, response: Response, ctx: AppContext = Depends(get_ctx)) -> LoginOut:
    """Log in: returns a bearer token and sets the session cookie."""
    user, token, expires = login_user(ctx, body.username, body.password, client_address(request))
    set_cookie(ctx, response, token, request)
    return LoginOut(token=token, expires_at=expires, user=user_out(user))


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, ctx: AppContext = Depends(get_ctx),
           c: Caller = Depends(caller)) -> Response:
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    end_session(ctx.db, token)
    ctx.audit(c.name, c.user.role.value, "logout", f"user {c.name}", "", c.address)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me", response_model=UserOut)
def me(c: Caller = Depends(caller)) -> UserOut:
    return user_out(c.user)


@router.get("/stream", summary="server-sent events: one `alert` event per change in your area",
            response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: alert`, data = the change (id, action, state, severity, "
                                             "rule, place, grid, summary, at ...)"}})
async def stream(request: Request, ctx: AppContext = Depends(get_ctx),
                 c: Caller = Depends(caller)) -> EventSourceResponse:
    sub = ctx.hub.subscribe()

    async def events() -> AsyncIterator[dict]:
        q = sub[1]
        try:
            yield {"event": "hello", "data": json.dumps({"user": c.name, "role": c.user.role.value})}
            while True:
                try:
                    payload = await asyncio.wait_for(q.get(), timeout=1.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
                if c.scope.sees_payload(payload):
                    yield {"event": "alert", "id": f"{payload.get('id')}-{payload.get('at')}",
                           "data": json.dumps(payload, ensure_ascii=False)}
        finally:
            ctx.hub.unsubscribe(sub)

    return EventSourceResponse(events(), ping=15)
