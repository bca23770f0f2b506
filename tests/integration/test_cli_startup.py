"""``strikeflow`` starts quickly: building the parser, ``--help`` and a usage error load
argparse-level modules only. Each command imports the emulator, the database, Celery,
alpaca-py and the numerics when it runs, so a module that imports one of them at its top
again fails here. Each check runs in a fresh interpreter, the only place ``sys.modules``
says what an import costs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# What a command loads when it runs, never while the parser is built.
HEAVY = (
    "alembic",
    "alpaca",
    "celery",
    "fastapi",
    "kombu",
    "numpy",
    "pandas",
    "pydantic",
    "redis",
    "requests",
    "rich",
    "scipy",
    "sqlalchemy",
    "uvicorn",
    "strikeflow.bootstrap",
    "strikeflow.broker_adapters",
    "strikeflow.config",
    "strikeflow.db",
    "strikeflow.devfleet",
    "strikeflow.domain.expiry",
    "strikeflow.domain.pricing",
    "strikeflow.sim",
    "strikeflow.tasks",
    "strikeflow.workers",
)

PARSER_ONLY = "import strikeflow.cli as c; c._parser()"
# Every command's --help (the list read from the parser, so a new command is covered),
# then a usage error: argparse exits 2 for both, before any command runs.
EVERY_HELP = """
import contextlib, io, strikeflow.cli as c
parser = c._parser()
commands = next(a for a in parser._actions if a.dest == "command").choices
for argv in [["--help"], *[[name, "--help"] for name in commands], ["executions", "--limit", "0"]]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            c.main(argv)
        except SystemExit:
            pass
"""
REPORT = "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"


def loaded_after(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + REPORT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def heavy_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize("code", [PARSER_ONLY, EVERY_HELP], ids=["parser", "every-help"])
def test_building_the_parser_loads_no_heavy_module(code):
    modules = loaded_after(code)
    assert "strikeflow.cli.dispatch" in modules  # the parser was built
    assert heavy_in(modules) == []


def test_the_check_sees_a_heavy_import():
    """The same check, given a command that does load the demo's machinery, names it:
    the test above would fail if a command module imported it at its top."""
    demo_day = "import strikeflow.cli.demo_run as d; d.bootstrap.build_records('sqlite://')"
    modules = loaded_after(f"{PARSER_ONLY}; {demo_day}")
    assert {"celery", "sqlalchemy", "strikeflow.sim"} <= set(heavy_in(modules))


def test_the_worker_import_path_still_loads():
    """What a Celery worker imports (the app and its tasks) loads on its own."""
    modules = loaded_after("import strikeflow.workers.app, strikeflow.tasks")
    assert "strikeflow.tasks" in modules
