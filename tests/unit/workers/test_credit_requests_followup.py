"""The follow-up keeps one chain of records per request, whatever is delivered twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.unit.cesce.fakes import FakeCesce, answer, classification_row, client_for
from workers.credit_requests.followup import FollowUpHandler
from workers.credit_requests.results import PENDING_SCHEMA
from workers.runtime.contract import Defer, InputRecord, Publish
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import TOMBSTONE, AvroCodec, state_decoder

NOW = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def state(offset: int, checks: int, *, due: datetime | None = None) -> dict[str, Any]:
    return {
        "requestId": "SOL-1",
        "contractNo": "34109150331",
        "debtor": "CLI-9",
        "endorsementNo": "300001",
        "countryCode": "ES",
        "taxCode": "B12345674",
        "customerReference": "CLI-9",
        "creditLimitRequested": Decimal("150000.00"),
        "currencyCode": "EUR",
        "requestDate": date(2026, 1, 10),
        "op": "c",
        "sourceTopic": "erp.credit-requests",
        "sourcePartition": 0,
        "sourceOffset": offset,
        "traceId": None,
        "checks": checks,
        "pendingSince": datetime(2026, 1, 10, tzinfo=UTC),
        "nextCheckAt": due or datetime(2026, 1, 10, tzinfo=UTC),
    }


def record(value: Any, offset: int = 0) -> InputRecord:
    source = (("source.topic", b"erp.credit-requests"), ("source.partition", b"0"), ("source.offset", b"7"))
    return InputRecord("followups", 0, offset, None, b"SOL-1", b"...", source, value)


async def test_records_not_due_are_deferred_and_tombstones_do_nothing() -> None:
    async with client_for(FakeCesce()) as cesce:  # a Cesce that fails the test if it is called
        handler = FollowUpHandler(cesce, "results", "followups", timedelta(seconds=1), clock=lambda: NOW)
        later = NOW + timedelta(minutes=5)
        deferred = await handler(record(state(7, 0, due=later)))
        assert isinstance(deferred, Defer)
        assert deferred.until == later
        assert await handler(record(TOMBSTONE)) == Publish([])


async def test_a_second_chain_or_a_repeated_check_of_one_request_is_dropped() -> None:
    later = NOW + timedelta(minutes=5)
    async with client_for(FakeCesce()) as cesce:  # nothing here may call Cesce
        handler = FollowUpHandler(cesce, "results", "followups", timedelta(seconds=1), clock=lambda: NOW)
        assert isinstance(await handler(record(state(7, 0, due=later), offset=3)), Defer)
        assert isinstance(await handler(record(state(7, 0, due=later), offset=3)), Defer), "the same record again"
        twin = record(state(7, 0, due=later), offset=4)  # a retried transaction's duplicate
        assert await handler(twin) == Publish([])
        redelivered = record(state(9, 0, due=later), offset=5)  # a chain from the ERP change delivered again
        assert await handler(redelivered) == Publish([])


def test_the_state_topic_decoder_reads_records_exactly_and_tombstones_as_such() -> None:
    registry = schema_registry_client("mock://followup-unit")
    value = state(7, 2, due=datetime(2026, 1, 10, 9, 30, tzinfo=UTC))
    data = AvroCodec(registry, PENDING_SCHEMA).encode(value, "followups")
    decode = state_decoder(registry, PENDING_SCHEMA)
    assert decode(data, "followups") == value
    assert decode(None, "followups") is TOMBSTONE


async def decided_out_of_sight(debtor_request_date: str) -> dict[str, Any]:
    """The 300001 request is no longer EN TRÁMITE, and no movement shows it: what the follow-up concludes."""
    base = "/classifications/v1/contracts/34109150331"
    fake = FakeCesce()
    known = classification_row("7", taxCode="B12345674", requestDate=debtor_request_date)
    fake.route("GET", f"{base}/classifications", answer(generalData=known))
    fake.route("GET", f"{base}/movements", answer(paginationData={"nextEndorsementNo": "0"}, result=[]))
    async with client_for(fake) as cesce:
        handler = FollowUpHandler(cesce, "results", "followups", timedelta(seconds=1), clock=lambda: NOW)
        outcome = await handler(record(state(7, 3)))
    assert isinstance(outcome, Publish)
    final, tombstone = outcome.outputs
    assert (tombstone.topic, tombstone.key, tombstone.value) == ("followups", "SOL-1", None)
    assert isinstance(final.value, dict)
    assert final.value["handledAt"] == NOW  # the injected clock
    return final.value


async def test_a_request_gone_behind_an_older_record_was_denied() -> None:
    final = await decided_out_of_sight("20250301")
    assert (final["stage"], final["outcome"]) == ("FINAL", "REJECTED")


async def test_a_request_gone_behind_a_later_request_was_superseded() -> None:
    final = await decided_out_of_sight("20260115")
    assert (final["stage"], final["outcome"]) == ("FINAL", "SUPERSEDED")
