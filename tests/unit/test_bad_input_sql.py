"""Every SQL statement strikeflow runs is built by SQLAlchemy with bound parameters.

An AST walk refuses SQL text assembled from an f-string, ``%`` or ``.format`` and handed
to ``text()``, ``execute()`` or ``exec_driver_sql()``. The exceptions are named, each
with why its text cannot carry input.
"""

from __future__ import annotations

import ast
from pathlib import Path

import strikeflow

ROOT = Path(strikeflow.__file__).parent
SQL_CALLS = {"text", "execute", "exec_driver_sql"}
# Built from module constants, never from input: DDL (which takes no parameters) in the
# migrations.
ALLOWED = {
    "db/migrations/versions/0002_options_support.py",
    "db/migrations/versions/0005_venue_final_word.py",
    "db/migrations/versions/0006_closing_chain.py",
    "db/migrations/versions/0012_worked_orders.py",
}


def built_sql(tree: ast.AST) -> list[int]:
    """Lines where a SQL call gets a string assembled at run time."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        first = node.args[0]
        assembled = (
            isinstance(first, ast.JoinedStr)
            or (isinstance(first, ast.BinOp) and isinstance(first.op, ast.Mod | ast.Add))
            or (isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "format")
        )
        if name in SQL_CALLS and assembled:
            lines.append(node.lineno)
    return lines


def test_no_sql_is_assembled_from_strings():
    found = {
        str(path.relative_to(ROOT)): built_sql(ast.parse(path.read_text(encoding="utf-8")))
        for path in ROOT.rglob("*.py")
    }
    offenders = {p: lines for p, lines in found.items() if lines and p not in ALLOWED}
    assert offenders == {}


def test_the_walk_finds_an_assembled_statement():
    sample = "conn.execute(text(f'SELECT * FROM t WHERE id = {x}'))\ncur.execute('x' % y)"
    assert sorted(built_sql(ast.parse(sample))) == [1, 2]
