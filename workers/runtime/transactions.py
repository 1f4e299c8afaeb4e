"""The one place that owns the transactional producer: outputs and offsets, committed together.

`commit()` runs one Kafka transaction: produce every released output, add the consumed offsets
(`send_offsets_to_transaction`, so the consumer group's progress commits with the outputs), and
commit. A retriable error is retried; an abortable one aborts and raises `TransactionAborted`,
after which the caller sends the same batch again (nothing of it is visible to read_committed
readers); a fatal one (this producer was fenced by a newer incarnation) raises
`ProducerFenced`: the process must stop, another owns its partitions now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition

__all__ = ["Encoded", "ProducerFenced", "TransactionAborted", "TransactionalPublisher"]

_log = logging.getLogger(__name__)
_TIMEOUT: Final = 30.0
_RETRIES: Final = 5


@dataclass(frozen=True, slots=True)
class Encoded:
    """A record ready for the wire."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class TransactionAborted(Exception):
    """The transaction was aborted; nothing of it is visible. Send the batch again."""


class ProducerFenced(Exception):
    """A newer producer with our transactional.id exists: stop, without committing anything more."""


class TransactionalPublisher:
    def __init__(self, config: Mapping[str, Any]) -> None:
        self._producer = Producer(dict(config))
        self._call(lambda: self._producer.init_transactions(_TIMEOUT), "init_transactions")

    def commit(self, records: Sequence[Encoded], offsets: Sequence[TopicPartition], group_metadata: Any) -> None:
        """Publish `records` and commit `offsets` for the group in one transaction."""
        self._call(self._producer.begin_transaction, "begin_transaction")
        try:
            for record in records:
                self._produce(record)
            if offsets:
                self._call(
                    lambda: self._producer.send_offsets_to_transaction(list(offsets), group_metadata, _TIMEOUT),
                    "send_offsets_to_transaction",
                )
            self._call(lambda: self._producer.commit_transaction(_TIMEOUT), "commit_transaction")
        except ProducerFenced:
            raise
        except (TransactionAborted, KafkaException) as exc:
            self._abort()
            raise TransactionAborted(str(exc)) from exc

    def close(self) -> None:
        self._producer.flush(_TIMEOUT)

    def _produce(self, record: Encoded) -> None:
        while True:
            try:
                self._producer.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers))
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let deliveries drain
            except KafkaException as exc:
                self._raise_for(exc.args[0], "produce")

    def _abort(self) -> None:
        try:
            self._producer.abort_transaction(_TIMEOUT)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.fatal():
                raise ProducerFenced(str(error)) from exc
            _log.warning("abort_transaction failed (%s); the broker will abort on timeout", error)

    def _call(self, action: Any, name: str) -> None:
        for attempt in range(1, _RETRIES + 1):
            try:
                action()
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.retriable() and attempt < _RETRIES:
                    _log.warning("%s: %s; retrying", name, error)
                    time.sleep(0.1 * attempt)
                    continue
                self._raise_for(error, name)

    @staticmethod
    def _raise_for(error: KafkaError, name: str) -> None:
        if error.fatal():
            raise ProducerFenced(f"{name}: {error}")
        if error.txn_requires_abort():
            raise TransactionAborted(f"{name}: {error}")
        raise KafkaException(error)
