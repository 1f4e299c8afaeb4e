"""How many records wait fetched ahead (`workers.runtime.engine.fetched_ahead`) and the rate it follows (`RateMeter`).

The engine pauses consumption when that many wait and resumes when half are taken. librdkafka's broker thread takes a
resumed partition up on its own cadence: its first records came back 0.15-1.03 s after the resume, so the half left
must outlast a second (issue 18: with 256 waiting at 200 ms of latency the records in flight fell to 0 every cycle).
"""

from __future__ import annotations

import math

import pytest

from workers.runtime.engine import RateMeter, fetched_ahead


def test_four_in_flight_bounds_when_records_are_taken_slowly() -> None:
    assert fetched_ahead(64, 0.0) == 256
    assert fetched_ahead(64, 100.0) == 256  # two seconds' worth is 200: the bound's multiple is more


def test_two_seconds_worth_when_records_are_taken_fast() -> None:
    assert fetched_ahead(64, 300.0) == 600  # the 300 left at a resume last a second
    assert fetched_ahead(64, 800.0) == 1600


def test_never_more_than_the_ceiling() -> None:
    assert fetched_ahead(64, 1_000_000.0) == 4000
    assert fetched_ahead(2000, 1_000_000.0) == 8000  # four bounds' worth still wins: the bound is the operator's


def test_the_rate_meter_counts_per_second_and_forgets() -> None:
    meter = RateMeter(window=1.0)
    assert meter.per_second(10.0) == 0.0
    for step in range(1000):  # 500 a second for two seconds: near the steady level of 500/s
        meter.add(1, 10.0 + step / 500)
    assert meter.per_second(12.0) == pytest.approx(500 * (1 - math.exp(-2)), rel=0.01)
    assert meter.per_second(22.0) < 1.0  # ten seconds idle: forgotten
