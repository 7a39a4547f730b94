"""Wire contract v1: ids, topics and message models shared by every Shouwang part.

Everything that builds or parses a topic string or a payload goes through this
package, so the contract lives in exactly one place (../shared/DESIGN.md, wire contract v1;
README, "Wire contract v1").
"""

from wire.errors import ContractError
from wire.ids import ID_PATTERN, is_valid_id, validate_id
from wire.models import (
    MAX_FUTURE_MS,
    MAX_PAYLOAD_BYTES,
    Channel,
    Kind,
    Message,
    decode,
    encode,
    validate_data,
)
from wire.topics import (
    DEAD_LETTER_TOPIC,
    ROOT,
    DeviceTopic,
    StateTopic,
    device_topic,
    parse_topic,
    state_topic,
)

__all__ = [
    "ID_PATTERN",
    "MAX_FUTURE_MS",
    "MAX_PAYLOAD_BYTES",
    "ROOT",
    "DEAD_LETTER_TOPIC",
    "Channel",
    "ContractError",
    "DeviceTopic",
    "Kind",
    "Message",
    "StateTopic",
    "decode",
    "device_topic",
    "encode",
    "is_valid_id",
    "parse_topic",
    "state_topic",
    "validate_data",
    "validate_id",
]
