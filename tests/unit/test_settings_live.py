"""Every setting is read: a STRIKEFLOW_ variable that nothing reads would be documented
(docs/configuration.md) and accepted, and change nothing.

A field counts as read when code under strikeflow/, outside the module that declares the
settings and the one that documents them, reads an attribute of that name (on anything:
the walk is of names, not types), or when READ_ELSEWHERE says where it is read by
another name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from strikeflow.config import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "strikeflow"
DECLARING = {PACKAGE / "config.py", PACKAGE / "config_doc.py"}
# field -> where it is read by another name (a process that takes it from its
# environment, say). Empty while every field is read as an attribute.
READ_ELSEWHERE: dict[str, str] = {}


def attributes_read(root: Path = PACKAGE) -> set[str]:
    """The name of every attribute read (``x.name`` in a Load context) under ``root``."""
    names = set()
    for path in sorted(root.rglob("*.py")):
        if path in DECLARING:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                names.add(node.attr)
    return names


def unread(fields: set[str], read: set[str]) -> list[str]:
    return sorted(f for f in fields if f not in read and f not in READ_ELSEWHERE)


def test_every_setting_is_read_somewhere():
    dead = unread(set(Settings.model_fields), attributes_read())
    assert not dead, (
        f"settings nothing reads: {dead}. Read each where it belongs, or remove it (and"
        " regenerate docs/configuration.md with `make docs`)."
    )


def test_the_documented_exceptions_are_settings():
    assert set(READ_ELSEWHERE) <= set(Settings.model_fields)


def test_the_check_sees_an_unread_setting(tmp_path):
    (tmp_path / "reader.py").write_text("def f(settings):\n    return settings.watchlist\n")
    (tmp_path / "writer.py").write_text("def g(settings):\n    settings.rules_file = None\n")
    read = attributes_read(tmp_path)
    assert read == {"watchlist"}  # an assignment is not a read
    assert unread({"watchlist", "rules_file"}, read) == ["rules_file"]
