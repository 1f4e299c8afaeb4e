"""An engine process settles the garbage collector before its loop starts: start-up's objects frozen, the youngest
generation collected every `YOUNG_COLLECTION_EVERY` allocations (in a process of its own: freezing is for good)."""

from __future__ import annotations

import json
import subprocess
import sys

from workers.runtime.run import YOUNG_COLLECTION_EVERY

_PROBE = """
import gc, json
default = gc.get_threshold()
from workers.runtime.run import settle_collector
settle_collector()
print(json.dumps({"default": default, "settled": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_the_collector_is_settled_before_the_loop() -> None:
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(probe.stdout)
    assert seen["settled"] == [YOUNG_COLLECTION_EVERY, *seen["default"][1:]]
    assert seen["default"][0] < YOUNG_COLLECTION_EVERY
    assert seen["frozen"] > 10_000  # the modules start-up imported
