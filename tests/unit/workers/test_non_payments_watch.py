"""Following a claim file: the changes one read finds, the state it leaves, when following stops. Pure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workers.cesce import ClaimDocument, Settlement
from workers.non_payments.watch import ClaimFileRef, first_watch, is_settled, known_document, poll, watch_key

NOW = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
REF = ClaimFileRef("34109150331", "9001", "CLI-0001", "7", "CLI-0001")


def document(code: str, status: str = "1", non_payment: str = "1", day: int = 20) -> ClaimDocument:
    return ClaimDocument(
        claimFileNo="9001",
        nonPaymentNo=non_payment,
        documentCode=code,
        documentDescription=f"document {code}",
        statusCode=status,
        statusDate=date(2026, 3, day),
    )


def settlement(number: str, status: str, principal: str = "1000.00", interest: str = "12.34") -> Settlement:
    return Settlement(
        settlementNo=number,
        claimFileNo="9001",
        settlementStatusCode=status,
        paymentDate=date(2026, 3, 30) if status == "2" else None,
        amtPrinIndemnified=Decimal(principal),
        amtIntIndemnified=Decimal(interest),
        currencyCode="EUR",
    )


def opened(*documents: ClaimDocument) -> dict[str, Any]:
    known = [known_document(d.nonPaymentNo, d) for d in documents]
    return first_watch(REF, known, watch_id="erp.non-payments:0:5", now=NOW - HOUR, interval=HOUR)


def test_the_first_record_knows_the_answered_documents_and_no_settlement() -> None:
    watch = opened(document("01"), document("02"))
    assert watch == {
        "contractNo": "34109150331",
        "claimFileNo": "9001",
        "debtor": "CLI-0001",
        "endorsementNo": "7",
        "customerReference": "CLI-0001",
        "documents": [
            {"nonPaymentNo": "1", "documentCode": "01", "statusCode": "1", "statusDate": date(2026, 3, 20)},
            {"nonPaymentNo": "1", "documentCode": "02", "statusCode": "1", "statusDate": date(2026, 3, 20)},
        ],
        "settlements": [],
        "watchId": "erp.non-payments:0:5",
        "watchingSince": NOW - HOUR,
        "checks": 0,
        "nextCheckAt": NOW,
    }
    assert REF.key == watch_key("34109150331", "9001") == "34109150331/9001"


def test_nothing_changed_is_no_update_and_the_same_state_one_interval_later() -> None:
    watch = opened(document("01"), document("02"))
    found = poll(watch, [document("01"), document("02")], [], now=NOW, interval=HOUR)
    assert found.updates == []
    assert found.watch == watch | {"checks": 1, "nextCheckAt": NOW + HOUR}


def test_a_document_whose_status_changed_is_one_update_with_both_statuses() -> None:
    watch = opened(document("01"), document("02"))
    found = poll(watch, [document("01", "3", day=25), document("02")], [], now=NOW, interval=HOUR)
    assert found.updates == [
        {
            "kind": "DOCUMENT_STATUS",
            "contractNo": "34109150331",
            "claimFileNo": "9001",
            "debtor": "CLI-0001",
            "endorsementNo": "7",
            "customerReference": "CLI-0001",
            "previousStatusCode": "1",
            "statusCode": "3",
            "nonPaymentNo": "1",
            "documentCode": "01",
            "documentDescription": "document 01",
            "statusDate": date(2026, 3, 25),
            "detectedAt": NOW,
        }
    ]
    assert found.watch is not None
    assert found.watch["documents"][0] == {
        "nonPaymentNo": "1",
        "documentCode": "01",
        "statusCode": "3",
        "statusDate": date(2026, 3, 25),
    }
    # read again unchanged: nothing repeated
    assert poll(found.watch, [document("01", "3", day=25), document("02")], [], now=NOW, interval=HOUR).updates == []


def test_documents_of_a_later_non_payment_show_up_as_new() -> None:
    watch = opened(document("01"), document("02"))
    found = poll(watch, [document("01"), document("02"), document("01", non_payment="2")], [], now=NOW, interval=HOUR)
    assert [
        (u["nonPaymentNo"], u["documentCode"], u["previousStatusCode"], u["statusCode"]) for u in found.updates
    ] == [("2", "01", None, "1")]


def test_a_statusdate_alone_is_no_change() -> None:
    watch = opened(document("01"))
    assert poll(watch, [document("01", day=28)], [], now=NOW, interval=HOUR).updates == []


def test_a_new_settlement_and_a_status_change_are_one_update_each_with_the_exact_sum() -> None:
    watch = opened(document("01", "4"))
    found = poll(watch, [document("01", "4")], [settlement("S1", "1")], now=NOW, interval=HOUR)
    assert len(found.updates) == 1
    update = found.updates[0]
    assert update["kind"] == "SETTLEMENT"
    assert (update["settlementNo"], update["previousStatusCode"], update["statusCode"]) == ("S1", None, "1")
    assert update["amtIndemnified"] == Decimal("1012.34")
    assert update["paymentDate"] is None
    assert found.watch is not None
    assert found.watch["settlements"] == [
        {
            "settlementNo": "S1",
            "settlementStatusCode": "1",
            "paymentDate": None,
            "amtPrinIndemnified": Decimal("1000.00"),
            "amtIntIndemnified": Decimal("12.34"),
            "currencyCode": "EUR",
        }
    ]
    paid = poll(found.watch, [document("01", "4")], [settlement("S1", "2")], now=NOW + HOUR, interval=HOUR)
    assert [(u["previousStatusCode"], u["statusCode"], u["paymentDate"]) for u in paid.updates] == [
        ("1", "2", date(2026, 3, 30))
    ]
    assert paid.watch is None  # paid, nothing outstanding: no longer followed


def test_cents_are_summed_exactly() -> None:
    found = poll(opened(), [], [settlement("S1", "1", "0.10", "0.20")], now=NOW, interval=HOUR)
    assert found.updates[0]["amtIndemnified"] == Decimal("0.30")


@pytest.mark.parametrize(
    ("documents", "settlements", "settled"),
    [
        ([document("01", "4")], [settlement("S1", "2")], True),
        ([document("01", "3")], [settlement("S1", "2"), settlement("S2", "2")], True),
        ([], [settlement("S1", "2")], True),
        ([document("01", "1")], [settlement("S1", "2")], False),  # a document still requested
        ([document("01", "2")], [settlement("S1", "2")], False),  # ... or claimed
        ([document("01", "4")], [settlement("S1", "2"), settlement("S2", "1")], False),  # one still in progress
        ([document("01", "4")], [settlement("S1", "1")], False),
        ([document("01", "4")], [], False),  # nothing paid yet
        ([document("01", "9")], [settlement("S1", "2")], False),  # an unknown status may still change
        ([document("01", "4")], [settlement("S1", "2"), settlement("S2", "7")], False),
    ],
)
def test_a_file_is_followed_until_paid_with_nothing_outstanding(
    documents: list[ClaimDocument], settlements: list[Settlement], settled: bool
) -> None:
    assert is_settled(documents, settlements) is settled


def test_the_last_read_of_a_settled_file_still_reports_its_changes() -> None:
    watch = opened(document("01"), document("02"))
    found = poll(watch, [document("01", "4"), document("02", "4")], [settlement("S1", "2")], now=NOW, interval=HOUR)
    assert found.watch is None
    assert sorted(u["kind"] for u in found.updates) == ["DOCUMENT_STATUS", "DOCUMENT_STATUS", "SETTLEMENT"]
