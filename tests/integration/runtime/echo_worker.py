"""A worker for the runtime's own tests: JSON in, one JSON output per record, optional delay.

Run as ``python -m tests.integration.runtime.echo_worker``; configured by the runtime's variables plus
ECHO_INPUT, ECHO_OUTPUT and ECHO_DELAY_MS. Each output carries the input's key, ``n`` (its
per-key sequence number) and the runtime's source headers, so a test can prove every input has
exactly one output, in per-key order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient

from workers.runtime import Decoder, WorkerContext, WorkerSpec
from workers.runtime.contract import Handler, InputRecord, Outcome, Output, Publish
from workers.runtime.run import run_worker


def json_decoder(_registry: SchemaRegistryClient) -> Decoder:
    def decode(value: bytes | None, _topic: str) -> Any:
        if value is None:
            raise ValueError("no value")
        return json.loads(value)

    return decode


def echo_spec(input_topic: str, output_topic: str, delay_ms: float) -> WorkerSpec:
    @asynccontextmanager
    async def handler(_context: WorkerContext) -> AsyncIterator[Handler]:
        async def echo(record: InputRecord) -> Outcome:
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            body = json.dumps({"key": record.key_text, "n": record.decoded.get("n")}).encode()
            return Publish([Output(output_topic, record.key, body)])

        yield echo

    return WorkerSpec(
        name="echo",
        input_topics=[input_topic],
        output_topics=[output_topic],
        decoder=json_decoder,
        handler=handler,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(message)s")
    env = os.environ
    spec = echo_spec(env["ECHO_INPUT"], env["ECHO_OUTPUT"], float(env.get("ECHO_DELAY_MS", "0")))
    sys.exit(run_worker(spec, dict(env)))
