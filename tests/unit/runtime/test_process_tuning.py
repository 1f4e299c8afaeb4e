"""A worker process sets up the interpreter's memory management before its work: glibc's malloc arenas capped
unless MALLOC_ARENA_MAX says otherwise, start-up's objects frozen, the youngest generation collected every
`YOUNG_COLLECTION_EVERY` allocations. Each probe runs in a process of its own: freezing and the cap are for good."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from workers.runtime.process_tuning import YOUNG_COLLECTION_EVERY

_COLLECTOR = """
import gc, json
default = gc.get_threshold()
from workers.runtime.process_tuning import settle_collector
settle_collector()
print(json.dumps({"default": default, "settled": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""

_ARENAS = """
import json, os
from workers.runtime.process_tuning import cap_malloc_arenas
print(json.dumps(cap_malloc_arenas(os.environ)))
"""


def _probe(code: str, **env: str) -> object:
    environment = {name: value for name, value in os.environ.items() if name != "MALLOC_ARENA_MAX"} | env
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True, env=environment
    )
    return json.loads(done.stdout)


def test_the_collector_is_settled_before_the_loop() -> None:
    seen = _probe(_COLLECTOR)
    assert isinstance(seen, dict)
    assert seen["settled"] == [YOUNG_COLLECTION_EVERY, *seen["default"][1:]]
    assert seen["default"][0] < YOUNG_COLLECTION_EVERY
    assert seen["frozen"] > 10_000  # the modules start-up imported


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's")
def test_malloc_arenas_are_capped_on_glibc() -> None:
    assert _probe(_ARENAS) is True


def test_a_set_malloc_arena_max_is_left_to_glibc() -> None:
    assert _probe(_ARENAS, MALLOC_ARENA_MAX="4") is False
