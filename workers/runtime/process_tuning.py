"""How a worker process sets up the interpreter's memory management before it starts its work.

- glibc's malloc makes up to eight arenas per core for the threads that allocate at once (librdkafka's, the
  consumer thread, the exporter's): memory each arena keeps for itself. `cap_malloc_arenas` holds them to
  `MALLOC_ARENAS` as ``MALLOC_ARENA_MAX`` would, unless that variable is set (glibc has applied it then).
- CPython's collector: `settle_collector`, once start-up is over.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Mapping
from typing import Final

__all__ = ["MALLOC_ARENAS", "YOUNG_COLLECTION_EVERY", "cap_malloc_arenas", "settle_collector"]

_log = logging.getLogger(__name__)

MALLOC_ARENAS: Final = 2
"""glibc malloc arenas a worker process keeps (``MALLOC_ARENA_MAX`` overrides). Python's own allocator serves
small objects from its arenas; glibc's serve the rest and librdkafka's threads. bench_memory (100,000 invoices
waiting) peaked at 144.6, 142.5 and 143.8 MB with the cap against 146.5, 155.1 and 154.6 MB without it, in
alternating runs at the same rate (issue 18)."""

_M_ARENA_MAX: Final = -8  # glibc's malloc.h

YOUNG_COLLECTION_EVERY: Final = 10_000
"""Tracked objects allocated (net of those freed) between two collections of the youngest generation, against
CPython's 700. A record in flight holds its coroutines, futures, dicts and spans for tens of milliseconds; at
700 a collection ran every ~6 records and promoted what was still in flight into older generations, where it
died and was traversed again: 0.55-0.62 s of collections per engine in a 10,000-invoice run at 20 ms, about a
tenth of its CPU, with 70 middle and 6 full collections. At 10,000: 7-9 collections, 0.05-0.10 s, none older
(benchmarks, issue 18). The longest single pause stays about the default's (14-29 ms against 10-38 ms for a full
collection); cyclic garbage waits for at most 10,000 allocations."""


def cap_malloc_arenas(env: Mapping[str, str]) -> bool:
    """Hold glibc's malloc to `MALLOC_ARENAS` arenas, first thing in the process (an arena a thread already has
    stays); whether it was done here. Not where ``MALLOC_ARENA_MAX`` is set, nor on a C library without
    ``mallopt`` (musl, macOS: their allocators have no such arenas)."""
    if "MALLOC_ARENA_MAX" in env:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        _log.debug("no mallopt in the C library: malloc arenas left as they are")
        return False
    return bool(mallopt(_M_ARENA_MAX, MALLOC_ARENAS))


def settle_collector() -> None:
    """Before the loop starts: what start-up made (modules, settings, schemas) lives as long as the process, so it
    is collected once and frozen out of the collector's way, and the youngest generation is collected every
    `YOUNG_COLLECTION_EVERY` allocations (the older generations' thresholds are CPython's)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
