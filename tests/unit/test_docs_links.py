"""Every relative link in README.md, CHANGELOG.md and docs/*.md names a file of the
repository, and every #anchor a heading of the page it points at, so a reader of a
clone never follows a link into nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
EXTERNAL = ("http://", "https://", "mailto:")


def prose(page: Path) -> str:
    """The page without its fenced code blocks (their brackets are code, not links)."""
    return FENCE.sub("", page.read_text())


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page)) if not t.startswith(EXTERNAL)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(page)):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def problem(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, leads nowhere; None when it resolves."""
    path, _, anchor = target.partition("#")
    if path.startswith("/"):
        return "an absolute path: a clone elsewhere would not have it"
    dest = (page.parent / path).resolve() if path else page
    if not dest.is_relative_to(ROOT):
        return "outside the repository"
    if not dest.exists():
        return "no such file"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"no heading #{anchor} in {dest.relative_to(ROOT)}"
    return None


def all_links() -> list[tuple[Path, str]]:
    return [(page, target) for page in PAGES if page.exists() for target in links(page)]


def test_the_pages_exist_and_link():
    """The check below would pass vacuously without pages or links."""
    assert (ROOT / "README.md").exists()
    assert (ROOT / "docs").is_dir()
    assert len(all_links()) >= 10


@pytest.mark.parametrize(
    ("page", "target"), all_links(), ids=lambda v: v.name if isinstance(v, Path) else v
)
def test_the_link_resolves(page: Path, target: str):
    assert problem(page, target) is None, (
        f"{page.relative_to(ROOT)}: {target}: {problem(page, target)}"
    )


def test_every_doc_is_listed_in_the_readme():
    listed = {target.partition("#")[0] for target in links(ROOT / "README.md")}
    missing = [
        f"docs/{doc.name}"
        for doc in sorted((ROOT / "docs").glob("*.md"))
        if f"docs/{doc.name}" not in listed
    ]
    assert not missing, f"not in the README's list: {missing}"


def test_the_checker_finds_broken_links():
    page = ROOT / "docs" / "operations.md"
    assert problem(page, "configuration.md") is None
    assert problem(page, "#reliability") is None
    assert problem(page, "no-such-page.md") == "no such file"
    assert problem(page, "architecture.md#no-such-heading").startswith("no heading")
    assert problem(page, "/work/elsewhere.md").startswith("an absolute path")
    assert problem(page, "../../outside.md") == "outside the repository"


def test_slugs_follow_githubs_rule():
    assert slug("`STRIKEFLOW_DATABASE_URL`") == "strikeflow_database_url"
    assert slug("Pre-trade risk checks (`risk.py`)") == "pre-trade-risk-checks-riskpy"
    assert slug("Threat model: secrets and bad input") == "threat-model-secrets-and-bad-input"
