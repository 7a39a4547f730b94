"""Errors of the wire contract.

    ContractError            a topic or payload breaks contract v1
      .code                  short machine-readable class (topic, size, json, schema, ts, ...)
      .reason                human-readable, precise: "data.total_l: expected number, got string"
"""

from __future__ import annotations


class ContractError(ValueError):
    """A topic or payload that breaks wire contract v1."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
