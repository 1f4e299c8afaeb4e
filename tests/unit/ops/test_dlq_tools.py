"""`cesce-worker dlq`'s decisions without a broker: durations, filters, the table, the ledger, replays, the
summary, the replay lock; and `dlq replay` against a fake cluster: the order of its calls (fence, then
read the ledger, then decide), a fenced producer, two replays at once on a fencing cluster and on the mock."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from workers.ops import dlq
from workers.ops.dlq_format import TABLE_COLUMNS, format_table, record_json, table_row
from workers.ops.dlq_lock import Holder, LockEvent, LockRecord, ReplayLock, fences, holder_at
from workers.ops.dlq_read import DeadLetterRecord, Filters, LedgerEntry, fold_ledger, parse_duration
from workers.ops.dlq_replay import Action, Limit, Summary, decide, ledger_entry, replayed_headers
from workers.runtime import transactions
from workers.runtime.dlq import REPLAY_COUNT, REPLAY_SOURCE

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


def test_a_dead_letter_kept_without_its_value_is_never_replayed() -> None:
    """The engine keeps a dead letter too large for the cluster without key and value (``dlq.omitted``):
    replaying it would send nothing, a tombstone, to the input topic."""
    whole = dead_letter()
    bare = replace(
        whole, key=None, value=None, headers=(*whole.headers, ("dlq.omitted", b"key=8,value=999901,headers=1"))
    )
    refused = decide(bare, None, to=None, again=True, limit=LIMIT)
    assert refused.action is Action.REFUSE
    assert refused.reason == (
        "erp.invoices.dlq[0]@7: its dead letter holds no key or value (dlq.omitted: key=8,value=999901,headers=1: "
        "too large to keep); the original is at erp.invoices[2]@41, while the topic's retention keeps it"
    )


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


# --- the replay lock (the mock cluster's stand-in for fencing) -----------------------------------


def lock(event: LockEvent, run: str, at_s: float, lease_s: float = 60) -> LockRecord:
    return LockRecord(event, run, int(at_s * 1000), int(lease_s * 1000), f"host-{run} pid 1")


def test_the_first_claim_wins_and_a_later_one_loses_while_the_holder_lives() -> None:
    history = [lock(LockEvent.CLAIM, "a", 0), lock(LockEvent.CLAIM, "b", 1), lock(LockEvent.RENEW, "a", 2)]
    found, holder = holder_at(history, "a")
    assert found
    assert holder is not None
    assert holder.run == "a"
    found, holder = holder_at(history, "b")
    assert found
    assert holder is not None
    assert (holder.run, holder.owner, holder.since_ms, holder.expires_ms) == ("a", "host-a pid 1", 0, 60_000)
    assert LockRecord.decode(history[1].encode()) == history[1]


def test_a_release_or_a_lapsed_lease_frees_the_lock_and_only_the_holder_renews_or_releases() -> None:
    released = [lock(LockEvent.CLAIM, "a", 0), lock(LockEvent.RELEASE, "a", 5), lock(LockEvent.CLAIM, "b", 6)]
    assert holder_at(released, "b")[1] == Holder("b", "host-b pid 1", 6000, 6000, 60_000)
    renewed = [lock(LockEvent.CLAIM, "a", 0), lock(LockEvent.RENEW, "a", 50), lock(LockEvent.CLAIM, "b", 100)]
    assert holder_at(renewed, "b")[1] == Holder("a", "host-a pid 1", 0, 50_000, 60_000)  # 100 s < 50 s + 60 s
    lapsed = [lock(LockEvent.CLAIM, "a", 0), lock(LockEvent.RENEW, "a", 50), lock(LockEvent.CLAIM, "b", 111)]
    assert holder_at(lapsed, "b")[1] == Holder("b", "host-b pid 1", 111_000, 111_000, 60_000)
    strangers = [
        lock(LockEvent.CLAIM, "a", 0),
        lock(LockEvent.CLAIM, "b", 1),  # lost
        lock(LockEvent.RELEASE, "b", 2),  # so its release changes nothing
        lock(LockEvent.RENEW, "c", 3),  # nor does a renew by a run that never held it
        lock(LockEvent.CLAIM, "c", 4),
    ]
    holder = holder_at(strangers, "c")[1]
    assert holder is not None
    assert (holder.run, holder.expires_ms) == ("a", 60_000)
    assert holder_at(strangers[:1], "c") == (False, Holder("a", "host-a pid 1", 0, 0, 60_000))  # not claimed yet


def test_lock_records_are_read_from_their_own_key_only() -> None:
    mine = ReplayLock("erp.invoices.dlq", "cesce.dlq-replays", 90, clock=lambda: 1_000.5)
    record = mine.record(LockEvent.CLAIM)
    assert (record.run, record.at_ms, record.lease_ms) == (mine.run, 1_000_500, 90_000)
    assert mine.key == "erp.invoices.dlq:replay-lock"
    other = ReplayLock("erp.other.dlq", "cesce.dlq-replays", 90)
    pairs = [
        (mine.key.encode(), record.encode()),
        (other.key.encode(), other.record(LockEvent.CLAIM).encode()),
        (mine.key.encode(), b"not json"),
        (mine.key.encode(), None),
        (b"erp.invoices.dlq[0]@7", entry().encode()),
    ]
    assert mine.history(pairs) == [record]
    assert fold_ledger(
        [DeadLetterRecord("cesce.dlq-replays", 0, n, None, k, v, ()) for n, (k, v) in enumerate(pairs)],
        "erp.invoices.dlq",
    ) == ({"erp.invoices.dlq[0]@7": entry()}, [])
    assert fences("lkc-1a2b3c")
    assert fences(None)
    assert not fences("mockCluster1a2b")


# --- `dlq replay` against a fake cluster: fence, then read the ledger, then decide -----------------


FENCED = KafkaError(KafkaError._FENCED, "Producer fenced by newer instance", fatal=True)


@dataclass
class Stored:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass
class FakeMessage:
    """What `read_records` asks of a confluent_kafka.Message."""

    stored: Stored | None
    at: int
    eof: bool = False

    def error(self) -> KafkaError | None:
        return KafkaError(KafkaError._PARTITION_EOF) if self.eof else None

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self.at

    def timestamp(self) -> tuple[int, int]:
        return 1, int(NOW.timestamp() * 1000)

    def key(self) -> bytes | None:
        return None if self.stored is None else self.stored.key

    def value(self) -> bytes | None:
        return None if self.stored is None else self.stored.value

    def headers(self) -> list[tuple[str, bytes | None]]:
        return [] if self.stored is None else self.stored.headers


class FakeCluster:
    """One partition per topic; committed records only are read (read_committed without aborts).

    ``fencing=True`` behaves like Kafka's transaction coordinator: `init_transactions` bumps the
    transactional.id's epoch, drops the open transaction of an older producer, and that producer's
    next produce or commit raises the fatal ``_FENCED``. ``fencing=False`` is librdkafka's mock:
    each producer gets its own id and nobody is fenced. `calls` records, in order, what the
    clients did (``read <topic>`` when a read starts); `failures` makes the n-th occurrence of a
    call raise, and `hooks` runs a function once the n-th occurrence is done (a commit applied, a
    read finished), to start another run there.
    """

    def __init__(self, *, fencing: bool) -> None:
        self.fencing = fencing
        self.cluster_id = "lkc-fake" if fencing else "mockCluster-fake"
        self.topics: dict[str, list[Stored]] = {}
        self.epochs: dict[str, int] = {}
        self.calls: list[str] = []
        self.hooks: dict[tuple[str, int], Callable[[], None]] = {}
        self.failures: dict[tuple[str, int], KafkaError] = {}

    def call(self, name: str) -> None:
        self.calls.append(name)
        error = self.failures.pop((name, self.calls.count(name)), None)
        if error is not None:
            raise KafkaException(error)

    def done(self, name: str) -> None:
        hook = self.hooks.pop((name, self.calls.count(name)), None)
        if hook is not None:
            hook()

    def committed(self, topic: str) -> list[Stored]:
        return self.topics.get(topic, [])


class FakeProducer:
    def __init__(self, cluster: FakeCluster, config: dict[str, Any]) -> None:
        self.cluster = cluster
        self.tid = str(config["transactional.id"])
        self.epoch = 0
        self.pending: list[tuple[str, Stored]] = []

    def _check(self) -> None:
        if self.cluster.fencing and self.epoch != self.cluster.epochs.get(self.tid):
            raise KafkaException(FENCED)

    def init_transactions(self, timeout: float) -> None:
        self.cluster.call("init_transactions")
        self.epoch = self.cluster.epochs[self.tid] = self.cluster.epochs.get(self.tid, 0) + 1

    def begin_transaction(self) -> None:
        self.cluster.call("begin_transaction")

    def produce(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None, **_: Any
    ) -> None:
        self.cluster.call(f"produce {topic}")
        self._check()
        self.pending.append((topic, Stored(key, value, list(headers or []))))

    def commit_transaction(self, timeout: float) -> None:
        self.cluster.call("commit_transaction")
        self._check()
        for topic, stored in self.pending:
            self.cluster.topics.setdefault(topic, []).append(stored)
        self.pending.clear()
        self.cluster.done("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self.cluster.call("abort_transaction")
        self._check()
        self.pending.clear()

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        return 0


class FakeConsumer:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.queue: list[FakeMessage] = []
        self.topic = ""

    def list_topics(self, topic: str, timeout: float) -> Any:
        self.topic = topic
        self.cluster.call(f"read {topic}")
        described = {topic: SimpleNamespace(partitions={0: None}, error=None)} if topic in self.cluster.topics else {}
        return SimpleNamespace(cluster_id=self.cluster.cluster_id, topics=described)

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float, cached: bool) -> tuple[int, int]:
        return 0, len(self.cluster.committed(partition.topic))

    def assign(self, partitions: list[TopicPartition]) -> None:
        [partition] = partitions
        stored = self.cluster.committed(partition.topic)
        self.queue = [FakeMessage(s, n) for n, s in enumerate(stored) if n >= partition.offset]
        self.queue.append(FakeMessage(None, len(stored), eof=True))

    def poll(self, timeout: float) -> FakeMessage | None:
        return self.queue.pop(0) if self.queue else None

    def close(self) -> None:
        self.cluster.done(f"read {self.topic}")


DLQ, TARGET, LEDGER = "erp.invoices.dlq", "erp.invoices", "cesce.dlq-replays"


@pytest.fixture
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
    """A fake cluster (fencing unless the test is parametrized with False) and the replay's settings."""
    fake = FakeCluster(fencing=getattr(request, "param", True))
    monkeypatch.setattr(transactions, "Producer", lambda config: FakeProducer(fake, config))
    monkeypatch.setattr(confluent_kafka, "Consumer", lambda config: FakeConsumer(fake))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "fake:9092")
    monkeypatch.setenv("DLQ_REPLAYS_TOPIC", LEDGER)
    monkeypatch.delenv("DLQ_MAX_REPLAYS", raising=False)
    return fake


