"""Build and parse contract topics; the only place topic strings are assembled.

    sw/v1/{gateway}/{device}/{channel}   channel: reading | event | status
    sw/v1/{gateway}/state                retained presence, last will
"""

from __future__ import annotations

from dataclasses import dataclass

from wire.errors import ContractError
from wire.ids import is_valid_id, validate_id
from wire.kinds import Channel

ROOT = "sw/v1"
#: where ingest republishes messages that break the contract (ids cannot contain "_",
#: so this can never collide with a gateway's prefix)
DEAD_LETTER_TOPIC = "sw/_deadletter/v1"
#: what a service subscribes to for every gateway message
ALL_TOPICS = f"{ROOT}/#"

_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """A device topic: sw/v1/{gateway}/{device}/{channel}."""

    gateway: str
    device: str
    channel: Channel

    def __str__(self) -> str:
        return f"{ROOT}/{self.gateway}/{self.device}/{self.channel.value}"


@dataclass(frozen=True, slots=True)
class StateTopic:
    """A gateway presence topic: sw/v1/{gateway}/state."""

    gateway: str

    def __str__(self) -> str:
        return f"{ROOT}/{self.gateway}/state"


def device_topic(gateway: str, device: str, channel: Channel | str) -> str:
    """Topic string for a device message; validates both ids and the channel."""
    validate_id(gateway, "gateway")
    validate_id(device, "device")
    ch = _CHANNELS.get(str(channel))
    if ch is None:
        raise ContractError("topic", f"channel {channel!r} is not one of {sorted(_CHANNELS)}")
    return f"{ROOT}/{gateway}/{device}/{ch.value}"


def state_topic(gateway: str) -> str:
    """Topic string for a gateway's retained presence."""
    validate_id(gateway, "gateway")
    return f"{ROOT}/{gateway}/state"


def parse_topic(topic: str) -> DeviceTopic | StateTopic:
    """Parse a contract topic or raise ContractError with the reason."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "sw" or parts[1] != "v1":
        raise ContractError("topic", f"topic {topic[:120]!r} is not under {ROOT}/")
    gateway = parts[2]
    if not is_valid_id(gateway):
        raise ContractError("topic", f"gateway id {gateway[:70]!r} is not a valid id")
    if len(parts) == 4:
        if parts[3] == "state":
            return StateTopic(gateway)
        raise ContractError("topic", f"unknown gateway topic {parts[3][:40]!r} (expected 'state')")
    if len(parts) != 5:
        raise ContractError("topic", f"topic has {len(parts)} levels, expected 5: sw/v1/gateway/device/channel")
    device, channel = parts[3], parts[4]
    if not is_valid_id(device):
        raise ContractError("topic", f"device id {device[:70]!r} is not a valid id")
    ch = _CHANNELS.get(channel)
    if ch is None:
        raise ContractError("topic", f"channel {channel[:40]!r} is not one of {sorted(_CHANNELS)}")
    return DeviceTopic(gateway, device, ch)


def log_topic(topic: str) -> str:
    """A topic fit for a log line: contract ids and keywords kept, any other segment (which a client chose
    and which could carry a name or a phone number) replaced by its length."""
    parts = topic.split("/")
    out = []
    for i, part in enumerate(parts[:6]):
        keep = (i == 0 and part == "sw") or (i == 1 and part == "v1") or (i >= 2 and is_valid_id(part)) \
            or part in _CHANNELS or part == "state"
        out.append(part if keep else f"<{len(part)} chars>")
    if len(parts) > 6:
        out.append(f"<{len(parts) - 6} more levels>")
    return "/".join(out)


def is_gateway_state_topic(topic: str) -> bool:
    """True for a well-formed sw/v1/{gateway}/state (the one topic a gateway may keep retained)."""
    parts = topic.split("/")
    return len(parts) == 4 and parts[:2] == ["sw", "v1"] and parts[3] == "state" and is_valid_id(parts[2])
