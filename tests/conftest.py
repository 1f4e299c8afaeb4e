"""Suite-wide guard: no test may leave a sandbox thread (and so its port) behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_sandbox_left_running() -> Iterator[None]:
    yield
    leftovers = [t.name for t in threading.enumerate() if t.name == "cesce-sandbox" and t.is_alive()]
    assert not leftovers, f"a test left {len(leftovers)} sandbox thread(s) running"
