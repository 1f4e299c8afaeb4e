"""Every error the runtime raises, in one tree.

    RuntimeFailure
    ├── SetupError                     the setup is wrong; no record mends it
    │   ├── CatalogError               a schema file is unusable (not JSON, not Avro, a clashing name)
    │   ├── RegistryMismatch           the registry does not hold or accept a schema as the catalog has it
    │   └── RegistryUnset              no SCHEMA_REGISTRY_URL (there is no default registry)
    ├── DeserializationError           bytes that do not decode: the record is dead-lettered at once
    ├── FieldError                     one value `coerce` refused (turned into a DeserializationError)
    ├── EncodeError                    a value its Avro schema refuses: a defect in the worker
    ├── RegistryUnavailable            the Schema Registry did not answer: transient, retried
    ├── TransactionAborted             nothing of the transaction is visible: send the batch again
    └── WorkerStopped                  the worker must stop; its message is the whole reason
        ├── ProducerFailed             fenced by a newer incarnation, or another fatal producer error
        └── OutputUnwritable           the cluster refuses every record for an output topic

Third-party errors (librdkafka's `KafkaException`, the registry client's) are translated at the
boundary that meets them, with ``raise ... from exc``. `RegistryMismatch` is also a `RuntimeError`
(its callers have always caught that), `RegistryUnset` a `ValueError` (a setting, like pydantic's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError

if TYPE_CHECKING:
    from workers.runtime.transactions import Encoded

__all__ = [
    "CatalogError",
    "DeserializationError",
    "EncodeError",
    "FieldError",
    "OutputUnwritable",
    "ProducerFailed",
    "RegistryMismatch",
    "RegistryUnavailable",
    "RegistryUnset",
    "RuntimeFailure",
    "SetupError",
    "TransactionAborted",
    "WorkerStopped",
]


class RuntimeFailure(Exception):
    """The root: anything the runtime raises on purpose."""


class SetupError(RuntimeFailure):
    """The setup is wrong (schemas, registry): no record mends it, a person must."""


class CatalogError(SetupError):
    """A schema file that cannot be used: not JSON, not a valid Avro record, or a clashing name."""


class RegistryMismatch(SetupError, RuntimeError):
    """The registry does not hold or accept a schema as the catalog has it: a subject not registered (with
    auto-registration off), a registration refused, or a mock registry whose ids do not follow the catalog order."""


class RegistryUnset(SetupError, ValueError):
    """``SCHEMA_REGISTRY_URL`` is not set: no default registry (``mock://`` is one process's own, for unit tests)."""


class DeserializationError(RuntimeFailure):
    """Bytes that cannot be decoded; permanent, so the record goes to the dead-letter topic.

    ``str(error)`` is the reason, which names the field where there is one.
    """

    def __init__(self, code: str, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.field = field


class FieldError(RuntimeFailure):
    """`coerce` refused a value; ``field`` is its dotted path (``after.amount``, ``lines[2].qty``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field or 'value'}: {reason}")
        self.field = field
        self.reason = reason


class EncodeError(RuntimeFailure):
    """A value that its Avro schema refuses: a missing field, a float for money, a surplus decimal."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class RegistryUnavailable(RuntimeFailure):
    """The Schema Registry did not answer (connection, timeout, 5xx): retry later, do not dead-letter."""


class TransactionAborted(RuntimeFailure):
    """The transaction was aborted; nothing of it is visible. Send the batch again (rerouting `refused`)."""

    def __init__(self, reason: str, refused: Sequence[tuple[Encoded, KafkaError]] = ()) -> None:
        super().__init__(reason)
        self.refused = list(refused)


class WorkerStopped(RuntimeFailure):
    """The worker must stop; the message says why in one line (`cesce-worker run` logs it, no traceback)."""


class ProducerFailed(WorkerStopped):
    """The producer cannot go on (fenced by a newer incarnation, or a fatal error): stop, committing nothing more."""

    def __init__(self, message: str, error: KafkaError | None = None) -> None:
        super().__init__(message)
        self.error = error

    @property
    def fenced(self) -> bool:
        """A newer producer with our transactional.id took over (librdkafka reports the broker's PRODUCER_FENCED
        and INVALID_PRODUCER_EPOCH as ``_FENCED``), rather than any other fatal error."""
        codes = (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
        return self.error is not None and self.error.code() in codes


class OutputUnwritable(WorkerStopped):
    """The cluster refuses every record for an output topic (unknown topic, no permission): the worker
    stops, with this one line as the reason; no record can mend it, a person must."""
