"""A clone stands alone: no code, test, script, CI step or document of the repository
names a path outside it (a briefing folder beside the checkout, say), so nothing can
read one at run or test time. Relative links inside docs/ are checked by
test_docs_links.py; this looks at every text file for a path that climbs out."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("strikeflow", "tests", "benchmarks", "scripts", "docs", ".ci", "deploy")
TOP_FILES = (
    "Makefile", "README.md", "CHANGELOG.md", "pyproject.toml", "pytest.ini", "setup.cfg",
    "Dockerfile", "docker-compose.yml", ".env.example",
)  # fmt: skip
SUFFIXES = {".py", ".md", ".toml", ".ini", ".cfg", ".yml", ".yaml", ".sh", ".txt", ""}
# A folder beside the checkout: reached by one or more "../", or by the absolute path of
# the folder the checkout sits in. Built from parts, so that this file names none.
SIBLING = "shared"
OUTSIDE = re.compile(rf"(?:\.\./)+{SIBLING}\b|/work/{SIBLING}\b")


def tracked_text_files() -> list[Path]:
    files = [ROOT / name for name in TOP_FILES if (ROOT / name).is_file()]
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts:
                files.append(path)
    return files


def outside_paths(text: str) -> list[str]:
    return OUTSIDE.findall(text)


def test_the_pattern_finds_a_path_out_of_the_checkout():
    # Built from parts, so that this file names no such path itself.
    up, sibling = "..", SIBLING
    one, two = f"{up}/{sibling}", f"{up}/{up}/{sibling}"
    assert outside_paths(f'open("{one}/docs/brief.md")') == [one]
    assert outside_paths(f"see {two}") == [two]
    assert outside_paths(f"/work/{sibling}/docs") == [f"/work/{sibling}"]
    assert outside_paths("a shared cache, shared/ keys") == []


def test_no_file_names_a_path_outside_the_checkout():
    files = tracked_text_files()
    assert len(files) > 300  # the walk found the repository, not an empty folder
    found = [
        f"{path.relative_to(ROOT)}: {hit}"
        for path in files
        for hit in outside_paths(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert found == []
