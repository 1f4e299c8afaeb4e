"""The row-state benchmark in short (4,000 rows): the harness runs, the mock keeps everything, the figures add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.bench_row_state import main

pytestmark = pytest.mark.integration


def test_a_small_state_is_written_loaded_and_measured(tmp_path: Path) -> None:
    output = tmp_path / "row_state.json"
    assert main(["--rows", "4000", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["mock"]["complete"]
    load = result["load"]
    assert load["rows_loaded_per_partition"] == [1000, 1000, 1000, 1000]
    assert load["reads_found"] == "4000/4000"
    assert load["held_bytes_per_row"] > 0
    assert load["load_one_partition_seconds"] > 0
    assert load["load_all_partitions_seconds"] > 0
