"""The topics `cesce-worker broker` creates: every topic the AsyncAPI document describes, for the same settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.ops.asyncapi import asyncapi_document
from workers.ops.topics import product_topics


def _channels(env: dict[str, str]) -> list[str]:
    return sorted(channel["address"] for channel in asyncapi_document(env)["channels"].values())


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"INVOICES_TOPIC": "erp.facturas", "WORKER_DLQ_SUFFIX": ".muertos", "DLQ_REPLAYS_TOPIC": "ops.replays"},
    ],
)
def test_the_topics_are_the_channels_of_the_asyncapi_document(env: dict[str, str]) -> None:
    topics = product_topics(env)
    assert topics == _channels(env)
    assert len(topics) == len(set(topics))


def test_the_default_topics_hold_every_kind_a_worker_reads_or_writes() -> None:
    topics = set(product_topics({}))
    assert {"erp.invoices", "erp.invoices.by-debtor", "erp.invoices.dlq"} <= topics  # input, re-keyed, dead letters
    assert {"cesce.sale-results", "cesce.invoices.rows", "cesce.dlq-replays"} <= topics  # results, row state, ledger
    renamed = set(product_topics({"INVOICES_TOPIC": "erp.facturas", "WORKER_DLQ_SUFFIX": ".muertos"}))
    assert {"erp.facturas", "erp.facturas.muertos"} <= renamed
    assert "erp.invoices" not in renamed


def test_a_topic_setting_that_cannot_be_used_is_refused() -> None:
    with pytest.raises(ValidationError, match="WORKER_DLQ_SUFFIX"):
        product_topics({"WORKER_DLQ_SUFFIX": "no spaces"})
