"""Alerts: list and filter, detail with timeline and deliveries, transitions (alerts/actions.py), SLA statistics
(the store's, in the caller's scope)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from alerts.lifecycle import AlertChange, AlertNotFound, AlertView, LifecycleError
from alerts.store import AlertFilter
from alerts.types import AlertState, Rule, Severity
from console.context import AppContext
from console.deps import Caller, caller, get_ctx
from console.errors import ApiError
from console.present import Reader, area, person_name, place_name, reader_lang, trail_text
from console.schemas import (
    ID_MAX,
    MAX_MS,
    AlertDetail,
    AlertList,
    AlertOut,
    CloseIn,
    ContactOut,
    DeliveryOut,
    DispatchIn,
    NoteIn,
    RuleStatsOut,
    StatsOut,
    TimelineEntry,
)
from console.scope import ACTIONS, Action, UserRole
from notify.records import delivery_report
from notify.texts import alert_sentence, attempt_error, attempt_error_text, state_label, word
from notify.texts import place_name as texts_place_name
from registry.model import ContactInfo
from registry.types import Level, Role

router = APIRouter(prefix="/api", tags=["alerts"])
AlertId = Annotated[int, Path(ge=1, le=ID_MAX, description="alert id")]


def visible_alert(ctx: AppContext, c: Caller, alert_id: int) -> AlertView:
    """The alert if the caller may see it; 404 otherwise (existence is not revealed)."""
    try:
        a = ctx.store.get(alert_id)
    except AlertNotFound:
        a = None
    if a is None or not c.scope.sees_alert(a):
        raise ApiError(404, f"no alert {alert_id} in your area", "alert_not_found", id=alert_id)
    return a


def reader(request: Request, c: Caller = Depends(caller)) -> Reader:
    """The caller as a reader: the language of the console (or their own), and whether residents are theirs."""
    return Reader(reader_lang(request, c.user.language), c.user.role is not UserRole.TECHNICIAN)


def alert_out(ctx: AppContext, a: AlertView, r: Reader) -> AlertOut:
    reg = ctx.registry.get()
    h = reg.households.get(a.place)

    def names(code: str) -> str | None:
        return place_name(reg, code) if code in reg.nodes else None

    return AlertOut.of(a, reg.location(a.place) if a.place in reg.nodes else a.place, language=r.lang,
                       title=word("rules", a.rule, r.lang), sentence=alert_sentence(a, r.lang, names),
                       state_word=state_label(a, r.lang), place_name=texts_place_name(a, "", r.lang, names),
                       area=area(reg, a.place), resident=h.resident if h is not None and r.people else "",
                       resident_phone=h.phone if h is not None and r.people else "")


def allowed_actions(c: Caller, a: AlertView) -> list[Action]:
    from alerts.lifecycle import TRANSITIONS

    nxt = TRANSITIONS[a.state]
    want = {Action.ACKNOWLEDGE: AlertState.ACKNOWLEDGED, Action.DISPATCH: AlertState.DISPATCHED,
            Action.RESOLVE: AlertState.RESOLVED, Action.CLOSE: AlertState.CLOSED}
    return [act for act in Action if act in ACTIONS[c.user.role] and want[act] in nxt]


@router.get("/alerts", response_model=AlertList, summary="alerts in your area, newest first")
def list_alerts(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(caller),
                state: Annotated[list[AlertState] | None, Query()] = None,
                severity: Annotated[list[Severity] | None, Query()] = None,
                rule: Annotated[list[Rule] | None, Query()] = None,
                active: Annotated[bool | None, Query(description="only active (open/acknowledged/dispatched)")] = None,
                place: Annotated[str | None, Query(max_length=64)] = None,
                since: Annotated[int | None, Query(ge=0, le=MAX_MS, description="opened at or after (ms)")] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0, r: Reader = Depends(reader)) -> AlertList:
    f = AlertFilter(c.scope.alerts, tuple(state or ()), tuple(severity or ()), tuple(rule or ()), active, place, since)
    rows = ctx.store.list(f, limit=limit, offset=offset)
    count = ctx.store.count(f)
    return AlertList(items=[alert_out(ctx, a, r) for a in rows], count=count)


@router.get("/alerts/{alert_id}", response_model=AlertDetail, summary="one alert with contacts, timeline and "
                                                                      "every notification attempt")
def get_alert(alert_id: AlertId, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(caller),
              r: Reader = Depends(reader)) -> AlertDetail:
    from console.auth import list_users

    a = visible_alert(ctx, c, alert_id)
    reg = ctx.registry.get()
    contacts = []
    node = reg.nodes.get(a.place)
    if node is not None:
        roles = [Role.FAMILY, Role.GRID_WORKER] if node.level is Level.HOUSEHOLD else [Role.GRID_WORKER,
                                                                                      Role.COMMUNITY_DUTY]
        if c.user.role is UserRole.TECHNICIAN:
            roles = [Role.GRID_WORKER]
        personal = c.user.role is not UserRole.TECHNICIAN  # technicians see who to call, not the number
        contacts = [contact_out(x, personal=personal) for x in reg.audience(a.place, roles)]
    users = {u.username: u.display_name for u, _ in list_users(ctx.db) if u.display_name}

    def name_of(code: str) -> str:
        return person_name(reg, code, users)

    timeline = [TimelineEntry(at=e["at"], action=e["action"], actor=e["actor"], channel=e["channel"],
                              from_state=e["from"], to_state=e["to"], note=e["note"], actor_name=name_of(e["actor"]),
                              text=trail_text(e, r.lang, name_of)) for e in ctx.store.events(a.id)]
    deliveries = [] if c.user.role is UserRole.FAMILY else [
        DeliveryOut(**{**d, "attempts": [attempt_out(x, r.lang) for x in d["attempts"]]}, contact_name=name_of(d["contact"]))
        for d in delivery_report(ctx.db, a.id)]
    out = alert_out(ctx, a, r)
    if a.dispatched_to:
        out = out.model_copy(update={"dispatched_to_name": name_of(a.dispatched_to)})
    return AlertDetail(alert=out, contacts=contacts, timeline=timeline, deliveries=deliveries,
                       actions=allowed_actions(c, a))


def attempt_out(x: dict, lang: str) -> dict:
    """A delivery attempt with its error as a code and in the reader's words (the stored error is the channel
    library's English line)."""
    if x["ok"]:
        return {**x, "error_code": "", "error_text": ""}
    return {**x, "error_code": attempt_error(x["error"])[0], "error_text": attempt_error_text(x["error"], lang)}


