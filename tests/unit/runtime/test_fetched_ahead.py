"""How many records wait fetched ahead (`workers.runtime.fetch_ahead`) and the rate that follows (`TakeRate`).

The engine pauses consumption when that many wait and resumes when half are taken. librdkafka's broker thread takes a
resumed partition up on its own cadence: its first records came back 0.15-1.03 s after the resume, so the half left
must outlast a second (issue 18: with 256 waiting at 200 ms of latency the records in flight fell to 0 every cycle).
"""

from __future__ import annotations

import math

import pytest

from workers.runtime.fetch_ahead import MeanMeter, RateMeter, TakeRate, fetched_ahead


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


def test_the_mean_meter_follows_recent_values() -> None:
    meter = MeanMeter(weight=0.1)
    assert meter.mean is None
    meter.add(0.5)
    assert meter.mean == 0.5  # the first value is the mean
    for _ in range(100):
        meter.add(0.06)
    assert meter.mean == pytest.approx(0.06, rel=0.01)


def test_the_take_rate_is_what_was_taken_before_any_record_finished() -> None:
    rate = TakeRate(32)
    rate.taken(32, 10.0)
    assert rate.per_second(10.0) == pytest.approx(32.0)


def test_a_starved_engine_fetches_ahead_what_its_bound_allows() -> None:
    """The sampler of issue 18's 20 ms benchmark: 32 in flight, 60 ms each, but the intake had run dry, so few
    records were taken in the last second. What waits fetched ahead follows the 533/s the bound allows (1,066
    records, 533 left at a resume: a second's worth), not the 100/s taken (the floor of 128, 64 left: 0.12 s)."""
    rate = TakeRate(32)
    for step in range(100):  # 100 taken over the last second
        rate.taken(1, 9.0 + step / 100)
    for _ in range(40):
        rate.finished(0.060)
    assert rate.per_second(10.0) == pytest.approx(32 / 0.060, rel=0.01)
    assert fetched_ahead(32, rate.per_second(10.0)) == 1066


def test_the_measured_rate_wins_when_records_stay_long_in_flight() -> None:
    """Records deferred in place (hours in flight) make the bound's rate tiny: the rate taken still counts."""
    rate = TakeRate(32)
    rate.finished(3600.0)
    for step in range(300):
        rate.taken(1, 9.0 + step / 300)
    assert rate.per_second(10.0) == pytest.approx(300 * (1 - math.exp(-1)), rel=0.05)


def test_an_engine_that_takes_at_least_half_what_its_bound_allows_follows_what_it_takes() -> None:
    """Not starved: the measured rate, which counts the pauses, not the noisy mean time in flight (the memory
    benchmark's invoices engine: 520-700/s taken while its bound allowed 470-1,180/s)."""
    rate = TakeRate(64)
    for step in range(900):
        rate.taken(1, 9.0 + step / 900)
    for _ in range(100):
        rate.finished(0.064)  # the bound allows 1,000/s
    measured = 900 * (1 - math.exp(-1))  # the meter after a second of it
    assert measured > 1000 / 2
    assert rate.per_second(10.0) == pytest.approx(measured, rel=0.05)
