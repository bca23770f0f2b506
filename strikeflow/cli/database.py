"""``strikeflow db upgrade | downgrade | current``: the packaged migrations against the
database at STRIKEFLOW_DATABASE_URL. ``upgrade`` is the one command that may create a
SQLite file; ``current`` of a file that does not exist says "no revision" and leaves none."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from strikeflow.cli.arguments import shown_url

if TYPE_CHECKING:
    from strikeflow.services.query_ports import DatabaseSchema


def add_db_commands(commands: argparse._SubParsersAction) -> None:
    db = commands.add_parser(
        "db",
        help="migrate the database at STRIKEFLOW_DATABASE_URL (default sqlite:///./strikeflow.db)",
    )
    actions = db.add_subparsers(required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="migrate up to a revision (default: head)")
    upgrade.add_argument("revision", nargs="?", default="head", help="e.g. 0001 (default head)")
    upgrade.set_defaults(run=run_db, act=_db_upgrade)
    downgrade = actions.add_parser("downgrade", help="migrate down to a revision")
    downgrade.add_argument("revision", help="e.g. 0001, or base for an empty schema")
    downgrade.set_defaults(run=run_db, act=_db_downgrade)
    current = actions.add_parser("current", help="show the revision the database is at")
    current.set_defaults(run=run_db, act=_db_current)


def run_db(args: argparse.Namespace) -> int:
    """One ``db`` action against the configured database; a failure is one line on stderr."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from strikeflow import bootstrap
    from strikeflow.config import Settings

    url = Settings().database_url
    try:
        print(args.act(url, bootstrap.database_schema(url), args))
    except (SQLAlchemyError, CommandError) as failed:
        print(f"strikeflow db: {shown_url(url)}: {_first_line(failed)}", file=sys.stderr)
        return 1
    finally:
        bootstrap.close_databases()
    return 0


def _db_upgrade(url: str, schema: DatabaseSchema, args: argparse.Namespace) -> str:
    schema.upgrade(args.revision)
    return f"{shown_url(url)} upgraded to {_revision(schema)}"


def _db_downgrade(url: str, schema: DatabaseSchema, args: argparse.Namespace) -> str:
    schema.downgrade(args.revision)
    return f"{shown_url(url)} downgraded to {_revision(schema)}"


def _db_current(url: str, schema: DatabaseSchema, _args: argparse.Namespace) -> str:
    return f"{shown_url(url)} is at {_revision(schema)}"


def _revision(schema: DatabaseSchema) -> str:
    revision = schema.current()
    if revision is None:
        return "no revision (empty database)"
    return f"{revision} (head)" if revision == schema.head() else revision


def _first_line(error: Exception) -> str:
    from sqlalchemy.exc import DBAPIError

    cause = error.orig if isinstance(error, DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__
