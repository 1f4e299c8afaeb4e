"""The topics `cesce-worker broker` creates: every topic the AsyncAPI document describes, for the same settings; a
cluster that does not create them stops the command with the reason."""

from __future__ import annotations

import argparse
import socket

import pytest
from pydantic import ValidationError

from workers.ops import broker as broker_module
from workers.ops import topics as topics_module
from workers.ops.asyncapi import asyncapi_document
from workers.ops.topics import create_on_mock, product_topics


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


def test_a_cluster_that_does_not_answer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics_module, "_TIMEOUT", 0.5)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(RuntimeError, match=r"did not answer for erp\.invoices"):
        create_on_mock(address, ["erp.invoices"])


def test_the_broker_command_stops_with_the_reason_when_a_topic_is_not_created(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(bootstrap_servers: str, topics: list[str]) -> None:
        raise RuntimeError("the embedded broker did not create erp.invoices: no metadata")

    monkeypatch.setattr(broker_module, "create_on_mock", refuse)
    args = argparse.Namespace(brokers=1, bootstrap_file=None, registry_file=None)
    with pytest.raises(SystemExit, match=r"^cesce-worker broker: the embedded broker did not create erp\.invoices"):
        broker_module._broker(args)
    assert capsys.readouterr().out == ""  # no address printed: nothing may connect to a broker without its topics