def add_dead_letters(cluster: FakeCluster, count: int) -> None:
    cluster.topics[DLQ] = [
        Stored(f"CLI-{n % 7}".encode(), b'{"n":%d}' % n, [("dlq.original.topic", TARGET.encode())])
        for n in range(count)
    ]


def replayed_sources(cluster: FakeCluster) -> Counter[str]:
    return Counter(dict(s.headers)[REPLAY_SOURCE].decode() for s in cluster.committed(TARGET))  # type: ignore[union-attr]


def ledger_keys(cluster: FakeCluster) -> Counter[str]:
    return Counter((s.key or b"").decode() for s in cluster.committed(LEDGER) if b"@" in (s.key or b""))


def test_replay_fences_before_it_reads_the_ledger_and_decides(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    add_dead_letters(cluster, 3)
    assert run_dlq("replay", "--topic", DLQ, "--no-progress") == 0
    assert capsys.readouterr().out.splitlines() == [f"replayed 3 dead letter(s) from {DLQ}: 3 to {TARGET}"]
    assert cluster.calls == [
        f"read {DLQ}",  # what to replay may be read first: the decision comes from the ledger
        "init_transactions",  # fences an older replay of this DLQ, aborts its open transaction
        f"read {LEDGER}",  # read_committed, after the fence: what the ledger says is final
        "begin_transaction",
        *[f"produce {topic}" for _ in range(3) for topic in (TARGET, LEDGER)],
        "commit_transaction",
    ]
    assert replayed_sources(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(3)}


def test_a_dry_run_creates_no_producer_so_it_fences_nobody(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    add_dead_letters(cluster, 2)
    assert run_dlq("replay", "--topic", DLQ, "--dry-run") == 0
    assert "would replay 2 dead letter(s)" in capsys.readouterr().out
    assert cluster.calls == [f"read {DLQ}", f"read {LEDGER}"]  # no init_transactions


@pytest.mark.parametrize(
    ("call", "occurrence", "replayed"), [(f"produce {TARGET}", 1, 0), ("commit_transaction", 2, 500)]
)
def test_a_fenced_producer_stops_the_replay_at_once_and_says_another_replay_took_over(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str], call: str, occurrence: int, replayed: int
) -> None:
    add_dead_letters(cluster, 700)  # two transactions: 500, then 200
    cluster.failures[(call, occurrence)] = FENCED
    assert run_dlq("replay", "--topic", DLQ, "--no-progress") == 1
    out = capsys.readouterr().out.splitlines()
    first = f"{DLQ}[0]@{replayed}"
    assert out[0] == f"replayed {replayed} dead letter(s) from {DLQ}" + (
        f": {replayed} to {TARGET}" if replayed else ""
    )
    assert out[1].startswith(
        f"failed: another replay of {DLQ} took over (it fenced transactional.id cesce-dlq-replay.{DLQ}): "
        f"this run stopped and replayed nothing from {first} on ("
    )
    assert len(out) == 2
    assert replayed_sources(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(replayed)}
    assert cluster.calls[-1] == call  # nothing after the fence: no other produce, commit or transaction
    assert cluster.calls.count("begin_transaction") == (1 if replayed == 0 else 2)


def test_another_fatal_error_is_not_called_a_takeover(cluster: FakeCluster, capsys: pytest.CaptureFixture[str]) -> None:
    add_dead_letters(cluster, 2)
    denied = KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "not allowed", fatal=True)
    cluster.failures[("commit_transaction", 1)] = denied
    assert run_dlq("replay", "--topic", DLQ, "--no-progress", "--json") == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["replayed"], summary["concurrentReplay"]) == (0, False)
    assert summary["failure"].startswith("the transactional producer failed for good (")
    assert "not allowed" in summary["failure"]


