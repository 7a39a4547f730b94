"""Server-rendered console pages (Jinja2 + plain JS) and the acknowledgement-link pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from alerts.lifecycle import AlertNotFound, AlertView
from console.api_auth import login_user, set_cookie
from console import ops
from console.auth import session_user
from console.context import AppContext
from console.deps import COOKIE, Caller, client_address, get_ctx
from console.errors import error_code, error_text
from console.i18n import LANGS, js_strings, t, word
from console.present import LANG_COOKIE, Reader, contact_by_code, person_name, reader_lang
from console.scope import UserRole
from notify.links import AckLinkError, AckResult, redeem

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def lang_of(request: Request, default: str = "zh") -> str:
    return reader_lang(request, default)


def page_caller(request: Request, ctx: AppContext = Depends(get_ctx)) -> Caller:
    user = session_user(ctx.db, request.cookies.get(COOKIE, ""), ctx.now())
    if user is None:
        raise HTTPException(401, "log in")
    return Caller(user, ctx.registry.scope(user), client_address(request))


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def render(request: Request, name: str, lang: str, status: int = 200, **kw: object) -> HTMLResponse:
    tz = request.app.state.ctx.cfg.alerts.timezone  # the site's: times read the same on every phone
    user = kw.get("user")
    fault = ""  # staff see at once when a service of the alert path has stopped (console/ops.py)
    if user is not None and getattr(user, "role", None) is not UserRole.FAMILY:
        fault = ops.fault_banner(request.app.state.ctx, lang)
    data = {"lang": lang, "t": lambda k: t(k, lang), "w": lambda g, k: word(g, k, lang),
            "strings": json.dumps({**js_strings(lang), "tz": tz}, ensure_ascii=False),
            "path": request.url.path, "fault": fault, **kw}
    resp = templates.TemplateResponse(request, name, data, status_code=status)
    if request.query_params.get("lang") in LANGS:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return resp


def _safe_next(nxt: str) -> str:
    return nxt if nxt.startswith("/") and not nxt.startswith("//") else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", lang_of(request), next=_safe_next(next), error="")


@router.post("/login")
def login_form(request: Request, username: Annotated[str, Form(max_length=64)],
               password: Annotated[str, Form(max_length=256)], next: Annotated[str, Form(max_length=500)] = "/",
               ctx: AppContext = Depends(get_ctx)) -> Response:
    lang = lang_of(request)
    try:
        user, token, _ = login_user(ctx, username, password, client_address(request))
    except HTTPException as exc:
        return render(request, "login.html", lang, status=exc.status_code, next=_safe_next(next),
                      error=t("bad_login", lang) if exc.status_code == 401 else error_text(*error_code(exc), lang))
    dest = "/family" if user.role is UserRole.FAMILY and _safe_next(next) == "/" else _safe_next(next)
    resp = RedirectResponse(dest, status_code=303)
    set_cookie(ctx, resp, token, request)
    if LANG_COOKIE not in request.cookies:
        resp.set_cookie(LANG_COOKIE, user.language, max_age=365 * 86400, samesite="lax")
    return resp


@router.get("/", response_class=HTMLResponse)
def board(request: Request, c: Caller = Depends(page_caller)) -> Response:
    if c.user.role is UserRole.FAMILY:
        return RedirectResponse("/family", status_code=303)
    return render(request, "board.html", lang_of(request, c.user.language), user=c.user)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int, c: Caller = Depends(page_caller),
               ctx: AppContext = Depends(get_ctx)) -> Response:
    from console.api_alerts import get_alert

    if not 1 <= alert_id < 2**31:
        raise HTTPException(404, "no such alert")
    lang = lang_of(request, c.user.language)
    try:
        detail = get_alert(alert_id, ctx, c, Reader(lang, c.user.role is not UserRole.TECHNICIAN))
    except HTTPException as exc:
        return render(request, "message.html", lang, status=exc.status_code, user=c.user,
                      title=t("error", lang), message=error_text(*error_code(exc), lang))
    return render(request, "alert.html", lang, user=c.user, d=detail, detail_json=detail.model_dump_json())


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """Browsers ask for it on every page; the console's mark, so the tab shows it and logs show no 404s."""
    return FileResponse(Path(__file__).with_name("static") / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, c: Caller = Depends(page_caller)) -> Response:
    if c.user.role is UserRole.FAMILY:
        return RedirectResponse("/family", status_code=303)
    return render(request, "devices.html", lang_of(request, c.user.language), user=c.user)


