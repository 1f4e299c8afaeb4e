"""`Tally`: the counters every record moves, summed in the process and read through observable instruments.

They must look on ``/metrics`` exactly as the SDK's synchronous counters did (a counter ``..._total``, an
up-down counter a gauge), one series per set of attributes whatever order a caller wrote them in.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest

from workers.observability.metrics import IN_FLIGHT, RECORDS, Tally
from workers.observability.setup import prometheus_reader


def _exposition(**tallies: tuple[Tally, bool]) -> list[str]:
    registry = CollectorRegistry()
    meter = MeterProvider(metric_readers=[prometheus_reader(registry)]).get_meter("test")
    for name, (tally, up_down) in tallies.items():
        create = meter.create_observable_up_down_counter if up_down else meter.create_observable_counter
        create(name, callbacks=[tally.observations], unit="{record}")
    return [line for line in generate_latest(registry).decode().splitlines() if not line.startswith("# HELP")]


def test_a_counter_is_a_prometheus_counter_with_one_series_per_attribute_set() -> None:
    records = Tally()
    records.add(1, {"worker": "invoices", "outcome": "published"})
    records.add(2, {"outcome": "published", "worker": "invoices"})  # the same series, written the other way round
    records.add(1, {"worker": "invoices", "outcome": "dead_lettered"})
    lines = _exposition(test_records=(records, False))
    assert "# TYPE test_records_total counter" in lines
    assert 'test_records_total{outcome="published",worker="invoices"} 3.0' in lines
    assert 'test_records_total{outcome="dead_lettered",worker="invoices"} 1.0' in lines


def test_an_up_down_counter_is_a_gauge_that_goes_back_down() -> None:
    in_flight = Tally()
    for _ in range(5):
        in_flight.add(1, {"worker": "invoices"})
    in_flight.add(-3, {"worker": "invoices"})
    lines = _exposition(test_in_flight=(in_flight, True))
    assert "# TYPE test_in_flight gauge" in lines
    assert 'test_in_flight{worker="invoices"} 2.0' in lines


def test_without_attributes() -> None:
    tally = Tally()
    tally.add(4)
    assert [(o.value, dict(o.attributes or {})) for o in tally.observations()] == [(4, {})]


def test_the_products_per_record_counters_are_tallies() -> None:
    assert isinstance(RECORDS, Tally)
    assert isinstance(IN_FLIGHT, Tally)
