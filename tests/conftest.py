"""Suite-wide fixtures: the Kafka backend, and a guard that no test leaves a sandbox thread (and port) behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.kafka_backends import kafka  # noqa: F401 - the `kafka` fixture, for every test
from tests.otel_support import telemetry  # noqa: F401 - the in-memory OpenTelemetry SDK, for tests that ask


@pytest.fixture(autouse=True)
def _no_sandbox_left_running() -> Iterator[None]:
    yield
    leftovers = [t.name for t in threading.enumerate() if t.name == "cesce-sandbox" and t.is_alive()]
    assert not leftovers, f"a test left {len(leftovers)} sandbox thread(s) running"
