"""`cesce-worker dlq`'s decisions without a broker: durations, filters, the table, the ledger, replays, the summary."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from workers.runtime.dlq import REPLAY_COUNT, REPLAY_SOURCE
from workers.runtime.tools import dlq
from workers.runtime.tools.dlq_format import TABLE_COLUMNS, format_table, record_json, table_row
from workers.runtime.tools.dlq_read import DeadLetterRecord, Filters, LedgerEntry, fold_ledger, parse_duration
from workers.runtime.tools.dlq_replay import Action, Limit, Summary, decide, ledger_entry, replayed_headers

NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
LIMIT = Limit(3, "DLQ_MAX_REPLAYS")


def dead_letter(
    offset: int = 7,
    *,
    partition: int = 0,
    key: str = "CLI-0001",
    code: str = "1522",
    category: str = "business",
    minutes_ago: int = 5,
    replays: int | None = None,
    original: str | None = "erp.invoices",
    description: str = "No existe periodo de seguro",
) -> DeadLetterRecord:
    headers: list[tuple[str, bytes | None]] = [
        ("erp.header", b"kept"),
        ("dlq.category", category.encode()),
        ("dlq.error.code", code.encode()),
        ("dlq.error.description", description.encode()),
        ("dlq.original.partition", b"2"),
        ("dlq.original.offset", b"41"),
        ("dlq.worker", b"invoices"),
        ("dlq.attempts", b"1"),
        ("dlq.original.traceparent", b"00-aaaa-bbbb-01"),
        ("traceparent", b"00-cccc-dddd-01"),
        ("source.topic", b"erp.invoices"),
    ]
    if original is not None:
        headers.append(("dlq.original.topic", original.encode()))
    if replays is not None:
        headers.insert(0, (REPLAY_COUNT, str(replays).encode()))
    stamp = int((NOW - timedelta(minutes=minutes_ago)).timestamp() * 1000)
    return DeadLetterRecord("erp.invoices.dlq", partition, offset, stamp, key.encode(), b'{"op":"c"}', tuple(headers))


def entry(times: int = 1, count: int = 1, offset: int = 7) -> LedgerEntry:
    return LedgerEntry("erp.invoices.dlq", 0, offset, "erp.invoices", "2030-01-10T11:00:00Z", times, count)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("7d", 604800), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "-2h", "2h-", "1.5h", "2 h"])
def test_a_bad_duration_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 90s, 30m, 2h, 7d"):
        parse_duration(text)


def test_a_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="cesce-worker")
    dlq.register(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["dlq", "list", "--topic", "t.dlq", "--since", "2 weeks"])
    assert exited.value.code == 2
    assert "--since: not a duration: '2 weeks'" in capsys.readouterr().err


def test_filters_match_each_field() -> None:
    records = [
        dead_letter(1),
        dead_letter(2, code="2809"),
        dead_letter(3, category="transient", code="timeout"),
        dead_letter(4, key="CLI-0002"),
        dead_letter(5, minutes_ago=180),
        dead_letter(5, partition=1),
    ]

    def offsets(**given: object) -> list[tuple[int, int]]:
        return [(r.partition, r.offset) for r in Filters(**given).select(records, NOW)]  # type: ignore[arg-type]

    assert len(offsets()) == 6
    assert offsets(code="2809") == [(0, 2)]
    assert offsets(category="transient") == [(0, 3)]
    assert offsets(key="CLI-0002") == [(0, 4)]
    assert offsets(since=timedelta(hours=2)) == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 5)]
    assert offsets(offset=5) == [(0, 5), (1, 5)]
    assert offsets(offset=5, partition=1) == [(1, 5)]
    assert offsets(code="1522", key="CLI-0001", since=timedelta(hours=1)) == [(0, 1), (1, 5)]


def test_the_table_truncates_descriptions_and_aligns_numbers() -> None:
    long = dead_letter(12, description="x" * 100, replays=1)
    rows = [table_row(dead_letter(7), entry(times=2)), table_row(long, None)]
    lines = format_table(TABLE_COLUMNS, rows)
    assert lines[0].split() == list(TABLE_COLUMNS)
    assert lines[1].split() == [
        *["0", "7", "2030-01-10T11:55:00Z", "CLI-0001", "business", "1522"],
        *["No", "existe", "periodo", "de", "seguro", "1", "erp.invoices[2]@41", "2", "0"],
    ]
    assert "x" * 59 + "…" in lines[2]
    assert "x" * 60 not in lines[2]
    assert lines[2].split()[-2:] == ["0", "1"]  # never replayed from the ledger, replay.count 1 of its own
    offset_column = lines[0].index("offset") + len("offset")
    assert lines[1][offset_column - 1] == "7"
    assert lines[2][offset_column - 2 : offset_column] == "12"


def test_the_json_line_is_complete() -> None:
    document = record_json(dead_letter(7, description="y" * 100), entry())
    assert document["description"] == "y" * 100
    assert document["original"] == {"topic": "erp.invoices", "partition": 2, "offset": 41, "timestamp": None}
    assert (document["key"], document["code"], document["attempts"], document["time"]) == (
        "CLI-0001",
        "1522",
        1,
        "2030-01-10T11:55:00Z",
    )
    assert document["replayed"]["times"] == 1


def test_the_ledger_round_trips_and_keeps_the_latest_entry_per_dead_letter() -> None:
    first, second = entry(times=1, count=1), entry(times=2, count=2)
    assert LedgerEntry.decode(first.encode()) == first
    assert first.key == "erp.invoices.dlq[0]@7"

    def ledger_record(key: str, value: bytes | None, offset: int) -> DeadLetterRecord:
        return DeadLetterRecord("cesce.dlq-replays", 0, offset, None, key.encode(), value, ())

    found, unreadable = fold_ledger(
        [
            ledger_record(first.key, first.encode(), 0),
            ledger_record("other.dlq[0]@7", first.encode(), 1),
            ledger_record(second.key, second.encode(), 2),
            ledger_record("erp.invoices.dlq[0]@8", entry(offset=8).encode(), 3),
            ledger_record("erp.invoices.dlq[0]@8", None, 4),  # a tombstone forgets it
            ledger_record("erp.invoices.dlq[0]@9", b"not json", 5),
        ],
        "erp.invoices.dlq",
    )
    assert found == {first.key: second}
    assert unreadable == ["cesce.dlq-replays[0]@5"]


def test_a_replay_counts_one_more_than_the_record_or_the_ledger() -> None:
    fresh = decide(dead_letter(), None, to=None, again=False, limit=LIMIT)
    assert (fresh.action, fresh.target, fresh.replay_count) == (Action.REPLAY, "erp.invoices", 1)
    headers = replayed_headers(fresh)
    assert headers == [
        ("erp.header", b"kept"),
        ("traceparent", b"00-aaaa-bbbb-01"),
        (REPLAY_COUNT, b"1"),
        (REPLAY_SOURCE, b"erp.invoices.dlq[0]@7"),
    ]
    failed_again = decide(dead_letter(replays=2), None, to="elsewhere", again=False, limit=LIMIT)
    assert (failed_again.target, failed_again.replay_count) == ("elsewhere", 3)
    again = decide(dead_letter(), entry(times=1, count=1), to=None, again=True, limit=LIMIT)
    assert again.replay_count == 2
    assert (REPLAY_COUNT, b"2") in replayed_headers(again)
    written = ledger_entry(again, entry(times=1, count=1), NOW)
    assert written == LedgerEntry("erp.invoices.dlq", 0, 7, "erp.invoices", "2030-01-10T12:00:00Z", 2, 2)


def test_already_replayed_is_skipped_unless_again() -> None:
    skipped = decide(dead_letter(), entry(), to=None, again=False, limit=LIMIT)
    assert skipped.action is Action.SKIP
    assert skipped.reason == (
        "erp.invoices.dlq[0]@7: already replayed at 2030-01-10T11:00:00Z to erp.invoices, "
        "use --again to replay it anyway"
    )


def test_at_the_maximum_a_record_is_refused_with_the_way_out() -> None:
    refused = decide(dead_letter(replays=3), None, to=None, again=False, limit=LIMIT)
    assert refused.action is Action.REFUSE
    assert refused.reason == (
        "erp.invoices.dlq[0]@7: replayed 3 times already (DLQ_MAX_REPLAYS=3); fix the cause, "
        "or replay with --max-replays 4"
    )
    by_ledger = decide(dead_letter(), entry(times=1, count=1), to=None, again=True, limit=Limit(1, "--max-replays"))
    assert "replayed 1 time already (--max-replays=1)" in str(by_ledger.reason)
    assert decide(dead_letter(replays=3), None, to=None, again=False, limit=Limit(4, "x")).action is Action.REPLAY


def test_without_an_original_topic_only_to_helps() -> None:
    lost = dead_letter(original=None)
    refused = decide(lost, None, to=None, again=False, limit=LIMIT)
    assert refused.action is Action.REFUSE
    assert "give --to TOPIC" in str(refused.reason)
    assert decide(lost, None, to="erp.invoices", again=False, limit=LIMIT).action is Action.REPLAY


def test_the_summary_names_every_skip_and_refusal() -> None:
    decisions = [
        decide(dead_letter(1), None, to=None, again=False, limit=LIMIT),
        decide(dead_letter(2), None, to="other", again=False, limit=LIMIT),
        decide(dead_letter(7), entry(), to=None, again=False, limit=LIMIT),
        decide(dead_letter(8, replays=3), None, to=None, again=False, limit=LIMIT),
    ]
    summary = Summary("erp.invoices.dlq", dry_run=False, decisions=decisions)
    summary.replayed.update(["erp.invoices", "other"])
    assert summary.lines() == [
        "replayed 2 dead letter(s) from erp.invoices.dlq: 1 to erp.invoices, 1 to other",
        "skipped 1 already replayed:",
        f"  {decisions[2].reason}",
        "refused 1:",
        f"  {decisions[3].reason}",
    ]
    assert summary.exit_status == 1
    document = summary.to_json()
    assert document["replayed"] == 2
    assert document["replayedTo"] == {"erp.invoices": 1, "other": 1}
    assert [s["deadLetter"] for s in document["skipped"]] == ["erp.invoices.dlq[0]@7"]
    assert [s["deadLetter"] for s in document["refused"]] == ["erp.invoices.dlq[0]@8"]


def test_a_clean_or_empty_run_exits_zero_and_a_dry_run_says_so() -> None:
    assert Summary("t.dlq", dry_run=False, decisions=[]).lines() == ["no dead letters match in t.dlq"]
    dry = Summary("t.dlq", dry_run=True, decisions=[decide(dead_letter(), None, to=None, again=False, limit=LIMIT)])
    dry.replayed.update(["erp.invoices"])
    assert dry.lines() == [
        "would replay 1 dead letter(s) from t.dlq: 1 to erp.invoices",
        "dry run: nothing was written",
    ]
    assert dry.exit_status == 0
    failed = Summary("t.dlq", dry_run=False, decisions=dry.decisions, failure="boom")
    assert failed.exit_status == 1
    assert failed.lines()[-1] == "failed: boom"


def run_dlq(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cesce-worker")
    dlq.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dlq", *argv])
    status: int = args.handler(args)
    return status


def test_configuration_errors_are_one_line_and_exit_two(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert run_dlq("list", "--topic", "t.dlq") == 2
    assert capsys.readouterr().err == "cesce-worker dlq list: set KAFKA_BOOTSTRAP_SERVERS\n"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # never reached: the setting is checked first
    monkeypatch.setenv("DLQ_MAX_REPLAYS", "many")
    assert run_dlq("replay", "--topic", "t.dlq") == 2
    assert "DLQ_MAX_REPLAYS must be a whole number of at least 1, got 'many'" in capsys.readouterr().err


def test_a_bad_kafka_setting_is_reported_without_secret_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "hunter2")  # librdkafka quotes the bad value
    assert run_dlq("list", "--topic", "t.dlq") == 2
    err = capsys.readouterr().err
    assert 'Invalid value "***" for configuration property "security.protocol"' in err
    assert "hunter2" not in err
