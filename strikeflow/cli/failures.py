"""How a command that failed ends: one line on stderr and an exit code, chosen by the
error's type (never by matching its text), and never a traceback unless asked for.

Exit codes (``strikeflow --help`` and docs/cli.md show the same table):

- 0: done.
- 1: the command failed: a rejected or failed outcome, a database or venue that did not
  answer, a setup that is not ready (a database URL strikeflow cannot use, a database not
  created or not migrated, Alpaca keys not set), or an unexpected error.
- 2: a usage error (argparse's, or a value a command refused) or a STRIKEFLOW_* setting
  that does not validate: nothing was stored or sent.
- 3: ``signal --wait`` ran out of time; ``recover``: the venue did not answer for some,
  run it again.
- 130: interrupted (Ctrl-C).

An unexpected error prints its type and first line, and the hint that
``STRIKEFLOW_DEBUG=1`` prints the traceback above that line.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import traceback

from strikeflow.domain.errors import (
    DatabaseMissing,
    DomainError,
    MissingCredentials,
    SchemaMissing,
    SetupError,
    StoreUnavailable,
    UnsupportedDatabase,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_RUN_AGAIN = 3
EXIT_INTERRUPTED = 130
EXIT_CODES = (
    (EXIT_OK, "done"),
    (
        EXIT_FAILED,
        "failed: a rejected or failed outcome, a database or venue that did not"
        " answer, a setup not ready (database URL, schema, Alpaca keys), an unexpected error",
    ),
    (EXIT_USAGE, "usage error, or a STRIKEFLOW_* setting that does not validate"),
    (
        EXIT_RUN_AGAIN,
        "signal --wait timed out; recover: the venue did not answer for some, run it again",
    ),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
)
DEBUG_VARIABLE = "STRIKEFLOW_DEBUG"
MAX_LINE = 400
UPGRADE = "run `strikeflow db upgrade`"
DATABASE_VARIABLE = "STRIKEFLOW_DATABASE_URL"


def interrupted(args: argparse.Namespace | None) -> int:
    _say(args, "interrupted")
    return EXIT_INTERRUPTED


def failed(error: Exception, args: argparse.Namespace | None) -> int:
    """Say ``error`` in one line on stderr; the exit code for its type."""
    if _debugging():
        traceback.print_exception(error, file=sys.stderr)
    line, code = describe(error, args)
    _say(args if code != EXIT_USAGE else None, line)
    return code


def describe(error: Exception, args: argparse.Namespace | None = None) -> tuple[str, int]:
    """The line (without the ``strikeflow <command>:`` lead) and the exit code."""
    from pydantic import ValidationError

    from strikeflow.cli.setting_errors import settings_problem
    from strikeflow.config import Settings

    if isinstance(error, ValidationError):
        problem = settings_problem(error, Settings)
        if problem is not None:
            return problem, EXIT_USAGE
    if isinstance(error, SetupError):
        return _setup(error, args), EXIT_FAILED
    if isinstance(error, (DomainError, StoreUnavailable, *_operational())):
        return f"{type(error).__name__}: {first_line(error)}", EXIT_FAILED
    hint = f"(set {DEBUG_VARIABLE}=1 to see the traceback)"
    return f"unexpected {type(error).__name__}: {first_line(error)} {hint}", EXIT_FAILED


def _setup(error: SetupError, args: argparse.Namespace | None) -> str:
    """A setup error said with its fix, naming where the URL came from."""
    given = getattr(args, "db", None)
    source = "--db" if given else DATABASE_VARIABLE
    if isinstance(error, UnsupportedDatabase):
        return f"{source}: {error}"
    if isinstance(error, DatabaseMissing):
        if not given and _database_defaulted():
            return (
                f"{DATABASE_VARIABLE} is not set and the default {error.url} does not exist"
                f" here: set {DATABASE_VARIABLE} to your database, or {UPGRADE} to create"
                " that file"
            )
        return f"{error}: check {source}, or {UPGRADE} to create it"
    if isinstance(error, SchemaMissing):
        default = not given and _database_defaulted()
        note = f" ({DATABASE_VARIABLE} is not set: this is its default)" if default else ""
        return f"{error}: {UPGRADE} to migrate it{note}"
    if isinstance(error, MissingCredentials):
        return f"{error} (for the emulator: the keys it was started with)"
    return str(error)


def _database_defaulted() -> bool:
    from strikeflow.config import Settings

    try:
        return "database_url" not in Settings().model_fields_set
    except Exception:  # a setting that does not validate is reported on its own
        return False


def _operational() -> tuple[type[BaseException], ...]:
    """What a database, Redis or the broker raises when it is down or refuses: a failure
    to report, not a bug (OSError covers refused and reset connections)."""
    import kombu.exceptions
    from sqlalchemy.exc import SQLAlchemyError

    from strikeflow import bootstrap

    return (
        SQLAlchemyError,
        *bootstrap.state_store_errors(),
        kombu.exceptions.KombuError,
        OSError,
    )


def first_line(error: BaseException) -> str:
    """The first line of the message (a DBAPI error's own, not SQLAlchemy's wrapping)."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else type(cause).__name__
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + "…"


def _debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def _say(args: argparse.Namespace | None, line: str) -> None:
    command = getattr(args, "command", None)
    lead = f"strikeflow {command}" if command else "strikeflow"
    print(f"{lead}: {line}", file=sys.stderr)


def output_closed() -> int:
    """stdout's reader went away (``strikeflow executions | head``): nothing to say to
    it, and Python's own complaint at exit is silenced by pointing stdout at devnull."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a descriptor (captured)
        pass
    return EXIT_FAILED


def exit_code_lines(width: int = 78) -> str:
    """The exit-code table as ``--help`` shows it, wrapped to ``width``."""
    lines = []
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(
            meaning, width, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7
        )
    return "\n".join(lines)
