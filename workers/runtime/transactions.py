"""The one place that owns the transactional producer: outputs and offsets, committed together.

`commit()` runs one Kafka transaction: produce every released output, wait for their delivery
reports, add the consumed offsets (`send_offsets_to_transaction`, so the consumer group's progress
commits with the outputs), and commit. Every librdkafka error is handled as ``rdkafka.h`` and
INTRODUCTION.md ("Transactional Producer") document it, by its class, at every call:

- **retriable** (a timeout, a coordinator moving): the same call again, until the transaction's
  time is up. ``commit_transaction`` and ``abort_transaction`` are resumable: a retried call picks
  up where the last one stopped. An abort that still does not finish is finished at the start of
  the next `commit()`, before ``begin_transaction``;
- **abortable** (``txn_requires_abort``, a record refused in its delivery report, or a retriable
  error that outlived its time): abort (itself retried) and raise `TransactionAborted`; nothing of
  the transaction is visible to read_committed readers and the caller sends the batch again. The
  records the cluster refused, with the error of each, travel on the exception (`refused`), so
  the caller can tell a record it must reroute (too large) from a cluster it must not write to;
- **fatal** (``fatal()``: fenced by a newer producer with our transactional.id, or any other
  unrecoverable state) and any error the contract does not describe: `ProducerFailed`. The process
  must stop; another member owns its partitions, or a person must look.

No call waits longer than the transaction timeout (``transaction.timeout.ms``): a transaction that
outlives it is aborted by the broker anyway.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

from workers.runtime.errors import ProducerFailed, TransactionAborted

if TYPE_CHECKING:
    from workers.runtime.contract import InputRecord

__all__ = [
    "DEFAULT_TRANSACTION_TIMEOUT_MS",
    "Encoded",
    "Refusal",
    "TransactionalPublisher",
    "refusal_of",
]

_log = logging.getLogger(__name__)

DEFAULT_TRANSACTION_TIMEOUT_MS: Final = 15_000
"""Our transactions last well under a second; a dead member's open one holds read_committed readers
of every output partition (and the next owner's offset fetch) until the broker aborts it after this."""
_RETRY_PAUSE: Final = 0.1
_ANY_PARTITION: Final = -1  # RD_KAFKA_PARTITION_UA: the configured partitioner chooses by key
_MESSAGE_MAX_BYTES: Final = 1_000_000  # librdkafka's default message.max.bytes
_HEADER_OVERHEAD: Final = 10  # a header's varints on the wire, at most (librdkafka counts them in the size)

# Errors a record meets whatever we do with the transaction: it must go elsewhere.
_RECORD_ERRORS: Final = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG,
    }
)
# Errors no record and no retry can mend: the topic or the permissions are wrong.
_CONFIGURATION_ERRORS: Final = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.POLICY_VIOLATION,
        KafkaError._AUTHENTICATION,
    }
)
# Delivery reports of records purged by our own abort: a consequence, not a cause.
_PURGED: Final = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})
# Codes that mean the producer is done for even without the fatal flag: confluent-kafka-python raises
# produce() errors with every flag cleared, and after a fatal error librdkafka's produce answers _FATAL.
_FATAL_CODES: Final = frozenset({KafkaError._FATAL, KafkaError._FENCED})


def _fatal(error: KafkaError) -> bool:
    return error.fatal() or error.code() in _FATAL_CODES


class Refusal(StrEnum):
    """What a record refused by the cluster needs (`refusal_of`)."""

    RECORD = "record"
    """This record can never be written as it is (too large, invalid): reroute it."""
    CONFIGURATION = "configuration"
    """No record can be written there (unknown topic, no permission): stop and say so."""
    TRANSIENT = "transient"
    """Anything else: the batch goes again."""


def refusal_of(error: KafkaError) -> Refusal:
    code = error.code()
    if code in _RECORD_ERRORS:
        return Refusal.RECORD
    if code in _CONFIGURATION_ERRORS:
        return Refusal.CONFIGURATION
    return Refusal.TRANSIENT


@dataclass(frozen=True, slots=True)
class Encoded:
    """A record ready for the wire, and the input record it answers."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    source: InputRecord | None = None
    dead_letter: bool = False
    partition: int | None = None
    """An explicit partition (a state topic partitioned like its input); None: the partitioner's choice by key."""

    @property
    def size(self) -> int:
        """Bytes librdkafka holds against ``message.max.bytes`` (key, value and serialized headers), or a bit more."""
        headers = sum(len(name.encode()) + len(value or b"") + _HEADER_OVERHEAD for name, value in self.headers)
        return len(self.key or b"") + len(self.value or b"") + headers


class _Producer(Protocol):  # what we use of confluent_kafka.Producer (tests pass a fake)
    def init_transactions(self, timeout: float) -> None: ...
    def begin_transaction(self) -> None: ...
    def produce(self, topic: str, **kwargs: Any) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def send_offsets_to_transaction(self, offsets: list[TopicPartition], metadata: Any, timeout: float) -> None: ...
    def commit_transaction(self, timeout: float) -> None: ...
    def abort_transaction(self, timeout: float) -> None: ...


