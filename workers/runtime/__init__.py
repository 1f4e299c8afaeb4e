"""Kafka plumbing: consume -> handle -> produce, concurrency, exactly-once, dead letters, serde.

This is the runtime's public face: everything a worker author uses, and nothing else. A worker is a
handler from one decoded `InputRecord` to an outcome (`Publish`, `DeadLetter`, `Retry`, `Defer`),
declared in a `WorkerSpec` with its decoder; the domain packages import only from here.
"""

from __future__ import annotations

from workers.runtime.chains import Chains
from workers.runtime.contract import (
    ROW_KEY_HEADER,
    DeadLetter,
    Defer,
    ErrorCategory,
    Handler,
    InputRecord,
    Outcome,
    Output,
    Publish,
    Retry,
    Skip,
)
from workers.runtime.envelope import Envelope, EnvelopeDecoder
from workers.runtime.rekey import by_row, ordered_by
from workers.runtime.row_state import PartitionRows, RowState, StateUnavailable
from workers.runtime.serde import TOMBSTONE, AvroCodec, Tombstone, state_decoder
from workers.runtime.spec import Decoder, DecoderFactory, Encoder, WorkerContext, WorkerSpec, envelopes, states
from workers.runtime.table import CompactedTable

__all__ = [
    "ROW_KEY_HEADER",
    "TOMBSTONE",
    "AvroCodec",
    "Chains",
    "CompactedTable",
    "DeadLetter",
    "Decoder",
    "DecoderFactory",
    "Defer",
    "Encoder",
    "Envelope",
    "EnvelopeDecoder",
    "ErrorCategory",
    "Handler",
    "InputRecord",
    "Outcome",
    "Output",
    "PartitionRows",
    "Publish",
    "Retry",
    "RowState",
    "Skip",
    "StateUnavailable",
    "Tombstone",
    "WorkerContext",
    "WorkerSpec",
    "by_row",
    "envelopes",
    "ordered_by",
    "state_decoder",
    "states",
]
