"""What the commands share: argument types (argparse calls them, and a bad value is a
usage error, exit 2, that names it, before anything is read or written) and how a
database URL is shown (never its password)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path


def aware_instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset. Without one, the hint is the same instant
    written in full with an offset, which this function itself accepts."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if moment.tzinfo is None:
        new_york = moment.replace(tzinfo=timezone(timedelta(hours=-5))).isoformat()
        raise argparse.ArgumentTypeError(
            f"give a UTC offset, e.g. {moment.replace(tzinfo=UTC).isoformat()} or {new_york}"
        )
    return moment


def calendar_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def database_url(text: str) -> str:
    """``--db``: a SQLAlchemy URL, or the path of an existing SQLite file (the demo's
    ``strikeflow-demo.db``); a path that names no file is refused, not created."""
    if "://" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no database file at {text!r} (or give a URL)")
    return f"sqlite:///{path.resolve()}"


def shown_url(url: str) -> str:
    """A database URL as a message may show it: the password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "STRIKEFLOW_DATABASE_URL"
