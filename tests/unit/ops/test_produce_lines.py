"""`cesce-worker produce` reports every bad line of a file, not only the first, and then produces nothing.

Issue 20: "`produce` reports every bad line of a file, not only the first." No sockets: the file is refused before
a producer exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workers.cli import main
from workers.ops import produce
from workers.ops.produce import BadLines, bad_lines_report, prepare, value_encoder

GOOD = json.dumps({"key": "CLI-0001", "value": {"invoiceNo": "F-1"}})


def test_prepare_names_every_bad_line_with_its_reason() -> None:
    lines = [GOOD, '{"key": 7}', "", GOOD, "{not json", '{"vaule": 1}', GOOD]
    with pytest.raises(BadLines) as caught:
        prepare(lines, value_encoder(None, "erp.invoices"))
    errors = caught.value.errors
    assert [error.line for error in errors] == [2, 5, 6]
    assert "key must be a string or null" in errors[0].reason
    assert "not JSON" in errors[1].reason
    assert "unknown member 'vaule'" in errors[2].reason


def test_the_report_is_a_line_per_bad_line_then_what_happened() -> None:
    with pytest.raises(BadLines) as caught:
        prepare(['{"key": 7}', GOOD, '["x"]'], value_encoder(None, "t"))
    report = bad_lines_report("in.jsonl", caught.value.errors, 3).splitlines()
    assert report == [
        "in.jsonl:1: key must be a string or null",
        'in.jsonl:3: expected an object {"key": ..., "value": ..., "headers": {...}}',
        "cesce-worker produce: 2 bad line(s) of 3 in in.jsonl; nothing was produced",
    ]


def test_the_command_reports_them_all_produces_nothing_and_exits_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(*_args: object) -> int:
        raise AssertionError("a file with bad lines must not reach the producer")

    monkeypatch.setattr(produce, "_send", never)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")
    file = tmp_path / "changes.jsonl"
    file.write_text("\n".join([GOOD, "{", GOOD, '{"headers": {"h": 1}}', GOOD]) + "\n", encoding="utf-8")

    assert main(["produce", "--topic", "erp.invoices", "--file", str(file)]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines[:2]] == [f"{file}:2", f"{file}:4"]
    assert "headers must be an object of strings" in lines[1]
    assert lines[2] == f"cesce-worker produce: 2 bad line(s) of 5 in {file}; nothing was produced"
