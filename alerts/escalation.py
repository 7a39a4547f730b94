"""Escalation ladders: which roles are told at which step, and when the next step is due."""

from __future__ import annotations

from alerts.settings import AlertsConfig, EscalationStep
from alerts.types import Severity
from registry.types import Role


def ladder(cfg: AlertsConfig, severity: Severity) -> list[EscalationStep]:
    steps = cfg.escalation.get(severity.value)  # type: ignore[call-overload]
    return list(steps) if steps else [EscalationStep(after_min=0, roles=["grid_worker"])]


def roles_at(cfg: AlertsConfig, severity: Severity, step: int) -> list[Role]:
    """Roles told at `step` (0 = when the alert opens)."""
    steps = ladder(cfg, severity)
    return [Role(r) for r in steps[step].roles] if step < len(steps) else []


def roles_up_to(cfg: AlertsConfig, severity: Severity, step: int) -> list[Role]:
    """Every role told at steps 0..step (for follow-ups such as 'cleared')."""
    out: list[Role] = []
    for i in range(min(step + 1, len(ladder(cfg, severity)))):
        out += [r for r in roles_at(cfg, severity, i) if r not in out]
    return out


def next_due(cfg: AlertsConfig, severity: Severity, opened_at: int, step: int) -> int | None:
    """When step+1 is due if nobody acknowledges (None at the top of the ladder)."""
    steps = ladder(cfg, severity)
    if step + 1 >= len(steps):
        return None
    return opened_at + int(steps[step + 1].after_min * 60_000)
