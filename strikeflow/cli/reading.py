"""What the read-only commands (``executions``, ``positions``, ``report``, ``explain``)
share: one read against the database, a failure as one line naming it, and JSON output
at full precision for machines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from strikeflow.cli.formats import json_default

DB_HELP = "database URL or SQLite file (default: STRIKEFLOW_DATABASE_URL)"
T = TypeVar("T")


class ReadFailed(Exception):
    """The database could not be read; the message is the one line to show."""


def read_database(
    read: Callable[[Any], T],
    url: str | None = None,
    build: Callable[[str | None], Any] | None = None,
) -> T:
    """``read(records)`` on ``url`` (default: the configured database), its connections
    closed afterwards; a database error becomes ReadFailed with its first line.
    ``build`` makes what ``read`` is given from the URL (default: ``build_records``, the
    commands' ``Records``; ``positions`` reads ``position_records``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from strikeflow import bootstrap

    try:
        return read((build or bootstrap.build_records)(url))
    except SQLAlchemyError as failed:
        lines = str(failed).strip().splitlines()
        raise ReadFailed(f"database: {lines[0] if lines else type(failed).__name__}") from None
    finally:
        bootstrap.close_databases()


def print_json(data: Any) -> None:
    """``data`` as one JSON document: money as strings at full precision, ISO instants."""
    print(json.dumps(data, default=json_default))


def failed(command: str, error: ReadFailed) -> int:
    print(f"strikeflow {command}: {error}", file=sys.stderr)
    return 1
