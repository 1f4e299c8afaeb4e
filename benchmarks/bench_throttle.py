"""The throttle against a rate-limited sandbox: how much of the limit it uses, and how many 429s it meets.

The sandbox (a child process) answers 429 + Retry-After beyond ``--rate-limit`` R requests per second
(a token bucket holding one second's worth), after 20 ms + up to 10 ms of latency. This process runs
one `CesceClient` with `--concurrency` (64) tasks each declaring sales back to back for `--seconds`
(30), in two modes: ``learned``, the pace learned from the 429s (no configured limit), and
``configured``, the client given ``CESCE_MAX_REQUESTS_PER_SECOND`` = R (its state file in the run's
temporary directory). Measured, from the sandbox's own counters (``/sandbox-admin/stats``):

- **calls/s**: declarations the sandbox let through (any answer but a 429) per second, over the whole
  run and over its steady state (after `--warmup` seconds, the first learning included before);
- **429 share**: refused requests over all declaration requests, over the whole run (the learning
  included) and over the steady state.

Each R and mode is a run on a fresh sandbox. The benchmark fails (exit 1) unless every run reaches at
least 90 % of R in steady state with under 1 % of 429s over the whole run, and no declaration failed.
Steady calls/s may exceed R a little: what the sandbox's bucket saved while the pace was below R
(one second's worth at most) is spent in the window.
Results are printed and written to ``benchmarks/results/throttle.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr

from benchmarks.services import (
    BENCH_CONTRACT,
    Child,
    bench_debtor,
    columns,
    machine,
    stop_children_on_sigterm,
    write_json,
    write_scenario,
)
from workers.cesce import CesceClient, CesceError, CesceSettings, SaleDeclaration
from workers.sandbox.admin_client import SandboxAdmin

RESULTS_FILE: Final = Path(__file__).parent / "results" / "throttle.json"
_DECLARE_ROUTE: Final = "POST /sales/v1/contracts/{contractNo}/sales"
_MIN_SHARE_OF_LIMIT: Final = 0.90
_MAX_429_SHARE: Final = 0.01


def _counts(admin: SandboxAdmin) -> tuple[int, int]:
    """(declaration requests, of which refused with 429) so far, from the sandbox's counters."""
    stats = admin.stats()
    return int(stats["byRoute"].get(_DECLARE_ROUTE, 0)), int(stats["faults"]["rateLimited"])


def _settings(url: str, limit: float | None, directory: str) -> CesceSettings:
    return CesceSettings(
        base_url=url,
        client_id="bench-throttle-app",
        client_secret=SecretStr("bench-throttle-secret"),
        username="bench",
        password=SecretStr("bench-throttle-password"),
        timeout_seconds=10.0,
        retry_attempts=10,
        retry_max_seconds=60.0,
        retry_backoff_base_seconds=0.1,
        retry_backoff_max_seconds=2.0,
        max_requests_per_second=limit,
        throttle_dir=directory if limit is not None else None,
    )


