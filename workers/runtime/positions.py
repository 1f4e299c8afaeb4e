"""Where in its database's log a Debezium change was committed: the order to restore across partitions.

Debezium writes every change of a table in commit order, but into the partition of the row's key, so
two rows' changes sit on different partitions, and a consumer reading a backlog polls those in any
order. Every record carries its place in the database's log in ``source``; comparing those restores
the commit order across partitions. What each connector writes (Debezium's connector documentation,
"source metadata"):

- PostgreSQL: ``sequence``, ``["<last committed LSN>", "<LSN>"]`` (a transaction's changes share the
  first), else ``lsn``;
- MySQL and MariaDB: binlog ``file`` (``mysql-bin.000003``), ``pos`` and ``row``;
- SQL Server and Db2: ``commit_lsn``, ``change_lsn`` (hexadecimal ``0000002a:00000b48:0003``) and
  SQL Server's ``event_serial_no``;
- Oracle: ``commit_scn`` (else ``scn``) and ``scn``;
- anything else: the time of the change (``source.ts_ms``, else the envelope's ``ts_ms``), which orders
  changes only as well as the database's clock and milliseconds do.

Values may be numbers (JSON) or strings (an Avro ``source`` map of strings). A position is a tuple of
ints whose first element names the kind, so positions of one connector compare as its log does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from workers.runtime.envelope import Envelope

__all__ = ["Position", "source_position"]

Position = tuple[int, ...]

_LOG, _TIME = 0, 1
_DIGITS: Final = re.compile(r"(\d+)$")


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


def _hex_parts(value: Any) -> tuple[int, ...] | None:
    """``0000002a:00000b48:0003`` -> (42, 2888, 3)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return tuple(int(part, 16) for part in value.split(":"))
    except ValueError:
        return None


def _postgres(source: Mapping[str, Any]) -> Position | None:
    sequence = source.get("sequence")
    if isinstance(sequence, str):
        try:
            last_commit, lsn = json.loads(sequence)
        except (ValueError, TypeError):
            last_commit = lsn = None
        if _int(lsn) is not None:
            return (_LOG, _int(last_commit) or 0, _int(lsn) or 0)
    lsn = _int(source.get("lsn"))
    return None if lsn is None else (_LOG, lsn)


def _mysql(source: Mapping[str, Any]) -> Position | None:
    file, pos = source.get("file"), _int(source.get("pos"))
    number = _DIGITS.search(file) if isinstance(file, str) else None
    if number is None or pos is None:
        return None
    return (_LOG, int(number.group(1)), pos, _int(source.get("row")) or 0)


def _commit_lsn(source: Mapping[str, Any]) -> Position | None:
    commit = _hex_parts(source.get("commit_lsn"))
    if commit is None:
        return None
    change = _hex_parts(source.get("change_lsn")) or ()
    return (_LOG, *commit, *change, _int(source.get("event_serial_no")) or 0)


def _oracle(source: Mapping[str, Any]) -> Position | None:
    scn = _int(source.get("scn"))
    commit = _int(source.get("commit_scn"))
    if scn is None and commit is None:
        return None
    return (_LOG, commit if commit is not None else scn or 0, scn or 0)


def source_position(change: Envelope) -> Position | None:
    """`change`'s place in its database's commit order, or None when the record says nothing of it."""
    source = change.source
    for read in (_postgres, _mysql, _commit_lsn, _oracle):
        position = read(source)
        if position is not None:
            return position
    millis = _int(source.get("ts_ms"))
    if millis is None:
        millis = change.ts_ms
    return None if millis is None else (_TIME, millis)
