"""The worker's handler and the claims poller over a scripted Claims API: every path, no sockets.

Every output is also encoded with its Avro schema (a mock registry built from ``schemas/``), so a
value the schema would refuse fails here rather than as an ``internal`` dead letter at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.unit.workers.row_states import STATE_TOPIC, row_state, state_records
from tests.unit.workers.test_non_payments_plan import claim_file, declared, row
from tests.unit.workers.test_non_payments_watch import document, settlement
from workers.cesce import (
    CesceNotFound,
    CesceRejection,
    CesceTransientError,
    ClaimDocument,
    ClaimFile,
    ClaimsOperations,
    NonPaymentDeclared,
    Settlement,
)
from workers.cesce_handling import NEVER_SENT
from workers.non_payments.handler import STATE_SCHEMA, NonPaymentsHandler
from workers.non_payments.poller import ClaimsPoller
from workers.non_payments.watch import ClaimFileRef, first_watch, known_document
from workers.runtime import ROW_KEY_HEADER, RowState, Skip
from workers.runtime.contract import DeadLetter, Defer, ErrorCategory, InputRecord, Output, Publish, Retry
from workers.runtime.envelope import Envelope, Op
from workers.runtime.registry import schema_registry_client
from workers.runtime.serde import TOMBSTONE, AvroCodec

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
CONTRACT = "34109150331"
RESULTS, FILES, UPDATES = "cesce.non-payment-results", "cesce.claim-files", "cesce.claim-updates"
ROW_KEY = ((ROW_KEY_HEADER, b"NP-1"),)  # the row's key, as the re-keyer copies it


class FakeClaims:
    """The four Claims API calls, answering what the test put in; `calls` lists them in order."""

    def __init__(self) -> None:
        self.files: list[ClaimFile] = []
        self.documents_read: list[ClaimDocument] = []
        self.settlements_read: list[Settlement] = []
        self.answer: NonPaymentDeclared | None = None
        self.failures: dict[str, Exception] = {}
        self.calls: list[str] = []

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failures:
            raise self.failures[name]

    async def claim_files(self, contract_no: str, key: Any) -> list[ClaimFile]:
        self._call("claim_files")
        return self.files

    async def documents(self, contract_no: str, claim_file_no: str) -> list[ClaimDocument]:
        self._call("documents")
        return self.documents_read

    async def settlements(self, contract_no: str, claim_file_no: str | None = None) -> list[Settlement]:
        self._call("settlements")
        return self.settlements_read

    async def declare_non_payment(self, contract_no: str, declaration: Any) -> NonPaymentDeclared:
        self._call("declare_non_payment")
        assert self.answer is not None
        return self.answer


@dataclass(frozen=True, slots=True)
class ClaimsClient:
    """What the worker and the poller use of `CesceClient`: its Claims API (here the fake)."""

    claims: ClaimsOperations


@pytest.fixture
def claims() -> FakeClaims:
    return FakeClaims()


@pytest.fixture(scope="module")
def codecs() -> dict[str, AvroCodec]:
    registry = schema_registry_client("mock://non-payments-unit")
    return {
        name: AvroCodec(registry, name)
        for name in ("cesce.results.NonPaymentResult", "cesce.state.ClaimFileWatch", "cesce.results.ClaimUpdate")
    }


def encoded(codecs: dict[str, AvroCodec], outcome: object) -> list[Output]:
    """The outputs of a Publish, each value round-tripped through its schema (None stays a tombstone; a row state's
    record is bytes already, encoded by its state's codec)."""
    assert isinstance(outcome, Publish), outcome
    for output in outcome.outputs:
        if output.value is not None and not isinstance(output.value, bytes):
            assert output.schema is not None
            codec = codecs[output.schema]
            assert isinstance(output.value, dict)
            decoded = codec.decode(codec.encode(output.value, output.topic), output.topic)
            assert decoded == {name: None for name in decoded} | output.value  # fields left out are null
    return list(outcome.outputs)


def change(op: Op, before: dict[str, Any] | None, after: dict[str, Any] | None, offset: int = 5) -> InputRecord:
    envelope = Envelope(op=op, before=before, after=after, ts_ms=None, source={})
    traceparent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    return InputRecord(
        "erp.non-payments", 0, offset, None, b"CLI-0001", b"{}", (("traceparent", traceparent),), envelope
    )


def answer(new_file: bool, non_payment: str = "1") -> NonPaymentDeclared:
    return NonPaymentDeclared(
        claimFileNo="9001",
        nonPaymentNo=non_payment,
        newClaimFileInd="Y" if new_file else "N",
        endorsementNo="7",
        documents=(document("01"), document("02")),
    )


def worker(claims: FakeClaims, state: RowState | None = None) -> NonPaymentsHandler:
    state = state if state is not None else row_state(STATE_SCHEMA)
    return NonPaymentsHandler(ClaimsClient(claims), RESULTS, FILES, HOUR, state=state, clock=lambda: NOW)


# --- the worker -------------------------------------------------------------------------------------


async def test_a_first_non_payment_is_looked_up_declared_and_its_file_followed(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.answer = answer(new_file=True)
    result, watch, kept = encoded(codecs, await worker(claims)(change("c", None, row())))
    assert claims.calls == ["claim_files", "declare_non_payment"]
    assert (kept.topic, kept.key, kept.partition) == (STATE_TOPIC, b"NP-1", 0)  # what was declared, kept
    assert (result.topic, result.key) == (RESULTS, "CLI-0001")
    assert isinstance(result.value, dict)
    assert {
        k: result.value[k] for k in ("outcome", "claimFileNo", "nonPaymentNo", "newClaimFile", "endorsementNo")
    } == {
        "outcome": "DECLARED",
        "claimFileNo": "9001",
        "nonPaymentNo": "1",
        "newClaimFile": True,
        "endorsementNo": "7",
    }
    assert [d["documentCode"] for d in result.value["documents"]] == ["01", "02"]
    assert result.value["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert result.value["sourceOffset"] == 5
    assert (watch.topic, watch.key) == (FILES, f"{CONTRACT}/9001")
    assert isinstance(watch.value, dict)
    assert watch.value["watchId"] == "erp.non-payments:0:5"
    assert watch.value["nextCheckAt"] == NOW + HOUR
    assert [(d["nonPaymentNo"], d["documentCode"]) for d in watch.value["documents"]] == [("1", "01"), ("1", "02")]


async def test_a_non_payment_joining_an_open_file_starts_no_second_chain(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.files = [claim_file("9001", declared("1", invoice="F-0"))]
    claims.answer = answer(new_file=False, non_payment="2")
    result, _kept = encoded(codecs, await worker(claims)(change("c", None, row())))
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["newClaimFile"], result.value["nonPaymentNo"]) == (
        "DECLARED",
        False,
        "2",
    )


async def test_an_invoice_already_in_a_file_is_read_back_not_declared_again(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.files = [claim_file("9001", declared("1", invoice="F-0"), declared("2"))]
    claims.documents_read = [document("01"), document("02", "3"), document("01", non_payment="2")]
    result, kept = encoded(codecs, await worker(claims)(change("r", None, row())))
    assert state_records([kept], STATE_SCHEMA) == {b"NP-1": row()}  # found declared: Cesce has it
    assert claims.calls == ["claim_files", "documents"]
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["nonPaymentNo"], result.value["newClaimFile"]) == (
        "ALREADY_DECLARED",
        "2",
        False,
    )
    assert [d["documentCode"] for d in result.value["documents"]] == ["01"]  # this non-payment's only


async def test_a_files_first_non_payment_read_back_publishes_the_watch_again(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.files = [claim_file("9001", declared("1"))]
    claims.documents_read = [document("01", "3"), document("02")]
    claims.settlements_read = [settlement("S1", "1")]
    result, watch, _kept = encoded(codecs, await worker(claims)(change("c", None, row(), offset=9)))
    assert claims.calls == ["claim_files", "documents", "settlements"]
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["newClaimFile"]) == ("ALREADY_DECLARED", True)
    assert [d["statusCode"] for d in result.value["documents"]] == ["3", "1"]
    assert isinstance(watch.value, dict)
    assert watch.value["watchId"] == "erp.non-payments:0:9"
    # followed from what the file is now: nothing already there is reported again
    assert [d["statusCode"] for d in watch.value["documents"]] == ["3", "1"]
    assert [(s["settlementNo"], s["settlementStatusCode"]) for s in watch.value["settlements"]] == [("S1", "1")]


async def test_a_settled_files_first_non_payment_read_back_is_not_followed_again(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.files = [claim_file("9001", declared("1"))]
    claims.documents_read = [document("01", "4"), document("02", "4")]
    claims.settlements_read = [settlement("S1", "2")]
    result, _kept = encoded(codecs, await worker(claims)(change("r", None, row())))
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["newClaimFile"]) == ("ALREADY_DECLARED", True)


async def test_the_same_invoice_with_another_amount_is_refused_without_a_post(claims: FakeClaims) -> None:
    claims.files = [claim_file("9001", declared("1"))]
    outcome = await worker(claims)(change("c", None, row(unpaidAmount=Decimal("99.00"))))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "unpaidAmount")
    assert claims.calls == ["claim_files"]


async def test_a_row_refused_by_the_plan_costs_no_call(claims: FakeClaims) -> None:
    outcome = await worker(claims)(change("c", None, row(endorsementNo="7")))
    assert isinstance(outcome, DeadLetter)
    assert outcome.category is ErrorCategory.VALIDATION
    assert outcome.code == "endorsementNo/customerReference"
    outcome = await worker(claims)(change("u", row(), row(unpaidAmount=Decimal("1.00"))))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "unpaidAmount")
    assert "cannot be modified through the Claims API" in outcome.description
    assert claims.calls == []


@pytest.mark.parametrize(
    "case",
    [("u", row(), row(nonPaymentId="NP-1-renumbered"), "NO_CHANGE"), ("d", row(), None, "DELETED_IN_ERP")],
)
async def test_updates_of_nothing_sent_and_deletes_make_no_call(
    claims: FakeClaims, codecs: dict[str, AvroCodec], case: tuple[Op, Any, Any, str]
) -> None:
    op, before, after, outcome = case
    (result,) = encoded(codecs, await worker(claims)(change(op, before, after)))
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["claimFileNo"], result.value["documents"]) == (outcome, None, [])
    assert result.value["newClaimFile"] is None
    assert claims.calls == []