@router.get("/stations", response_class=HTMLResponse)
def stations_page(request: Request, c: Caller = Depends(page_caller)) -> Response:
    if c.user.role is UserRole.FAMILY:
        return RedirectResponse("/family", status_code=303)
    return render(request, "stations.html", lang_of(request, c.user.language), user=c.user, code="")


@router.get("/stations/{code}", response_class=HTMLResponse)
def station_page(request: Request, code: str, c: Caller = Depends(page_caller)) -> Response:
    if c.user.role is UserRole.FAMILY:
        return RedirectResponse("/family", status_code=303)
    return render(request, "stations.html", lang_of(request, c.user.language), user=c.user, code=code[:64])


@router.get("/family", response_class=HTMLResponse)
def family_page(request: Request, c: Caller = Depends(page_caller)) -> Response:
    lang = lang_of(request, c.user.language)
    household = c.user.scopes[0] if c.user.role is UserRole.FAMILY and c.user.scopes else ""
    return render(request, "family.html", lang, user=c.user, household=household)


# --- acknowledgement links (no login: the signed link is the credential) -------------------------


def _ack_lang(ctx: AppContext, contact_code: str, request: Request) -> str:
    contact = contact_by_code(ctx.registry.get(), contact_code)
    return lang_of(request, contact.language if contact else "zh")


def _ack_view(ctx: AppContext, alert: AlertView | None, contact_code: str, lang: str) -> dict[str, object]:
    """What the acknowledgement page shows: the alert in the contact's words, and the contact by name."""
    from console.api_alerts import alert_out

    reg = ctx.registry.get()
    return {"a": alert_out(ctx, alert, Reader(lang, True)) if alert is not None else None,
            "contact": person_name(reg, contact_code) if contact_code else ""}


def _bad_link_page(request: Request, exc: AckLinkError) -> HTMLResponse:
    """An expired (410) or forged/unknown (404) acknowledgement link."""
    lang = lang_of(request)
    expired = exc.reason == "expired"
    return render(request, "ack.html", lang, status=410 if expired else 404, stage="error",
                  message=t("ack_expired" if expired else "ack_bad", lang), a=None, contact="")


@router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(request: Request, token: str, ctx: AppContext = Depends(get_ctx)) -> HTMLResponse:
    """Shows what will be acknowledged; the POST from this page does it (link previews do not)."""
    try:
        claim = ctx.links.verify(token, ctx.now())
    except AckLinkError as exc:
        return _bad_link_page(request, exc)
    lang = _ack_lang(ctx, claim.contact, request)
    try:
        alert = ctx.store.get(claim.alert_id)
    except AlertNotFound:
        return render(request, "ack.html", lang, status=404, stage="error", message=t("ack_not_found", lang),
                      a=None, contact="")
    return render(request, "ack.html", lang, stage="confirm", message="", token=token,
                  **_ack_view(ctx, alert, claim.contact, lang))


@router.post("/ack/{token}", response_class=HTMLResponse)
def ack_submit(request: Request, token: str, ctx: AppContext = Depends(get_ctx)) -> HTMLResponse:
    try:
        claim = ctx.links.verify(token, ctx.now())
    except AckLinkError as exc:
        return _bad_link_page(request, exc)
    lang = _ack_lang(ctx, claim.contact, request)
    result, _ = redeem(ctx.actions, claim, ctx.registry.get(), client_address(request))
    status = {AckResult.ACKNOWLEDGED: 200, AckResult.ALREADY_USED: 409, AckResult.ALREADY_HANDLED: 200,
              AckResult.NOT_RESPONSIBLE: 403, AckResult.NOT_FOUND: 404}[result]
    alert = None
    try:
        alert = ctx.store.get(claim.alert_id)
    except AlertNotFound:
        pass
    return render(request, "ack.html", lang, status=status, stage="done" if result is AckResult.ACKNOWLEDGED
                  else "error", message=t(f"ack_{result.value}" if result is not AckResult.ACKNOWLEDGED
                                          else "ack_done", lang),
                  **_ack_view(ctx, alert, claim.contact, lang))