class TransactionalPublisher:
    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        producer: Callable[[dict[str, Any]], _Producer] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings = {"transaction.timeout.ms": DEFAULT_TRANSACTION_TIMEOUT_MS, **config}
        self.timeout = int(settings["transaction.timeout.ms"]) / 1000
        self._max_bytes = int(settings.get("message.max.bytes", _MESSAGE_MAX_BYTES))
        """Seconds: the longest any call may take (the broker aborts a transaction older than this)."""
        self._clock, self._sleep = clock, sleep
        self._producer = (producer or Producer)(settings)
        self._abort_pending = False
        try:
            self._retrying(self._producer.init_transactions, "init_transactions")
        except TransactionAborted as exc:  # there is no transaction yet: nothing to send again
            raise ProducerFailed(f"the producer could not start: {exc}") from exc

    def commit(self, records: Sequence[Encoded], offsets: Sequence[TopicPartition], group_metadata: Any) -> None:
        """Publish `records` and commit `offsets` for the group in one transaction."""
        oversized = [(record, self._too_large(record)) for record in records if record.size > self._max_bytes]
        if oversized:  # refused before the transaction begins: nothing of the batch is produced in vain
            raise TransactionAborted(f"{len(oversized)} record(s) over message.max.bytes", oversized)
        if self._abort_pending:
            self._abort("the abort of the last transaction had not finished")
        self._once(self._producer.begin_transaction, "begin_transaction")
        try:
            refused = self._produce_all(records)
            if refused:
                raise TransactionAborted(
                    f"{len(refused)} record(s) refused, first {refused[0][0].topic}: {refused[0][1]}", refused
                )
            if offsets:
                self._retrying(
                    lambda left: self._producer.send_offsets_to_transaction(list(offsets), group_metadata, left),
                    "send_offsets_to_transaction",
                )
            self._retrying(self._producer.commit_transaction, "commit_transaction", resumable=True)
        except TransactionAborted as exc:
            try:
                self._abort(str(exc))
            except TransactionAborted as unfinished:  # the refused records still travel with the reason
                raise TransactionAborted(f"{exc}; {unfinished}", exc.refused) from unfinished
            raise

    def _too_large(self, record: Encoded) -> KafkaError:
        return KafkaError(
            KafkaError.MSG_SIZE_TOO_LARGE,
            f"{record.size} bytes with its headers, over message.max.bytes ({self._max_bytes})",
        )

    def close(self) -> None:
        self._producer.flush(self.timeout)

    def _produce_all(self, records: Sequence[Encoded]) -> list[tuple[Encoded, KafkaError]]:
        """Produce every record and wait for their delivery reports; the records refused, with why."""
        refused: list[tuple[Encoded, KafkaError]] = []

        def delivered(record: Encoded, error: KafkaError | None, _message: Any) -> None:
            if error is not None and error.code() not in _PURGED:
                refused.append((record, error))

        deadline = self._clock() + self.timeout
        for record in records:
            while True:
                try:
                    self._producer.produce(
                        record.topic,
                        value=record.value,
                        key=record.key,
                        headers=list(record.headers),
                        on_delivery=functools.partial(delivered, record),
                        partition=_ANY_PARTITION if record.partition is None else record.partition,
                    )
                    break
                except BufferError as exc:
                    if self._clock() > deadline:
                        raise TransactionAborted(
                            f"the local queue stayed full for {self.timeout:g} s", refused
                        ) from exc
                    self._producer.poll(0.05)  # the local queue is full: let deliveries drain
                except KafkaException as exc:
                    error: KafkaError = exc.args[0]
                    if _fatal(error):
                        raise ProducerFailed(f"produce: {error}", error) from exc
                    refused.append((record, error))  # refused before it left (too large, unknown topic)
                    break
        if self._producer.flush(self.timeout) > 0:
            raise TransactionAborted(f"delivery not confirmed within {self.timeout:g} s", refused)
        return refused

    def _abort(self, reason: str) -> None:
        """Abort the open transaction, retrying a retriable failure; left pending (finished by the next
        `commit()`) if it still does not finish."""
        self._abort_pending = True
        try:
            self._retrying(self._producer.abort_transaction, "abort_transaction")
        except TransactionAborted as exc:
            _log.warning("abort_transaction did not finish (%s); finished before the next transaction", exc)
            raise
        self._abort_pending = False
        _log.debug("transaction aborted: %s", reason)

    def _once(self, action: Callable[[], None], name: str) -> None:
        """A call the contract does not ask us to retry: any error is fatal."""
        try:
            action()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            raise ProducerFailed(f"{name}: {error}", error) from exc

    def _retrying(self, action: Callable[[float], None], name: str, *, resumable: bool = False) -> None:
        """`action(seconds left)` until it succeeds or the transaction's time is up: then abortable, except for a
        `resumable` call (``commit_transaction``), whose outcome is unknown then: it may still complete in the
        background and an abort would conflict with it, so the producer stops (`ProducerFailed`) and the next
        incarnation's ``init_transactions`` settles the transaction, one way or the other."""
        deadline = self._clock() + self.timeout
        attempt = 0
        while True:
            attempt += 1
            left = max(deadline - self._clock(), 0.0)
            try:
                action(left)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if _fatal(error):
                    raise ProducerFailed(f"{name}: {error}", error) from exc
                if error.txn_requires_abort():
                    raise TransactionAborted(f"{name}: {error}") from exc
                if not error.retriable():
                    raise ProducerFailed(f"{name}: {error} (neither retriable nor abortable)", error) from exc
                if self._clock() + _RETRY_PAUSE * attempt >= deadline:
                    if resumable:
                        raise ProducerFailed(
                            f"{name}: {error}, still after {self.timeout:g} s; its outcome is unknown, so this "
                            "producer stops and the next one's init_transactions settles it",
                            error,
                        ) from exc
                    raise TransactionAborted(f"{name}: {error}, still after {self.timeout:g} s") from exc
                _log.warning("%s: %s; retrying", name, error)
                self._sleep(_RETRY_PAUSE * attempt)
