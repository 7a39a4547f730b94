"""The part of the audit log an administrator may read: entries about their area, and what its people did.

An entry is shown when its actor is a user of the area (their own actions included; link
acknowledgements are recorded with the contact as actor and count by their alert), or its
target is an alert, household or user of the area. Failed logins under names nobody has
concern no area and are not shown.
"""

from __future__ import annotations

from sqlalchemy import String, cast, literal, or_, select

from console.auth import list_users
from console.context import AppContext
from console.deps import Caller
from console.schemas import AuditOut
from console.tables import AuditLog

BATCH = 500
HOUSEHOLD = "household "


def visible_entries(ctx: AppContext, c: Caller, limit: int) -> list[AuditOut]:
    """The newest `limit` entries the caller may read, newest first."""
    reg = ctx.registry.get()
    people = {u.username for u, _ in list_users(ctx.db)
              if u.scopes and all(c.scope.sees_node(s, reg) for s in u.scopes)} | {c.name}
    by_people = AuditLog.actor.in_(sorted(people)) & (AuditLog.role != "contact")
    ids = ctx.store.ids_in(c.scope.alerts).subquery()
    alerts = select(literal("alert ", String).concat(cast(ids.c.id, String)))
    cond = or_(by_people, AuditLog.target.in_(sorted(f"user {u}" for u in people)),
               AuditLog.target.in_(alerts),
               AuditLog.target.startswith(HOUSEHOLD))  # households: checked against the scope below

    def keep(r: AuditLog) -> bool:
        if not r.target.startswith(HOUSEHOLD) or (r.actor in people and r.role != "contact"):
            return True
        return c.scope.sees_node(r.target[len(HOUSEHOLD):], reg)

    out: list[AuditOut] = []
    before: int | None = None
    with ctx.db.session() as s:
        while len(out) < limit:
            q = select(AuditLog).where(cond).order_by(AuditLog.id.desc()).limit(BATCH)
            if before is not None:
                q = q.where(AuditLog.id < before)
            batch = list(s.scalars(q))
            out += [AuditOut(at=r.at, actor=r.actor, role=r.role, action=r.action, target=r.target, detail=r.detail)
                    for r in batch if keep(r)]
            if len(batch) < BATCH:
                break
            before = batch[-1].id
    return out[:limit]