@pytest.mark.parametrize("starts_after", [f"read {LEDGER}", "commit_transaction"])
def test_on_a_fencing_cluster_a_second_replay_takes_over_and_each_dead_letter_goes_once(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str], starts_after: str
) -> None:
    """B starts once A has read the ledger (A then replays nothing), or once A committed its first
    batch (B replays the rest); before the fix A read the ledger before fencing and replayed it all again."""
    add_dead_letters(cluster, 1200)
    second: list[tuple[int, str]] = []

    def run_b() -> None:
        status = run_dlq("replay", "--topic", DLQ, "--no-progress")
        second.append((status, capsys.readouterr().out))

    cluster.hooks[(starts_after, 1)] = run_b
    assert run_dlq("replay", "--topic", DLQ, "--no-progress") == 1
    a_out = capsys.readouterr().out
    [(b_status, b_out)] = second
    assert b_status == 0, b_out
    before = 0 if starts_after.startswith("read") else 500
    assert a_out.splitlines()[0] == f"replayed {before} dead letter(s) from {DLQ}" + (
        f": {before} to {TARGET}" if before else ""
    )
    assert f"failed: another replay of {DLQ} took over" in a_out
    assert b_out.splitlines()[0] == f"replayed {1200 - before} dead letter(s) from {DLQ}: {1200 - before} to {TARGET}"
    assert replayed_sources(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(1200)}
    assert ledger_keys(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(1200)}


