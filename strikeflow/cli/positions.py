"""``strikeflow positions``: the position book, marked by the venue, and ``--check``.

The book is what the executions say is still held (entries' fills less their closes',
``domain.position_book``), per symbol, with its cost. The venue's positions
(``GET /v2/positions``) give each a mark (their current price) and so an unrealized P&L;
when the venue cannot be asked (no keys, no answer) the marks are "—" and a note says
why, and the book is shown all the same.

``--check`` compares the book with the venue (``services.position_check``) and exits 1
on any difference, naming each: there the venue must answer, and a venue that does not
is a failure (one line, exit 1) rather than a silent "no difference".

``--json`` has every field of the book, the differences, and the open option entries
with their Greeks and days to expiry (the ``active_options_positions`` view).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from strikeflow.cli.arguments import calendar_day, database_url
from strikeflow.cli.reading import DB_HELP, ReadFailed, failed, print_json, read_database

if TYPE_CHECKING:
    from strikeflow.domain.orders import PositionSnapshot
    from strikeflow.domain.position_book import PositionDifference, SymbolPosition

EXIT_DIFFERENT = 1
OPTIONS_VIEW = "active_options_positions"


def add_positions_command(commands: argparse._SubParsersAction) -> None:
    view = commands.add_parser(
        "positions", help="open positions: remaining quantity, cost, mark, unrealized P&L"
    )
    view.add_argument(
        "--as-of",
        type=calendar_day,
        default=None,
        help="the day positions are judged by, YYYY-MM-DD (default: today, UTC):"
        " options expired before it are not listed",
    )
    view.add_argument(
        "--check",
        action="store_true",
        help="compare with the venue's positions; exit 1 on any difference",
    )
    view.add_argument(
        "--wide", action="store_true", help="with each position's recommendations, one line each"
    )
    view.add_argument("--json", action="store_true", help="every field, as JSON")
    view.add_argument("--db", type=database_url, default=None, help=DB_HELP)
    view.set_defaults(run=run_positions, command="positions")


def run_positions(args: argparse.Namespace) -> int:
    from strikeflow import bootstrap
    from strikeflow.domain.position_book import by_symbol, open_lots
    from strikeflow.services.position_check import compare, venue_marks

    as_of = args.as_of or datetime.now(UTC).date()
    try:
        entries, closes = read_database(
            lambda records: records.book_rows(), args.db, bootstrap.position_records
        )
        options = _option_rows(args) if args.json else []
    except ReadFailed as error:
        return failed("positions", error)
    positions = by_symbol(open_lots(entries, closes, as_of))
    whole = by_symbol(open_lots(entries, closes))  # compared whole: expired or not
    held, note = _venue_positions(strict=args.check)
    multipliers = {position.symbol: position.multiplier for position in whole}
    marks = venue_marks(held, multipliers) if held is not None else {}
    found = compare(whole, held) if args.check and held is not None else None
    if args.json:
        print_json(_as_json(positions, marks, as_of, note, found) | {OPTIONS_VIEW: options})
    else:
        _show(positions, marks, note, found, args.wide)
    return EXIT_DIFFERENT if found else 0


def _option_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The open option entries with their contract, Greeks and days to expiry (the
    ``active_options_positions`` view), for ``--json``."""
    from strikeflow.services.queries import report_views

    views = read_database(
        lambda records: report_views(records, (OPTIONS_VIEW,), args.as_of), args.db
    )
    return views[OPTIONS_VIEW]


def _venue_positions(strict: bool) -> tuple[list[PositionSnapshot] | None, str | None]:
    """The venue's positions, or None and why not. ``strict`` (``--check``): a venue
    that cannot be asked is the command's failure, raised for the one-line report."""
    from strikeflow import bootstrap
    from strikeflow.domain.errors import BrokerError, SetupError

    try:
        return bootstrap.venue_broker().positions(), None
    except (BrokerError, SetupError) as unreachable:
        if strict:
            raise
        first = str(unreachable).strip().splitlines()
        return None, f"no marks from the venue: {first[0] if first else type(unreachable).__name__}"


def _show(
    positions: list[SymbolPosition],
    marks: dict[str, Any],
    note: str | None,
    found: list[PositionDifference] | None,
    wide: bool,
) -> None:
    from strikeflow.cli.tables import console_for, differences_table, position_table

    shown: list[Any] = [position_table(positions, marks, caption=note, wide=wide)]
    if found is not None:
        shown.append(differences_table(found) if found else "no differences from the venue")
    console = console_for(shown, wide)
    for item in shown:
        console.print(item)
    if note and not positions:
        print(note, file=sys.stderr)


def _as_json(
    positions: list[SymbolPosition],
    marks: dict[str, Any],
    as_of: date,
    note: str | None,
    found: list[PositionDifference] | None,
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "as_of": as_of,
        "venue": {"marked": note is None, "note": note},
        "positions": [_position_json(p, marks.get(p.symbol)) for p in positions],
    }
    if found is not None:
        document["differences"] = [
            {"symbol": d.symbol, "ours": d.ours, "venue": d.venue, "kind": d.kind.value}
            for d in found
        ]
    return document


def _position_json(p: SymbolPosition, mark: Any) -> dict[str, Any]:
    return {
        "symbol": p.symbol,
        "underlying": p.underlying,
        "instrument": p.instrument.value,
        "open_qty": p.open_qty,
        "venue_qty": p.venue_qty,
        "cost": p.cost,
        "avg_price": p.avg_price,
        "mark": mark,
        "unrealized_pnl": p.unrealized(mark),
        "lots": [
            {
                "execution_id": lot.entry.execution_id,
                "recommendation_id": lot.entry.recommendation_id,
                "filled_qty": lot.entry.filled_qty,
                "closed_qty": lot.closed_qty,
                "open_qty": lot.open_qty,
                "fill_price": lot.entry.fill_price,
                "cost": lot.cost,
                "expiration": lot.entry.expiration,
                "strategy": lot.entry.strategy,
                "filled_at": lot.entry.filled_at,
                "at_venue": lot.entry.venue_held,
            }
            for lot in p.lots
        ],
    }