def contact_out(x: ContactInfo, *, personal: bool = True) -> ContactOut:
    """A contact as the API shows it; `personal=False` (technicians) leaves the phone number out."""
    return ContactOut(code=x.code, role=x.role.value, name=x.name, place=x.place, language=x.language,
                      phone=(x.phone or None) if personal else None)


def _act(ctx: AppContext, c: Caller, alert_id: int, action: Action, do: Callable[[], AlertChange],
         r: Reader) -> AlertOut:
    visible_alert(ctx, c, alert_id)
    if not c.scope.can(action):
        raise ApiError(403, f"a {c.user.role.value} may not {action.value} alerts", "role_may_not",
                       role=c.user.role.value, action=action.value)
    try:
        change = do()
    except AlertNotFound:
        raise ApiError(404, f"no alert {alert_id} in your area", "alert_not_found", id=alert_id) from None
    except LifecycleError as exc:
        current = ctx.store.get(alert_id)  # where the alert is now: someone else (or the engine) moved it on
        raise ApiError(409, str(exc), "transition_not_allowed", id=alert_id, state=current.state.value,
                       outcome=current.outcome.value if current.outcome else None, done=action.value) from None
    return alert_out(ctx, change.alert, r)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, summary="I have it: stops escalation")
def acknowledge(alert_id: AlertId, body: NoteIn | None = None, ctx: AppContext = Depends(get_ctx),
                c: Caller = Depends(caller), r: Reader = Depends(reader)) -> AlertOut:
    note = body.note if body else ""
    return _act(ctx, c, alert_id, Action.ACKNOWLEDGE, lambda: ctx.actions.acknowledge(alert_id, c.actor, note), r)


def dispatchable(ctx: AppContext, c: Caller, to: str) -> bool:
    """Whether `to` names a contact or an active user of the caller's area, or a duty officer above it.

    Both lookups always run, so the time taken does not tell an unknown name from someone elsewhere.
    """
    from console.auth import list_users

    reg = ctx.registry.get()
    above = {n.code for root in c.scope.roots for n in reg.ancestors(root)}

    def in_line(code: str) -> bool:
        return code in above or c.scope.sees_node(code, reg)

    contact = any(x.code == to and in_line(x.place) for cs in reg.contacts.values() for x in cs)
    user = any(u.username == to and active and u.scopes and all(in_line(s) for s in u.scopes)
               for u, active in list_users(ctx.db))
    return contact or user


@router.post("/alerts/{alert_id}/dispatch", response_model=AlertOut, summary="send a named person of your area")
def dispatch(alert_id: AlertId, body: DispatchIn, ctx: AppContext = Depends(get_ctx),
             c: Caller = Depends(caller), r: Reader = Depends(reader)) -> AlertOut:
    visible_alert(ctx, c, alert_id)
    if not c.scope.can(Action.DISPATCH):
        raise ApiError(403, f"a {c.user.role.value} may not dispatch alerts", "role_may_not", role=c.user.role.value,
                       action=Action.DISPATCH.value)
    if not dispatchable(ctx, c, body.to):  # the same answer for nobody and for somebody elsewhere
        raise ApiError(422, "to: no contact or user of your area by that name (give a contact code or username)",
                       "unknown_person")
    return _act(ctx, c, alert_id, Action.DISPATCH,
                lambda: ctx.actions.dispatch(alert_id, body.to, c.actor, body.note), r)


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, summary="handled on site")
def resolve(alert_id: AlertId, body: NoteIn | None = None, ctx: AppContext = Depends(get_ctx),
            c: Caller = Depends(caller), r: Reader = Depends(reader)) -> AlertOut:
    note = body.note if body else ""
    return _act(ctx, c, alert_id, Action.RESOLVE, lambda: ctx.actions.resolve(alert_id, c.actor, note), r)


@router.post("/alerts/{alert_id}/close", response_model=AlertOut, summary="close the loop with feedback and rating")
def close(alert_id: AlertId, body: CloseIn, ctx: AppContext = Depends(get_ctx),
          c: Caller = Depends(caller), r: Reader = Depends(reader)) -> AlertOut:
    if not body.feedback.strip():
        raise ApiError(422, "feedback: say how it ended", "feedback_required")
    return _act(ctx, c, alert_id, Action.CLOSE,
                lambda: ctx.actions.close(alert_id, c.actor, body.feedback, body.rating, body.false_alarm), r)


@router.get("/stats", response_model=StatsOut, summary="per rule: counts, time to acknowledge and to resolve")
def stats(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(caller),
          days: Annotated[float, Query(gt=0, le=3660)] = 30) -> StatsOut:
    since = ctx.now() - int(days * 86_400_000)
    return StatsOut(since=since, rules=[RuleStatsOut(**dataclasses.asdict(s))
                                        for s in ctx.store.stats(since=since, scope=c.scope.alerts)])
