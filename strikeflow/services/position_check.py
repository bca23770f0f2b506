"""The position book against the venue: what we hold, marked, and every difference.

The database tells the venue's story: what the book holds (entries' fills less their
closes', ``domain.position_book``) should be what the venue holds. It may not be, for
reasons the book cannot see by itself: shares delivered by an exercise, a position the
venue liquidated, an expiry not yet recorded, an order placed by hand. So every minute of
the session ``strikeflow.check_positions`` compares the two, records each difference
(symbol, ours, the venue's) and logs it at WARNING; ``strikeflow positions --check``
does the same on demand.

Only what the venue holds for us is compared: a fill the fallback simulated never
reached the venue, so it is in the book but not in the comparison.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from strikeflow.domain.orders import PositionSnapshot
from strikeflow.domain.position_book import (
    PositionDifference,
    SymbolPosition,
    by_symbol,
    differences,
    open_lots,
    quantity_text,
)
from strikeflow.domain.sizing import shares_per_unit
from strikeflow.services.ports import Broker, MarketData
from strikeflow.services.query_ports import PositionRecords

log = logging.getLogger(__name__)


def book(records: PositionRecords, as_of: date | None = None) -> list[SymbolPosition]:
    """The open positions per symbol (options that expired before ``as_of`` left out)."""
    entries, closes = records.book_rows()
    return by_symbol(open_lots(entries, closes, as_of))


def book_quantities(positions: Iterable[SymbolPosition]) -> dict[str, Decimal]:
    """What the venue should hold, per symbol: the lots it filled (not simulated ones)."""
    return {p.symbol: p.venue_qty for p in positions if p.venue_qty != 0}


def venue_quantities(held: Iterable[PositionSnapshot]) -> dict[str, Decimal]:
    """The venue's positions, per symbol (signed; a zero quantity holds nothing)."""
    quantities: dict[str, Decimal] = {}
    for snapshot in held:
        quantities[snapshot.symbol] = quantities.get(snapshot.symbol, Decimal(0)) + snapshot.qty
    return {symbol: qty for symbol, qty in quantities.items() if qty != 0}


def venue_marks(
    held: Iterable[PositionSnapshot], multipliers: Mapping[str, int] | None = None
) -> dict[str, Decimal]:
    """Each venue position's current price per unit: its market value over its quantity
    and multiplier (Alpaca's ``market_value`` is ``current_price x qty x multiplier``).
    ``multipliers``: the book's per symbol (an adjusted contract's own); a symbol not in
    it is standard. A position without a market value has no mark."""
    marks = {}
    for snapshot in held:
        if snapshot.market_value is None or snapshot.qty == 0:
            continue
        multiplier = (multipliers or {}).get(snapshot.symbol)
        units = snapshot.qty * shares_per_unit(snapshot.instrument, multiplier)
        marks[snapshot.symbol] = snapshot.market_value / units
    return marks


def compare(
    positions: Iterable[SymbolPosition], held: Iterable[PositionSnapshot]
) -> list[PositionDifference]:
    """Every symbol whose quantity in the book is not the venue's."""
    return differences(book_quantities(positions), venue_quantities(held))


@dataclass(frozen=True)
class PositionCheck:
    """One run of the check: when, what differed, and why nothing was compared (None:
    it was)."""

    checked_at: datetime
    differences: Sequence[PositionDifference] = field(default_factory=list)
    skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "skipped": self.skipped,
            "differences": [
                {
                    "symbol": d.symbol,
                    "ours": quantity_text(d.ours),
                    "venue": quantity_text(d.venue),
                    "kind": d.kind.value,
                }
                for d in self.differences
            ],
        }


def check_positions(
    records: PositionRecords,
    broker: Broker,
    market: MarketData,
    now: Callable[[], datetime],
    in_session_only: bool = True,
) -> PositionCheck:
    """Compare the book with the venue, record and log each difference.

    ``in_session_only``: outside the regular session (the venue's clock says closed)
    nothing is compared: positions settle after the close (deliveries by about 18:00
    ET), and the first check of the next session sees how they settled."""
    at = now()
    if in_session_only and not market.clock().is_open:
        return PositionCheck(at, skipped="market closed")
    found = compare(book(records), broker.positions())
    for difference in found:
        log.warning("position difference: %s", difference.describe())
    records.record_differences(found, at)
    return PositionCheck(at, found)
