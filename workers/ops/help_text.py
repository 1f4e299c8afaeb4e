"""Help texts for a terminal: the variables a settings model reads, and docstrings without their markup.

`variables` lists what a `workers.settings.Settings` model reads from the environment, generated from the model
itself: each variable's name (its alias, or the model's ``env_prefix`` plus the field name), its default and a
one-line description, the first sentence of the field's docstring (the attribute docstring under it, the way every
settings model documents its fields). `plain` drops the reStructuredText inline markup docstrings use (double
backticks, single backticks, ``:role:`` prefixes), and `plain_parser` applies it to every description, epilog and
option help of a parser and its subcommands, so ``--help`` never shows it.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import re
import shutil
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, Final

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from workers.settings import Settings

__all__ = ["Variable", "field_docstrings", "plain", "plain_parser", "subparsers", "variable_lines", "variables"]

_ROLE: Final = re.compile(r":[A-Za-z][\w.+-]*:`([^`]*)`")
_DOUBLE: Final = re.compile(r"``(.+?)``", re.DOTALL)
_SINGLE: Final = re.compile(r"`([^`\n]+)`")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_INDENT: Final = " " * 6


def plain(text: str) -> str:
    """`text` without reStructuredText inline markup: ``:class:`X```, double and single backticks keep their text."""
    return _SINGLE.sub(r"\1", _DOUBLE.sub(r"\1", _ROLE.sub(r"\1", text)))


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`parser` and every subcommand's parser under it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in dict.fromkeys(action.choices.values()):  # aliases share a parser
                yield from subparsers(choice)


def plain_parser(parser: argparse.ArgumentParser) -> None:
    """Every description, epilog and help text of `parser` and its subcommands, `plain`."""
    for each in subparsers(parser):
        if each.description:
            each.description = plain(each.description)
        if each.epilog:
            each.epilog = plain(each.epilog)
        for action in each._actions:
            if action.help and action.help is not argparse.SUPPRESS:
                action.help = plain(action.help)
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.help:
                        choice.help = plain(choice.help)


@dataclass(frozen=True)
class Variable:
    """One environment variable a settings model reads."""

    name: str
    default: str
    """``required``, ``unset`` (None), or the default as the variable would spell it."""
    description: str
    """The first sentence of the field's docstring, `plain`; empty for a field without one."""


@cache
def field_docstrings(model: type[Settings]) -> dict[str, str]:
    """Each field of `model` (and of the models it extends) -> the docstring written under it."""
    found: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Settings)):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # no source shipped: the names and defaults still show
            continue
        definition = ast.parse(source).body[0]
        if not isinstance(definition, ast.ClassDef):
            continue
        body = definition.body
        for statement, following in itertools.pairwise(body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def _spelled(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return f"{getattr(field.default_factory, '__name__', 'computed')}()"
    if field.default is PydanticUndefined:
        return "required"
    return _spelled(field.default)


def _first_sentence(docstring: str) -> str:
    text = " ".join(plain(docstring).split())
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def variables(model: type[Settings]) -> list[Variable]:
    """What `model` reads from the environment, in its fields' order."""
    prefix = str(model.model_config.get("env_prefix") or "")
    docs = field_docstrings(model)
    return [
        Variable(
            name=field.alias or f"{prefix}{name.upper()}",
            default=_default(field),
            description=_first_sentence(docs.get(name, "")),
        )
        for name, field in model.model_fields.items()
    ]


def variable_lines(listed: Iterable[Variable], *, width: int | None = None) -> list[str]:
    """`listed` as a help section's lines: each name with its default, then its description indented, wrapped."""
    width = width or max(shutil.get_terminal_size().columns - 2, 60)
    lines: list[str] = []
    for variable in listed:
        default = "required" if variable.default == "required" else f"default: {variable.default}"
        lines.append(f"  {variable.name} ({default})")
        lines.extend(
            textwrap.wrap(
                variable.description, width, initial_indent=_INDENT, subsequent_indent=_INDENT, break_on_hyphens=False
            )
        )
    return lines
