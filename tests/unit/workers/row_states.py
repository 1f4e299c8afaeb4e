"""A worker's row state without Kafka: `RowState` over a loader that returns what the test says is stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workers.runtime import Output, RowState
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import AvroCodec

STATE_TOPIC = "cesce.rows"


def state_codec(schema: str) -> AvroCodec:
    return AvroCodec(schema_registry_client("mock://row-state-unit"), schema)


def row_state(schema: str, stored: Mapping[bytes, Mapping[str, Any]] | None = None) -> RowState:
    """A state whose every partition loads as `stored` (row key -> the value last sent), encoded as `schema`."""
    codec = state_codec(schema)
    encoded = {key: codec.encode(value, STATE_TOPIC) for key, value in (stored or {}).items()}

    async def load(_partition: int) -> dict[bytes, bytes]:
        return dict(encoded)

    return RowState(STATE_TOPIC, codec, load)


def state_records(outputs: list[Output], schema: str) -> dict[bytes, Any]:
    """The state records among `outputs` (`schema` records): row key -> its decoded value (None for a tombstone)."""
    decoder = state_codec(schema)
    found: dict[bytes, Any] = {}
    for output in outputs:
        if output.topic == STATE_TOPIC:
            assert isinstance(output.key, bytes)
            assert output.value is None or isinstance(output.value, bytes)
            found[output.key] = None if output.value is None else decoder.decode(output.value, STATE_TOPIC)
    return found
