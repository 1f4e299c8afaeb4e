"""Helpers for the workers' end-to-end tests: the environment a worker reads, and a worker process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.kafka_backends import KafkaBackend
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
        "CESCE_BASE_URL": sandbox.base_url,
        "CESCE_CLIENT_ID": "it",
        "CESCE_CLIENT_SECRET": "it-secret",
        "CESCE_USERNAME": "it",
        "CESCE_PASSWORD": "it-password",
        "CESCE_RETRY_BACKOFF_BASE_SECONDS": "0.01",
        "CESCE_RETRY_BACKOFF_MAX_SECONDS": "0.05",
        "WORKER_RETRY_BACKOFF_BASE_SECONDS": "0.01",
        "WORKER_RETRY_BACKOFF_MAX_SECONDS": "0.1",
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
