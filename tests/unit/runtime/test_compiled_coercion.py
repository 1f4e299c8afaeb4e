"""`coerce` compiles a schema once (`_compiled`) and must answer exactly as the walk of the schema (`_coerce`) does.

Every record schema of the catalog, and values built for it field by field: valid ones, and ones with each field
missing, null, of another type, with digits a decimal cannot keep, with a field the schema lacks. Both ways must
return equal values of the same types (a Decimal with the same digits and exponent) or raise `FieldError` with the
same field and reason. The decimal fast path (a value already at the schema's scale) is checked against the slow
one for the cases it must leave alone: a negative zero, too many digits, another exponent.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from workers.runtime.catalog import SchemaCatalog
from workers.runtime.coercions import _coerce, _exact, coerce
from workers.runtime.errors import FieldError

CATALOG = SchemaCatalog.load()
RECORDS = [name for name in CATALOG.names() if CATALOG.by_name(name).get("type") == "record"]

_OTHER_VALUES: tuple[Any, ...] = (
    None,
    "text",
    "12.345",
    "2026-02-30",
    "2026-01-31",
    7,
    -(2**40),
    2**70,
    True,
    1.5,
    Decimal("1.005"),
    Decimal("-0.00"),
    Decimal("1E+30"),
    b"\x01\x02",
    date(2026, 1, 31),
    datetime(2026, 1, 31, 12, tzinfo=UTC),
    datetime(2026, 1, 31, 12),
    [],
    {},
)


def _valid(schema: Any, rng: random.Random) -> Any:
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if "null" in schema and rng.random() < 0.3:
            return None
        return _valid(rng.choice(branches), rng)
    if isinstance(schema, str):
        return {
            "string": "x" * rng.randint(0, 5),
            "int": rng.randint(-1000, 1000),
            "long": rng.randint(-(2**40), 2**40),
            "boolean": rng.random() < 0.5,
            "double": 1.25,
            "float": 0.5,
            "bytes": b"ab",
            "null": None,
        }[schema]
    kind, logical = schema.get("type"), schema.get("logicalType")
    if logical == "decimal":
        scale = int(schema.get("scale", 0))
        return rng.choice(
            [Decimal(rng.randint(-(10**6), 10**6)).scaleb(-scale), str(rng.randint(0, 999)), rng.randint(-5, 5)]
        )
    if logical == "date":
        return rng.choice([date(2026, 1, rng.randint(1, 28)), "2026-03-01", rng.randint(0, 30000)])
    if logical in ("timestamp-millis", "timestamp-micros"):
        return rng.choice([datetime(2026, 1, 1, tzinfo=UTC), rng.randint(0, 2**40), "2026-01-01T00:00:00+00:00"])
    if kind == "record":
        return {field["name"]: _valid(field["type"], rng) for field in schema["fields"]}
    if kind == "enum":
        return rng.choice(schema["symbols"])
    if kind == "array":
        return [_valid(schema["items"], rng) for _ in range(rng.randint(0, 2))]
    if kind == "map":
        return {f"k{i}": _valid(schema["values"], rng) for i in range(rng.randint(0, 2))}
    if kind == "fixed":
        return b"\x00" * schema["size"]
    return _valid(kind, rng)


def _outcome(run: Any) -> tuple[str, Any]:
    try:
        value = run()
    except FieldError as exc:
        return "error", (exc.field, exc.reason)
    return "value", _comparable(value)


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return (type(value).__name__, value)


def _variants(record: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    variants = [record, {**record, "notAField": 1}]
    for name in record:
        missing = dict(record)
        del missing[name]
        variants += [missing, {**record, name: rng.choice(_OTHER_VALUES)}, {**record, name: None}]
    return variants


@pytest.mark.parametrize("name", RECORDS)
@pytest.mark.parametrize("extra", ["ignore", "reject"])
def test_compiled_and_walked_coercions_agree(name: str, extra: Any) -> None:
    schema = CATALOG.by_name(name)
    rng = random.Random(f"{name}-{extra}")
    seen: Counter[str] = Counter()
    for _ in range(20):
        for value in _variants(_valid(schema, rng), rng):
            compiled = _outcome(lambda value=value: coerce(value, schema, path="after", extra=extra))
            walked = _outcome(lambda value=value: _coerce(value, schema, "after", extra, None))
            assert compiled == walked, f"{name}: {value!r}"
            seen[compiled[0]] += 1
    assert seen["value"] >= 20  # the valid records at least
    assert seen["error"] >= 20  # a field missing or of another type, every round


@pytest.mark.parametrize(
    ("number", "precision", "expected"),
    [
        ("12.30", 17, "12.30"),  # the fast path: already at two places
        ("-5.10", 3, "-5.10"),
        ("0.00", 17, "0.00"),
        ("-0.00", 17, "0.00"),  # a negative zero is not left as it is
        ("12.3", 17, "12.30"),  # another exponent
        ("1E+2", 17, "100.00"),
        ("-15.10", 3, "has more than 3 digits"),
        ("123456789012345678.90", 17, "has more than 17 digits"),
        ("1.005", 17, "has more than 2 decimal places"),
    ],
)
def test_a_decimal_at_two_places(number: str, precision: int, expected: str) -> None:
    outcome = _outcome(lambda: _exact(Decimal(number), 2, precision, "amount"))
    if expected.startswith("has"):
        assert outcome == ("error", ("amount", f"{number} {expected}"))
    else:
        assert outcome == ("value", ("Decimal", Decimal(expected).as_tuple()))
        assert Decimal(expected).as_tuple().sign == (expected.startswith("-"))
