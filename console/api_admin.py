"""Registry management and user accounts for street administrators; the audit log."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from console.api_auth import user_out
from console.audit_view import visible_entries
from console.auth import AccountError, create_user, get_user, list_users, set_active
from console.context import AppContext
from console.deps import Caller, admin, carer, get_ctx, staff
from console.import_scope import refusals
from console.schemas import ID_MAX, AuditOut, AwayIn, ImportIn, ImportOut, NodeOut, UserIn, UserOut
from console.scope import Scope
from registry.csvio import RegistryFileError, import_rows, read_rows
from registry.model import load_snapshot
from registry.types import Level

router = APIRouter(prefix="/api", tags=["registry"])
_importing = threading.Lock()
Code = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


@router.get("/registry/nodes", response_model=list[NodeOut], summary="places in your area")
def nodes(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(staff),
          level: Annotated[Level | None, Query()] = None,
          parent: Annotated[str | None, Query(max_length=64)] = None,
          limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> list[NodeOut]:
    reg = ctx.registry.get()
    out = []
    for n in sorted(reg.nodes.values(), key=lambda n: n.code):
        if (level is None or n.level is level) and (parent is None or n.parent == parent) and \
                c.scope.sees_node(n.code, reg):
            out.append(NodeOut(code=n.code, level=n.level.value, parent=n.parent, name=n.name))
            if len(out) >= limit:
                break
    return out


@router.post("/registry/import", response_model=ImportOut, summary="import registry rows (CSV) under your street")
def registry_import(body: ImportIn, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(admin)) -> ImportOut:
    try:
        rows, errors, _, _ = read_rows(body.csv, "<api>")
    except RegistryFileError as exc:
        raise HTTPException(422, f"csv: {exc}") from None
    if errors:
        return ImportOut(rows=len(rows) + len({e.row for e in errors}), created=0, updated=0,
                         errors=[str(e) for e in errors], dry_run=True)
    with _importing:  # no other import of this API moves things between the check and the write
        reg = load_snapshot(ctx.db)  # now, not the cached snapshot: who owns what is decided on current rows
        bad = refusals(rows, reg, Scope.build(c.user.role, c.user.scopes, reg))
        if bad:
            raise HTTPException(403, "; ".join(bad[:20]) + (f"; and {len(bad) - 20} more rows" if len(bad) > 20
                                                            else ""))
        report = import_rows(ctx.db, body.csv, "<api>", dry_run=body.dry_run)
    if not body.dry_run:
        ctx.registry.reload()
    ctx.audit(c.name, c.user.role.value, "registry.import", f"{len(rows)} rows",
              report.summary(), c.address)
    return ImportOut(rows=report.rows, created=report.created, updated=report.updated,
                     errors=[str(e) for e in report.errors], dry_run=report.dry_run)


@router.put("/registry/households/{code}/away", status_code=204, summary="away mode: no inactivity alerts until")
def away(code: Code, body: AwayIn, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(carer)) -> None:
    reg = ctx.registry.get()
    if code not in reg.households or not c.scope.sees_node(code, reg):
        raise HTTPException(404, f"no household {code} in your area")
    ctx.actions.set_away(code, body.until, c.actor)
    ctx.registry.reload()


def _in_area(c: Caller, ctx: AppContext, scopes: list[str] | tuple[str, ...]) -> bool:
    reg = ctx.registry.get()
    return all(c.scope.sees_node(s, reg) for s in scopes)


@router.get("/users", response_model=list[UserOut], summary="accounts scoped inside your area")
def users(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(admin)) -> list[UserOut]:
    return [user_out(u, active) for u, active in list_users(ctx.db) if _in_area(c, ctx, u.scopes)]


@router.post("/users", response_model=UserOut, status_code=201, summary="create an account inside your area")
def create(body: UserIn, ctx: AppContext = Depends(get_ctx), c: Caller = Depends(admin)) -> UserOut:
    reg = ctx.registry.get()
    if not _in_area(c, ctx, body.scopes):
        raise HTTPException(403, "scopes: every node must lie in your area")
    try:
        u = create_user(ctx.db, reg, body.username, body.password, body.role, body.scopes, contact=body.contact,
                        display_name=body.display_name, language=body.language, now=ctx.now())
    except AccountError as exc:
        raise HTTPException(409 if "taken" in str(exc) else 422, str(exc)) from None
    ctx.audit(c.name, c.user.role.value, "user.create", f"user {u.username}",
              f"{u.role.value} {','.join(u.scopes)}", c.address)
    return user_out(u)


@router.post("/users/{user_id}/deactivate", response_model=UserOut, summary="lock an account and end its sessions")
def deactivate(user_id: Annotated[int, Path(ge=1, le=ID_MAX)], ctx: AppContext = Depends(get_ctx),
               c: Caller = Depends(admin)) -> UserOut:
    found = get_user(ctx.db, user_id)
    if found is None or not _in_area(c, ctx, found[0].scopes):
        raise HTTPException(404, f"no user {user_id} in your area")
    if found[0].id == c.user.id:
        raise HTTPException(409, "you cannot lock yourself out")
    set_active(ctx.db, user_id, False)
    ctx.audit(c.name, c.user.role.value, "user.deactivate", f"user {found[0].username}", "", c.address)
    return user_out(found[0], False)


@router.get("/audit", response_model=list[AuditOut], summary="the latest writes made through the API in your area")
def audit(ctx: AppContext = Depends(get_ctx), c: Caller = Depends(admin),
          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[AuditOut]:
    return visible_entries(ctx, c, limit)
