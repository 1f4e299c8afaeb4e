"""Argument types for the command line: numbers checked where they are parsed, with a clear message."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_schemas_dir", "non_negative", "non_negative_int", "positive", "positive_int", "probability"]


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def add_schemas_dir(parser: argparse.ArgumentParser) -> None:
    """``--schemas-dir DIR`` (repeatable): Avro schemas beyond ``schemas/``; a mock registry needs the same set."""
    parser.add_argument(
        "--schemas-dir",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="another directory of .avsc files, after schemas/ (repeatable)",
    )
