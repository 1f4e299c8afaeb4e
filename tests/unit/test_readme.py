"""The README and docs/ tell the truth: the first command, every setting, every assumption, every link."""

from __future__ import annotations

import re
from pathlib import Path

from workers.cesce.assumptions import ASSUMPTIONS
from workers.cesce.config import CesceSettings
from workers.credit_requests.spec import CreditRequestsTopics
from workers.invoices.spec import InvoicesTopics
from workers.non_payments.spec import NonPaymentsTopics
from workers.ops.settings import DlqSettings, LoggingSettings
from workers.risk.spec import RiskTopics
from workers.runtime.settings import RuntimeSettings
from workers.sales_followup.spec import SalesFollowupTopics

ROOT = Path(__file__).parents[2]
README_PATH = ROOT / "README.md"
DOCS = ROOT / "docs"
README = README_PATH.read_text(encoding="utf-8")
CONFIGURATION = (DOCS / "configuration.md").read_text(encoding="utf-8")
ASSUMPTIONS_PAGE = (DOCS / "assumptions.md").read_text(encoding="utf-8")

# An inline link or image: [text](target) or [text](target "title"); the text may span lines.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")


def assumptions_block() -> str:
    return "\n".join(f"- **{a.key}**: {a.text}" for a in ASSUMPTIONS)


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def unfenced(text: str) -> str:
    """The text without its fenced code blocks."""
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.DOTALL | re.MULTILINE)


def prose(text: str) -> str:
    """The text without code blocks and code spans, where brackets are not links."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", unfenced(text), flags=re.DOTALL)


def relative_links(path: Path) -> list[str]:
    targets = (m.group(1) for m in LINK.finditer(prose(path.read_text(encoding="utf-8"))))
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t, flags=re.IGNORECASE)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "-_ ").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in unfenced(path.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r" {0,3}#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_first_command_installs_and_runs_the_demo() -> None:
    commands = re.findall(r"```bash\n(.+?)\n```", README, flags=re.DOTALL)
    assert commands[0].endswith("cesce-worker demo")
    assert "pip install" in commands[0]
    assert commands[1] == ".venv/bin/python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def test_every_client_setting_is_documented() -> None:
    for name in CesceSettings.model_fields:
        assert f"`CESCE_{name.upper()}`" in CONFIGURATION, name


def test_every_assumption_is_listed() -> None:
    block = assumptions_block()
    assert block in ASSUMPTIONS_PAGE, "docs/assumptions.md is stale; its list should read:\n" + block


def test_every_runtime_and_worker_variable_is_documented() -> None:
    models = (RuntimeSettings, InvoicesTopics, CreditRequestsTopics, NonPaymentsTopics, RiskTopics, SalesFollowupTopics)
    for model in (*models, LoggingSettings, DlqSettings):
        for field in model.model_fields.values():
            assert f"`{field.alias}`" in CONFIGURATION, field.alias


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / t.split("#")[0]).resolve() for t in relative_links(README_PATH) if not t.startswith("#")}
    unlinked = [str(p.relative_to(ROOT)) for p in pages() if p.resolve() not in linked]
    assert pages(), "docs/ has no pages"
    assert not unlinked, f"docs pages the README does not link to: {unlinked}"


def test_every_relative_link_points_to_a_file_and_a_heading() -> None:
    broken = []
    for source in [README_PATH, *pages()]:
        for target in relative_links(source):
            file_part, _, anchor = target.partition("#")
            path = (source.parent / file_part).resolve() if file_part else source
            where = f"{source.relative_to(ROOT)}: ({target})"
            if not path.exists():
                broken.append(f"{where}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{where}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)
