"""Deterministic random streams: one per (scenario seed, device or household, purpose[, day]).

Each stream is a random.Random seeded from a SHA-256 of its parts, so it does not depend
on Python's hash randomization, on the order devices are built in, or on other streams:
adding an incident to one household changes nothing for the others.
"""

from __future__ import annotations

import hashlib
import random


def derive(seed: int, *parts: object) -> int:
    """A 64-bit seed from the scenario seed and the given parts."""
    text = "\x1f".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def rng_for(seed: int, *parts: object) -> random.Random:
    """A random stream for the given parts (e.g. household id, "day", 12)."""
    return random.Random(derive(seed, *parts))
