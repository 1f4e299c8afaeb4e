"""The demo's risk stage: Cesce changes limits on its own, and the risk poller publishes each change once.

The poller has run since the pipelines started: its first read reconciled the contract's whole
portfolio. Then, through the Cesce client and the sandbox's admin API: a larger limit asked for a
known debtor stays EN TRÁMITE (a 300xxx request, which the poller learns from the portfolio's
300xxx pages), Cesce's risk desk grants it for less, reduces another debtor's limit and cancels a
third one. Each is one risk change, and nothing is published twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from confluent_kafka import Message

from workers.cesce import CesceClient, CesceSettings
from workers.cesce.models.classifications import ClassificationRequest
from workers.demo.pipeline import collect
from workers.demo.progress import Progress
from workers.demo.report import Report
from workers.risk import RiskTopics
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["CONTRACT", "risk_stage"]

CONTRACT: Final = "34109150331"
_ASKED, _GRANTED = Decimal("260000.00"), "180000,00"
_REDUCED_DEBTOR, _REDUCED_TO, _CANCELLED_DEBTOR = "1", "35000,00", "6"


def _show(change: Mapping[str, Any]) -> str:
    before = change["previousCreditLimitGranted"]
    amounts = f"{before} -> {change['creditLimitGranted']}" if before is not None else str(change["creditLimitGranted"])
    return f"{change['kind']} endorsementNo {change['endorsementNo']} statusCode {change['statusCode']} {amounts}"


async def risk_stage(
    bootstrap: str, env: Mapping[str, str], *, admin: SandboxAdmin, reader: AvroReader, report: Report
) -> None:
    topics = RiskTopics.model_validate(env)

    def decoded(messages: list[Message]) -> list[dict[str, Any]]:
        return [reader.decode(m.value() or b"", topics.changes).value for m in messages]

    first = decoded(await asyncio.to_thread(collect, bootstrap, [topics.changes], 1))
    reconciled = [c for c in first if c["source"] == "PORTFOLIO"]
    report.add(
        bool(reconciled),
        "the first read: the whole portfolio, reconciled",
        f"{sum(c['kind'] == 'NEW_LIMIT' for c in reconciled)} limit(s) in force, "
        f"{sum(c['kind'] == 'CANCELLED' for c in reconciled)} cancelled",
    )
    async with CesceClient(CesceSettings.from_env(env)) as cesce:
        ask = ClassificationRequest(endorsementNo="4", creditLimitRequested=_ASKED, nonPaymentInd="N")
        request = (await cesce.classifications.create(CONTRACT, ask)).endorsementNo or ""
    known = f"{CONTRACT}/{request}".encode()

    def recorded(found: Sequence[Message]) -> bool:
        return any(m.key() == known for m in found)

    progress = Progress(f"request {request} in {topics.limits}", 1, count=lambda found: int(recorded(found)))
    await asyncio.to_thread(collect, bootstrap, [topics.limits], recorded, progress)
    admin.resolve(CONTRACT, request, "grant", _GRANTED)
    admin.set_limit(CONTRACT, _REDUCED_DEBTOR, _REDUCED_TO)
    admin.set_limit(CONTRACT, _CANCELLED_DEBTOR, cancel=True)

    def wanted(changes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        found = {
            "PENDING_DECIDED": [c for c in changes if c["requestEndorsementNo"] == request],
            "REDUCED": [c for c in changes if c["kind"] == "REDUCED" and c["endorsementNo"] == _REDUCED_DEBTOR],
            "CANCELLED": [
                c
                for c in changes
                if c["kind"] == "CANCELLED" and c["endorsementNo"] == _CANCELLED_DEBTOR and c["source"] == "MOVEMENTS"
            ],
        }
        return {kind: matches[0] for kind, matches in found.items() if matches}

    progress = Progress(f"risk changes ({topics.changes})", 3, count=lambda found: len(wanted(decoded(list(found)))))
    messages = await asyncio.to_thread(
        collect, bootstrap, [topics.changes], lambda found: len(wanted(decoded(found))) == 3, progress
    )
    await asyncio.sleep(1.5)  # a few more ticks over the same 48-hour window
    changes = decoded(await asyncio.to_thread(collect, bootstrap, [topics.changes], len(messages)))
    found = wanted(changes)
    stories = {
        "PENDING_DECIDED": f"request {request} EN TRÁMITE granted for less",
        "REDUCED": "Cesce reduces a limit on its own",
        "CANCELLED": "Cesce cancels a debtor's limit (insolvency)",
    }
    for kind, story in stories.items():
        change = found.get(kind)
        report.add(change is not None, story, "nothing" if change is None else _show(change))
    ids = [c["changeId"] for c in changes]
    report.add(
        len(ids) == len(set(ids)), "no change published twice", f"{len(ids)} change(s) over later reads of the window"
    )
