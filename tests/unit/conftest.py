"""Fixtures of the client's unit tests: a scripted Cesce behind httpx.MockTransport and a client on it.

Modules that need another fake or client (other routes, a fake clock, one try) define their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.cesce.fakes import FakeCesce, client_for
from workers.cesce.client import CesceClient


@pytest.fixture
def fake() -> FakeCesce:
    return FakeCesce()


@pytest.fixture
async def client(fake: FakeCesce) -> AsyncIterator[CesceClient]:
    async with client_for(fake) as cesce:
        yield cesce
