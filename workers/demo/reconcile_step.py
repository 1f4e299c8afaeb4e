"""The demo's month-end check: `cesce-worker reconcile sales` on the demo's contract and month.

After the invoices pipeline, our ``cesce.sale-results`` and Cesce's sales list of this month are
compared (`workers.ops.reconcile_command.read_books`). The books are expected to differ, and only
where the demo made them differ: every sale of the pipeline Cesce holds is matched, nothing is missing
at Cesce or differs, the sales at Cesce we never declared are the client session's own (``DEMO-...``,
declared straight through the client, around the pipeline), and the unresolved dead letters are the
pipeline's invoices on this contract that Cesce refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from workers.cesce.codecs import spanish_today
from workers.demo.report import Report
from workers.ops.reconcile_command import read_books
from workers.ops.reconcile_sales import table_lines

__all__ = ["CONTRACT", "reconcile_step"]

CONTRACT = "34109150331"  # the Máster Oro Integral, where the pipeline and the client session declare


async def reconcile_step(env: Mapping[str, str], run: str, report: Report) -> None:
    """Reconcile this month's books of `CONTRACT`; `run` names the pipeline's invoices (``F<run>-...``)."""
    month = spanish_today().strftime("%Y%m")
    print(f"\n   ... month-end: cesce-worker reconcile sales --contract {CONTRACT} --month {month}\n", flush=True)
    books = await asyncio.to_thread(read_books, CONTRACT, month, env, timeout=30.0)
    for line in table_lines(books):
        print(f"   {line}" if line else "", flush=True)
    ours = f"F{run}-"
    around = [sale.invoice_no for sale in books.not_declared]
    expected = (
        books.exit_status == 1
        and books.matched > 0
        and not books.missing_at_cesce
        and not books.differing
        and bool(around)
        and all(invoice.startswith("DEMO-") for invoice in around)
        and bool(books.dead_letters)
        and all((letter.invoice_no or "").startswith(ours) for letter in books.dead_letters)
    )
    report.add(
        expected,
        "month-end books: what bypassed the pipeline shows",
        f"exit {books.exit_status}: {books.matched} matched, {len(around)} at Cesce only (the session's), "
        f"{len(books.dead_letters)} unresolved dead letter(s)",
    )