async def _drive(  # noqa: PLR0917 - one run's parameters
    sandbox: Child, limit: float | None, directory: str, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    url = sandbox.address
    admin = SandboxAdmin(url)
    numbers = itertools.count(1)
    today = date.today()
    failures: list[str] = []
    declared = 0
    deadline = time.monotonic() + seconds

    async def declarer(index: int) -> None:
        nonlocal declared
        while time.monotonic() < deadline:
            sale = SaleDeclaration(
                customerReference=bench_debtor(index),
                invoiceNo=f"T{next(numbers):07d}",
                invoiceDate=today,
                maturityDate=today + timedelta(days=60),
                currencyAmount=Decimal("1000.00"),
                currencyCode="EUR",
            )
            try:
                await cesce.sales.declare(BENCH_CONTRACT, sale)
                declared += 1
            except CesceError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

    async with CesceClient(_settings(url, limit, directory)) as cesce:
        started = time.monotonic()
        cpu_started, sandbox_cpu_started = time.process_time(), sandbox.cpu_seconds()
        tasks = [asyncio.create_task(declarer(i)) for i in range(concurrency)]
        await asyncio.sleep(warmup)
        at_warmup = await asyncio.to_thread(_counts, admin)
        warm_at = time.monotonic()
        await asyncio.gather(*tasks)
        ended = time.monotonic()
        cpu, sandbox_cpu = time.process_time() - cpu_started, sandbox.cpu_seconds() - sandbox_cpu_started
        final = await asyncio.to_thread(_counts, admin)
    requests, refused = final
    steady_requests, steady_refused = final[0] - at_warmup[0], final[1] - at_warmup[1]
    return {
        "seconds": round(ended - started, 2),
        "requests": requests,
        "refused_429": refused,
        "declared": declared,
        "failed": len(failures),
        "failures": failures[:5],
        "calls_per_second": round((requests - refused) / (ended - started), 1),
        "share_429": round(refused / max(requests, 1), 4),
        "cpu_share": {  # of one core, over the run: 1.0 is a process that never waited for the CPU
            "client": round(cpu / (ended - started), 2),
            "sandbox": round(sandbox_cpu / (ended - started), 2),
        },
        "steady": {
            "from_second": round(warm_at - started, 1),
            "calls_per_second": round((steady_requests - steady_refused) / (ended - warm_at), 1),
            "share_429": round(steady_refused / max(steady_requests, 1), 4),
        },
    }


def _run(rate: float, *, configured: bool, concurrency: int, seconds: float, warmup: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        scenario = write_scenario(concurrency, Path(directory))
        args = ["sandbox", "--port", "0", "--scenario", str(scenario), "--rate-limit", str(rate)]
        args += ["--latency-ms", "20", "--jitter-ms", "10"]
        with Child(args, "sandbox") as sandbox:
            limit = rate if configured else None
            result = asyncio.run(_drive(sandbox, limit, directory, concurrency, seconds, warmup))
    result = {"rate_limit": rate, "configured": configured, **result}
    result["of_limit"] = round(result["calls_per_second"] / rate, 3)
    result["steady"]["of_limit"] = round(result["steady"]["calls_per_second"] / rate, 3)
    result["checks"] = {
        "steady_at_least_90_percent_of_limit": result["steady"]["of_limit"] >= _MIN_SHARE_OF_LIMIT,
        "under_1_percent_429": result["share_429"] < _MAX_429_SHARE,
        "no_failed_declaration": result["failed"] == 0,
    }
    return result


def _table(runs: Sequence[dict[str, Any]]) -> str:
    rows = [["R/s", "limit", "calls/s", "of R", "steady calls/s", "steady of R", "429s", "429 share", "CPU client"]]
    for run in runs:
        rows.append(
            [
                f"{run['rate_limit']:g}",
                "configured" if run["configured"] else "learned",
                f"{run['calls_per_second']:.1f}",
                f"{run['of_limit']:.1%}",
                f"{run['steady']['calls_per_second']:.1f}",
                f"{run['steady']['of_limit']:.1%}",
                f"{run['refused_429']}/{run['requests']}",
                f"{run['share_429']:.2%}",
                f"{run['cpu_share']['client']:.0%}",
            ]
        )
    return columns(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_throttle", description=__doc__.split("\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0], help="R values (default 50 200)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run (default 30)")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before the steady state (default 10)")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent declarations (default 64)")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["learned", "configured"],
        default=["learned", "configured"],
        help="learn the limit from the 429s, or give it to the client (default both)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help=f"JSON results (default {RESULTS_FILE})")
    args = parser.parse_args(argv)
    stop_children_on_sigterm()
    runs = [
        _run(
            rate,
            configured=mode == "configured",
            concurrency=args.concurrency,
            seconds=args.seconds,
            warmup=args.warmup,
        )
        for mode in args.modes
        for rate in args.rates
    ]
    print(_table(runs))
    document = {
        "machine": machine(),
        "latency_ms": 20,
        "jitter_ms": 10,
        "concurrency": args.concurrency,
        "runs": runs,
    }
    write_json(args.output, document)
    print(json.dumps([run["checks"] for run in runs]))
    return 0 if all(all(run["checks"].values()) for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
