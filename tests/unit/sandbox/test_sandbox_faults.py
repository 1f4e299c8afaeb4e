"""Fault decisions without sockets: the token bucket, seeded draws, maintenance, config merging."""

from __future__ import annotations

from typing import Any

import pytest

from workers.sandbox.config import Faults, faults_from_wire, faults_to_wire
from workers.sandbox.faults import FaultInjector, Outcome, TokenBucket


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_allows_a_second_of_burst_then_refills() -> None:
    ticks = Ticks()
    bucket = TokenBucket(2, ticks)
    assert [bucket.take() for _ in range(2)] == [None, None]
    assert bucket.take() == pytest.approx(0.5)
    ticks.now += 0.5
    assert bucket.take() is None
    assert bucket.take() == pytest.approx(0.5)


def test_a_slow_bucket_holds_one_request() -> None:
    ticks = Ticks()
    bucket = TokenBucket(0.2, ticks)
    assert bucket.take() is None
    assert bucket.take() == pytest.approx(5.0)


def test_rate_limit_refusal_has_an_integer_retry_after_of_at_least_one() -> None:
    ticks = Ticks()
    injector = FaultInjector(Faults(rate_limit=10), seed=1, monotonic=ticks)
    assert all(injector.admit() is None for _ in range(10))
    refusal = injector.admit()
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.headers) == (429, "29", {"Retry-After": "1"})
    slow = FaultInjector(Faults(rate_limit=0.25), seed=1, monotonic=ticks)
    slow.admit()
    refused = slow.admit()
    assert refused is not None
    assert refused.headers["Retry-After"] == "4"
    assert injector.counters.rate_limited == 1


def test_maintenance_is_refused_after_the_rate_limit() -> None:
    injector = FaultInjector(Faults(maintenance=True), seed=1)
    refusal = injector.admit()
    assert refusal is not None
    assert (refusal.status, refusal.code, refusal.description) == (400, "18", "Servicio en mantenimiento")


def test_draws_are_reproducible_per_seed_and_independent_per_fault() -> None:
    def errors(faults: Faults, seed: int) -> list[bool]:
        injector = FaultInjector(faults, seed=seed)
        result = []
        for _ in range(50):
            result.append(injector.fails())
            injector.outcome()
        return result

    half = Faults(error_rate=0.5)
    assert errors(half, 7) == errors(half, 7)
    assert errors(half, 7) != errors(half, 8)
    assert 10 < sum(errors(half, 7)) < 40
    # turning on hangs and drops does not shift the error sequence
    assert errors(Faults(error_rate=0.5, hang_rate=0.5, drop_rate=0.5), 7) == errors(half, 7)


def test_outcomes() -> None:
    assert FaultInjector(Faults(), seed=1).outcome() is Outcome.DELIVER
    assert FaultInjector(Faults(hang_rate=1), seed=1).outcome() is Outcome.HANG
    assert FaultInjector(Faults(drop_rate=1), seed=1).outcome() is Outcome.DROP
    never = FaultInjector(Faults(error_rate=0), seed=1)
    assert not any(never.fails() for _ in range(100))


def test_delay_is_latency_plus_jitter_within_bounds() -> None:
    injector = FaultInjector(Faults(latency_ms=100, jitter_ms=50), seed=3)
    delays = [injector.delay() for _ in range(100)]
    assert all(0.1 <= d <= 0.15 for d in delays)
    assert len(set(delays)) > 1
    assert FaultInjector(Faults(), seed=3).delay() == 0


def test_changing_the_rate_resets_the_bucket() -> None:
    ticks = Ticks()
    injector = FaultInjector(Faults(rate_limit=1), seed=1, monotonic=ticks)
    injector.admit()
    assert injector.admit() is not None
    injector.faults = Faults(rate_limit=5)
    assert injector.admit() is None
    injector.faults = Faults()
    assert all(injector.admit() is None for _ in range(100))


@pytest.mark.parametrize(
    "kwargs",
    [{"error_rate": 1.5}, {"drop_rate": -0.1}, {"latency_ms": -1}, {"rate_limit": 0}, {"hang_seconds": float("inf")}],
)
def test_faults_refuse_impossible_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Faults(**kwargs)


def test_faults_from_the_wire_merge_only_the_given_keys() -> None:
    current = Faults(latency_ms=5)
    merged = faults_from_wire(current, {"errorRate": 0.5, "rateLimit": 3})
    assert merged == Faults(latency_ms=5, error_rate=0.5, rate_limit=3)
    assert faults_from_wire(merged, {"rateLimit": None}).rate_limit is None
    assert faults_to_wire(merged)["errorRate"] == 0.5
    for bad in ({"unknown": 1}, {"maintenance": "yes"}, {"latencyMs": True}, {"errorRate": "0.5"}):
        with pytest.raises(ValueError):  # noqa: PT011 - each is a different complaint
            faults_from_wire(current, bad)
