"""Argument types the commands share: argparse calls them, and a bad value is a usage
error (exit 2) that names it, before anything is read or written."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path


def aware_instant(text: str) -> datetime:
    """An ISO 8601 instant with its UTC offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset, e.g. {text}-05:00")
    return moment


def database_url(text: str) -> str:
    """``--db``: a SQLAlchemy URL, or the path of an existing SQLite file (the demo's
    ``strikeflow-demo.db``); a path that names no file is refused, not created."""
    if "://" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no database file at {text!r} (or give a URL)")
    return f"sqlite:///{path.resolve()}"