@pytest.mark.parametrize("cluster", [False], indirect=True)
def test_on_the_mock_a_second_replay_loses_the_lock_and_replays_nothing(
    cluster: FakeCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    add_dead_letters(cluster, 1200)
    second: list[tuple[int, str]] = []

    def run_b() -> None:
        status = run_dlq("replay", "--topic", DLQ, "--no-progress", "--json")
        second.append((status, capsys.readouterr().out))

    cluster.hooks[("commit_transaction", 2)] = run_b  # A claimed (commit 1) and replayed a batch (commit 2)
    assert run_dlq("replay", "--topic", DLQ, "--no-progress") == 0
    assert capsys.readouterr().out.splitlines() == [f"replayed 1200 dead letter(s) from {DLQ}: 1200 to {TARGET}"]
    [(b_status, b_out)] = second
    assert b_status == 1
    summary = json.loads(b_out)
    assert (summary["replayed"], summary["concurrentReplay"]) == (0, True)
    assert summary["failure"].startswith(f"another replay of {DLQ} is running (")
    assert "this run replayed nothing; run it again once that one has finished" in summary["failure"]
    assert replayed_sources(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(1200)}
    assert ledger_keys(cluster) == {f"{DLQ}[0]@{n}": 1 for n in range(1200)}
    lock_key = f"{DLQ}:replay-lock".encode()
    history = [LockRecord.decode(s.value or b"") for s in cluster.committed(LEDGER) if s.key == lock_key]
    assert [r.event for r in history] == [
        LockEvent.CLAIM,  # A
        LockEvent.RENEW,  # A's first batch
        LockEvent.CLAIM,  # B, lost
        LockEvent.RELEASE,  # B's, which changes nothing
        LockEvent.RENEW,
        LockEvent.RENEW,
        LockEvent.RELEASE,  # A's: the next replay starts at once
    ]
    at_once = history[-1].at_ms / 1000 + 0.001  # the next replay, a moment after A's release
    holder = holder_at([*history, lock(LockEvent.CLAIM, "next", at_once)], "next")[1]
    assert holder is not None
    assert holder.run == "next"
