"""Helpers for the workers' end-to-end tests: the environment a worker reads, and a worker process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from confluent_kafka import Message

from tests.integration.runtime.support import read
from tests.kafka_backends import KafkaBackend, unique_topic
from workers.runtime import WorkerSpec
from workers.runtime.registry import schema_registry_client
from workers.runtime.run import serve_all
from workers.runtime.serde import AvroReader
from workers.sandbox import RunningSandbox


def worker_env(kafka: KafkaBackend, sandbox: RunningSandbox, registry: str, group: str) -> dict[str, str]:
    """Kafka, the registry, the sandbox's Cesce and fast retries: what every worker test starts from."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        **{f"KAFKA_{k.upper().replace('.', '_')}": v for k, v in kafka.client_config.items()},
        "SCHEMA_REGISTRY_URL": registry,
        "WORKER_GROUP_ID": group,
        "WORKER_INSTANCE_ID": "it",
        "WORKER_COMMIT_INTERVAL_MS": "100",
        "WORKER_HTTP_PORT": "0",
        "CESCE_BASE_URL": sandbox.base_url,
        "CESCE_CLIENT_ID": "it",
        "CESCE_CLIENT_SECRET": "it-secret",
        "CESCE_USERNAME": "it",
        "CESCE_PASSWORD": "it-password",
        "CESCE_RETRY_BACKOFF_BASE_SECONDS": "0.01",
        "CESCE_RETRY_BACKOFF_MAX_SECONDS": "0.05",
        "WORKER_RETRY_BACKOFF_BASE_SECONDS": "0.01",
        "WORKER_RETRY_BACKOFF_MAX_SECONDS": "0.1",
        "INVOICES_CREDIT_NOTE_WAIT_SECONDS": "0",  # a credit note with no sale is a dead letter at once
        # each test's own row states: the embedded broker lives for the whole session
        "INVOICES_STATE_TOPIC": unique_topic("cesce.invoices.rows"),
        "CREDIT_REQUESTS_STATE_TOPIC": unique_topic("cesce.credit-requests.rows"),
        "NON_PAYMENTS_STATE_TOPIC": unique_topic("cesce.non-payments.rows"),
    }


@contextmanager
def worker_process(worker: str, env: dict[str, str], log: str) -> Iterator[subprocess.Popen[bytes]]:
    """`cesce-worker run <worker>` in a child process, its output in `log`; killed if still running at the end."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "run", worker],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


@asynccontextmanager
async def running(specs: Sequence[WorkerSpec], env: dict[str, str]) -> AsyncIterator[None]:
    """The specs served in this event loop for the duration of the block (then drained and stopped)."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve_all(specs, env, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)


async def read_async(kafka: KafkaBackend, topics: list[str], expect: int, within: float = 60) -> list[Message]:
    """`runtime_support.read` off the event loop, so the workers keep running while the test waits."""
    return await asyncio.to_thread(read, kafka, topics, expect=expect, timeout=within)


def decoded(registry: str, messages: list[Message], topic: str) -> list[dict[str, Any]]:
    """The Avro values of the records of `topic` among `messages`, tombstones left out."""
    with schema_registry_client(registry) as client:
        reader = AvroReader(client)
        return [reader.decode(m.value() or b"", topic).value for m in messages if m.topic() == topic and m.value()]
