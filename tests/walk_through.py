"""The operator's guide's walk-through ("Running the pipeline by hand", docs/operations.md) as commands.

Its four code blocks, in order: the broker and the sandbox (each in a terminal of its own), the settings every
other terminal exports, a worker per terminal, and the commands that feed the workers the examples and read
what became of them. `tests/unit/ops/test_examples.py` checks the files and the health ports;
`tests/integration/ops/test_walk_through.py` runs it as written.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

__all__ = ["OPERATIONS", "blocks", "commands", "words"]

OPERATIONS = Path(__file__).parents[1] / "docs" / "operations.md"


def blocks() -> list[str]:
    """The walk-through's bash blocks, as written."""
    text = OPERATIONS.read_text(encoding="utf-8")
    start = text.index("**Running the pipeline by hand.**")
    section = text[start : text.index("`run credit-requests` also runs", start)]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.DOTALL)


def commands(block: str) -> list[str]:
    """A block's commands as the shell reads them: continuations joined, comments and blank lines left out."""
    lines = (re.sub(r"(^|\s+)#\s.*$", "", line).strip() for line in block.replace("\\\n", " ").splitlines())
    return [line for line in lines if line]


def words(command: str) -> list[str]:
    """A command split as the shell splits it."""
    return shlex.split(command)
