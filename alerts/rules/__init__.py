"""Alert rules: each turns messages and clock ticks into Raise / Clear / Cancel actions.

    button.py   call button press / cancel / merge
    health.py   gateway offline, device silent, battery low
    river.py    filtered level, stages with hysteresis, robust rate of rise, forecast
    water.py    inactivity (learned routine, vectorised) and continuous flow
    camera.py   zone/schedule rules, cooldown, two-zone confirmation, tamper
"""

from alerts.rules.base import RuleContext, RuleSet

__all__ = ["RuleContext", "RuleSet"]
