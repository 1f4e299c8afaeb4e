"""The demo's follow-ups: what happens after the first answers, driven through the sandbox's admin API.

- Credit requests left EN TRÁMITE: Cesce's risk desk grants the new debtor's (for less than asked)
  and rejects the known debtor's 300xxx request; the follow-up publishes one FINAL result each.
- The claim file the non-payments opened: Cesce marks its invoice received and pays a settlement;
  the claims poller publishes one claim update each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Message

from workers.demo.pipeline import collect
from workers.demo.progress import Progress
from workers.demo.report import Report
from workers.runtime.serde import AvroReader
from workers.sandbox.admin_client import SandboxAdmin

__all__ = ["claims_followup", "credit_followup"]

_GRANTED_INSTEAD = "200000,00"


async def credit_followup(
    bootstrap: str,
    topic: str,
    *,
    answers: Sequence[Mapping[str, Any]],
    admin: SandboxAdmin,
    reader: AvroReader,
    report: Report,
) -> None:
    pending = [a for a in answers if a["outcome"] == "PENDING"]
    for answer in pending:
        known = str(answer["endorsementNo"]).startswith("300")
        if answer.get("premiumDecisionNeeded"):
            continue  # it waits for the insured, not the risk desk: the sample's premiumDecision answered it
        if known:
            admin.resolve(answer["contractNo"], answer["endorsementNo"], "reject")
        else:
            admin.resolve(answer["contractNo"], answer["endorsementNo"], "grant", _GRANTED_INSTEAD)
    progress = Progress("FINAL results", len(pending), count=lambda found: max(len(found) - len(answers), 0))
    messages = await asyncio.to_thread(collect, bootstrap, [topic], len(answers) + len(pending), progress)
    finals = [v for v in (reader.decode(m.value() or b"", topic).value for m in messages) if v["stage"] == "FINAL"]
    report.add(len(finals) == len(pending), "every request EN TRÁMITE decided once", f"{len(finals)} FINAL result(s)")
    for answer in pending:
        known = str(answer["endorsementNo"]).startswith("300")
        want = "REJECTED" if known else "GRANTED"
        final = next((f for f in finals if f["requestId"] == answer["requestId"]), None)
        outcome = "nothing" if final is None else str(final["outcome"])
        detail = "" if final is None else f"statusCode {final['statusCode']} granted {final['creditLimitGranted']}"
        story = f"{'300xxx request' if known else 'new debtor'} {answer['endorsementNo']} decided by Cesce"
        if answer.get("premiumDecisionNeeded"):
            story = f"request {answer['endorsementNo']} granted once its premium was accepted"
        report.add(outcome == want, story, f"FINAL {outcome}  {detail}".rstrip())


async def claims_followup(
    bootstrap: str,
    topic: str,
    *,
    results: Sequence[Mapping[str, Any]],
    admin: SandboxAdmin,
    reader: AvroReader,
    report: Report,
) -> None:
    files = {r["claimFileNo"] for r in results if r.get("claimFileNo")}
    report.add(len(files) == 1, "two unpaid invoices of one debtor: one claim file", ", ".join(sorted(files)))
    if len(files) != 1:
        return
    claim_file = files.pop()
    first = next(r for r in results if r.get("newClaimFile"))
    admin.set_document_status(claim_file, "01", "3", first["nonPaymentNo"])
    admin.add_settlement(claim_file, "2", "3570,00", "42,17")

    def wanted(messages: list[Message]) -> list[dict[str, Any]]:
        updates = [reader.decode(m.value() or b"", topic).value for m in messages]
        return [u for u in updates if u["kind"] == "SETTLEMENT" or u["previousStatusCode"] is not None]

    progress = Progress(f"claim updates ({topic})", 2, count=lambda found: len(wanted(list(found))))
    messages = await asyncio.to_thread(collect, bootstrap, [topic], lambda found: len(wanted(found)) >= 2, progress)
    updates = wanted(messages)
    kinds = sorted(f"{u['kind']} {u['statusCode']}" for u in updates)
    report.add(
        kinds == ["DOCUMENT_STATUS 3", "SETTLEMENT 2"], "a document received, a settlement paid", " + ".join(kinds)
    )
    for update in updates:
        if update["kind"] == "SETTLEMENT":
            report.add(
                str(update["amtIndemnified"]) == "3612.17",
                "the settlement, principal + interest, exact",
                f"{update['amtPrinIndemnified']} + {update['amtIntIndemnified']} = {update['amtIndemnified']}",
            )