async def test_an_update_without_a_before_image_is_compared_with_what_was_declared(claims: FakeClaims) -> None:
    state = row_state(STATE_SCHEMA, {b"NP-1": row()})
    unchanged = await worker(claims, state)(change("u", None, row()))
    assert isinstance(unchanged, Publish)
    [result] = unchanged.outputs
    assert isinstance(result.value, dict)
    assert result.value["outcome"] == "NO_CHANGE"
    changed = await worker(claims, state)(change("u", None, row(unpaidAmount=Decimal("99.00"))))
    assert isinstance(changed, DeadLetter)
    assert (changed.category, changed.code) == (ErrorCategory.VALIDATION, "unpaidAmount")
    assert claims.calls == []


async def test_an_update_without_a_before_image_of_a_row_never_declared_is_refused_naming_before(
    claims: FakeClaims,
) -> None:
    outcome = await worker(claims)(change("u", None, row()))
    assert isinstance(outcome, DeadLetter)
    assert (outcome.category, outcome.code) == (ErrorCategory.VALIDATION, "before")


async def test_a_delete_without_a_before_image_is_answered_from_what_was_declared(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    state = row_state(STATE_SCHEMA, {b"NP-1": row()})
    deleted = change("d", None, None)
    result, tombstone = encoded(codecs, await worker(claims, state)(replace(deleted, headers=ROW_KEY)))
    assert isinstance(result.value, dict)
    assert (result.value["outcome"], result.value["invoiceNo"], result.value["unpaidAmount"]) == (
        "DELETED_IN_ERP",
        "F-1",
        Decimal("1234.50"),
    )
    assert (tombstone.topic, tombstone.key, tombstone.value) == (STATE_TOPIC, b"NP-1", None)
    assert await worker(claims)(replace(deleted, headers=ROW_KEY)) == Skip(NEVER_SENT)
    assert claims.calls == []


@pytest.mark.parametrize(
    ("call", "error", "expected"),
    [
        (
            "declare_non_payment",
            CesceRejection("rejected", http_status=400, error_code="2", error_description="NO EXISTE LÍMITE"),
            DeadLetter(ErrorCategory.BUSINESS, "2", "NO EXISTE LÍMITE"),
        ),
        (
            "claim_files",
            CesceNotFound("no such path", http_status=404, error_code="4", error_description="API not found"),
            DeadLetter(ErrorCategory.BUSINESS, "4", "API not found"),  # never read as "no claim file"
        ),
        ("claim_files", CesceTransientError("timed out", error_code=None), Retry("CesceTransientError", "timed out")),
        ("declare_non_payment", CesceTransientError("lost", error_code=None), Retry("CesceTransientError", "lost")),
    ],
)
async def test_cesce_failures_map_as_for_every_worker(
    claims: FakeClaims, call: str, error: Exception, expected: object
) -> None:
    claims.failures[call] = error
    claims.answer = answer(new_file=True)
    assert await worker(claims)(change("c", None, row())) == expected


# --- the claims poller ------------------------------------------------------------------------------


def watch_record(watch: dict[str, Any], offset: int = 3) -> InputRecord:
    key = f"{watch['contractNo']}/{watch['claimFileNo']}".encode()
    return InputRecord(FILES, 0, offset, None, key, b"\x00", (), watch)


def watched(since: datetime = NOW - HOUR, watch_id: str = "erp.non-payments:0:5", **changes: Any) -> dict[str, Any]:
    ref = ClaimFileRef(CONTRACT, "9001", "CLI-0001", "7", "CLI-0001")
    known = [known_document("1", document("01")), known_document("1", document("02"))]
    return first_watch(ref, known, watch_id=watch_id, now=since, interval=HOUR) | changes


def poller(claims: FakeClaims, now: datetime = NOW) -> ClaimsPoller:
    return ClaimsPoller(ClaimsClient(claims), UPDATES, FILES, HOUR, clock=lambda: now)


async def test_a_record_not_yet_due_is_deferred_until_its_time(claims: FakeClaims) -> None:
    watch = watched(since=NOW)
    assert await poller(claims)(watch_record(watch)) == Defer(
        NOW + HOUR, f"claim file {CONTRACT}/9001 is read again at {(NOW + HOUR).isoformat()}"
    )
    assert claims.calls == []


async def test_a_due_record_publishes_each_change_and_is_appended_again(
    claims: FakeClaims, codecs: dict[str, AvroCodec]
) -> None:
    claims.documents_read = [document("01", "3"), document("02")]
    claims.settlements_read = [settlement("S1", "1", interest="0.01")]
    *updates, again = encoded(codecs, await poller(claims)(watch_record(watched())))
    assert claims.calls == ["documents", "settlements"]
    assert [(u.topic, u.key) for u in updates] == [(UPDATES, "CLI-0001")] * 2
    assert isinstance(updates[1].value, dict)
    assert updates[1].value["amtIndemnified"] == Decimal("1000.01")
    assert (again.topic, again.key) == (FILES, f"{CONTRACT}/9001")
    assert isinstance(again.value, dict)
    assert (again.value["checks"], again.value["nextCheckAt"]) == (1, NOW + HOUR)
    assert again.value["watchId"] == "erp.non-payments:0:5"  # the chain keeps its name


async def test_a_settled_file_is_forgotten_with_a_tombstone(claims: FakeClaims, codecs: dict[str, AvroCodec]) -> None:
    claims.documents_read = [document("01", "4"), document("02", "3")]
    claims.settlements_read = [settlement("S1", "2")]
    *updates, last = encoded(codecs, await poller(claims)(watch_record(watched())))
    assert len(updates) == 3
    assert (last.topic, last.key, last.value) == (FILES, f"{CONTRACT}/9001", None)


async def test_a_tombstone_is_nothing_to_do(claims: FakeClaims) -> None:
    record = InputRecord(FILES, 0, 3, None, b"k", None, (), TOMBSTONE)
    assert await poller(claims)(record) == Publish([])
    assert claims.calls == []


async def test_a_second_chain_of_a_followed_file_is_dropped_and_the_earlier_one_always_kept(
    claims: FakeClaims,
) -> None:
    follow = poller(claims)
    first = watched(since=NOW - 2 * HOUR, watch_id="erp.non-payments:0:5")
    redelivered = watched(since=NOW - HOUR, watch_id="erp.non-payments:0:8")
    assert isinstance(await follow(watch_record(first, 3)), Publish)
    assert await follow(watch_record(redelivered, 4)) == Publish([])  # later chain: dropped, nothing read
    assert claims.calls == ["documents", "settlements"]
    # a poller that met the later chain first (after a restart) switches to the earlier one for good
    fresh = poller(claims)
    switched, kept = await fresh(watch_record(redelivered, 4)), await fresh(watch_record(first, 3))
    assert isinstance(switched, Publish)
    assert isinstance(kept, Publish)
    assert len(switched.outputs) == 1
    assert len(kept.outputs) == 1
    assert await fresh(watch_record(redelivered | {"checks": 1}, 6)) == Publish([])


async def test_the_poller_keeps_following_through_an_outage(claims: FakeClaims) -> None:
    claims.failures["settlements"] = CesceTransientError("down", error_code="18")
    before = watched()
    outcome = await poller(claims)(watch_record(before))
    assert isinstance(outcome, Publish)
    [again] = outcome.outputs
    assert isinstance(again.value, dict)
    assert again.value["checks"] == before["checks"], "an outage is not a check"
    assert again.value["nextCheckAt"] > before["nextCheckAt"]


async def test_the_poller_dead_letters_a_refusal(claims: FakeClaims) -> None:
    claims.failures["settlements"] = CesceNotFound(
        "gone", http_status=404, error_code="4", error_description="API not found"
    )
    assert await poller(claims)(watch_record(watched())) == DeadLetter(ErrorCategory.BUSINESS, "4", "API not found")
