"""The position book: what is still held, from the executions alone, and how it differs
from what the venue says it holds.

An entry (an OPEN execution) holds what it filled; each close linked to it
(``closes_execution_id``) takes back what the close filled. What remains is the entry's
open quantity, and its cost is the entry's fill price x the contract multiplier x that
quantity. Per symbol (the OCC symbol of an option, the ticker of a stock) the open lots
add up to one position, which is what the venue reports for the same symbol
(``GET /v2/positions``). Quantities are signed: a short stock entry (a SELL to open)
holds a negative quantity, as the venue's position does.

Pure: the rows come in as plain values (``db.position_queries`` reads them), the
differences go out as values (``services.position_check`` records them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from strikeflow.domain.enums import Action, InstrumentType
from strikeflow.domain.sizing import shares_per_unit

ZERO = Decimal(0)


def held_quantity(status: str, quantity: Decimal, filled_qty: Decimal | None) -> Decimal:
    """What an execution holds: its fills; a ``filled`` row that never recorded them, its
    whole quantity (the views' HELD, migration 0005)."""
    if filled_qty is not None:
        return filled_qty
    return quantity if status == "filled" else ZERO


@dataclass(frozen=True, slots=True)
class BookEntry:
    """An entry execution as the book reads it: ``filled_qty`` is what it holds (>= 0,
    see ``held_quantity``), ``fill_price`` per unit (an option's premium per share)."""

    execution_id: int
    recommendation_id: str
    symbol: str
    underlying: str
    instrument: InstrumentType
    action: Action
    filled_qty: Decimal
    fill_price: Decimal | None
    venue_held: bool = True  # False: a simulated fill (the fallback), never at the venue
    expiration: date | None = None
    strategy: str | None = None
    filled_at: datetime | None = None
    contract_multiplier: int | None = None  # an adjusted contract's; None: standard

    @property
    def multiplier(self) -> int:
        return shares_per_unit(self.instrument, self.contract_multiplier)

    @property
    def sign(self) -> int:
        return -1 if self.action is Action.SELL else 1


@dataclass(frozen=True, slots=True)
class CloseFill:
    """A closing execution: what it filled of the entry ``closes_execution_id``."""

    closes_execution_id: int
    filled_qty: Decimal


@dataclass(frozen=True, slots=True)
class OpenLot:
    """One entry with something still open. ``open_qty`` is signed; ``cost`` is
    ``fill_price x multiplier x open_qty`` (None without a fill price)."""

    entry: BookEntry
    closed_qty: Decimal
    open_qty: Decimal

    @property
    def cost(self) -> Decimal | None:
        if self.entry.fill_price is None:
            return None
        return self.entry.fill_price * self.entry.multiplier * self.open_qty


@dataclass(frozen=True, slots=True)
class SymbolPosition:
    """Every open lot of one symbol, added up. ``avg_price`` is the cost per unit (None
    when a lot has no fill price); ``venue_qty`` counts only the lots held at the venue."""

    symbol: str
    underlying: str
    instrument: InstrumentType
    open_qty: Decimal
    venue_qty: Decimal
    cost: Decimal | None
    lots: tuple[OpenLot, ...]

    @property
    def multiplier(self) -> int:
        """One symbol is one contract: its lots share the multiplier."""
        return self.lots[0].entry.multiplier if self.lots else shares_per_unit(self.instrument)

    @property
    def avg_price(self) -> Decimal | None:
        if self.cost is None or self.open_qty == 0:
            return None
        return self.cost / (self.open_qty * self.multiplier)

    def unrealized(self, mark: Decimal | None) -> Decimal | None:
        """(mark x multiplier x open quantity) - cost: what closing at ``mark`` would
        realize (None without a mark or a cost)."""
        if mark is None or self.cost is None:
            return None
        return mark * self.multiplier * self.open_qty - self.cost


def open_lots(
    entries: Iterable[BookEntry], closes: Iterable[CloseFill], as_of: date | None = None
) -> list[OpenLot]:
    """The entries with something left after their closes, in the order given.

    ``as_of``: an option that expired before that day is no longer listed (the venue
    expired, exercised or liquidated it; its closing record is the venue events' to
    write). A close that filled more than its entry (a record out of step) leaves
    nothing open rather than a negative lot."""
    closed: dict[int, Decimal] = {}
    for close in closes:
        closed[close.closes_execution_id] = closed.get(close.closes_execution_id, ZERO) + (
            close.filled_qty
        )
    lots = []
    for entry in entries:
        if as_of is not None and entry.expiration is not None and entry.expiration < as_of:
            continue
        taken = closed.get(entry.execution_id, ZERO)
        remaining = entry.filled_qty - taken
        if remaining > 0:
            lots.append(OpenLot(entry, taken, entry.sign * remaining))
    return lots


def by_symbol(lots: Iterable[OpenLot]) -> list[SymbolPosition]:
    """The lots added up per symbol, sorted by symbol."""
    grouped: dict[str, list[OpenLot]] = {}
    for lot in lots:
        grouped.setdefault(lot.entry.symbol, []).append(lot)
    positions = []
    for symbol in sorted(grouped):
        group = grouped[symbol]
        costs = [lot.cost for lot in group]
        first = group[0].entry
        positions.append(
            SymbolPosition(
                symbol=symbol,
                underlying=first.underlying,
                instrument=first.instrument,
                open_qty=sum((lot.open_qty for lot in group), ZERO),
                venue_qty=sum((lot.open_qty for lot in group if lot.entry.venue_held), ZERO),
                cost=None if None in costs else sum(costs, ZERO),  # type: ignore[arg-type]
                lots=tuple(group),
            )
        )
    return positions


class DifferenceKind(StrEnum):
    VENUE_ONLY = "venue_only"  # the venue holds it, we hold nothing (a delivery, a transfer)
    OURS_ONLY = "ours_only"  # we hold it, the venue nothing (a liquidation, an expiry)
    QUANTITY = "quantity"  # both hold it, in different quantities


@dataclass(frozen=True, slots=True)
class PositionDifference:
    """One symbol whose quantity in the book is not the venue's (signed, in shares or
    contracts)."""

    symbol: str
    ours: Decimal
    venue: Decimal

    @property
    def kind(self) -> DifferenceKind:
        if self.ours == 0:
            return DifferenceKind.VENUE_ONLY
        if self.venue == 0:
            return DifferenceKind.OURS_ONLY
        return DifferenceKind.QUANTITY

    @property
    def reason(self) -> str:
        return {
            DifferenceKind.VENUE_ONLY: "the venue holds what we do not",
            DifferenceKind.OURS_ONLY: "the venue holds none of it",
            DifferenceKind.QUANTITY: "the quantities differ",
        }[self.kind]

    def describe(self) -> str:
        """``AAPL: ours 0, the venue's 100 (the venue holds what we do not)``."""
        ours, venue = quantity_text(self.ours), quantity_text(self.venue)
        return f"{self.symbol}: ours {ours}, the venue's {venue} ({self.reason})"


def differences(
    ours: Mapping[str, Decimal], venue: Mapping[str, Decimal]
) -> list[PositionDifference]:
    """Every symbol whose quantity differs between ``ours`` and ``venue`` (a symbol
    missing from one side holds 0 there), sorted by symbol."""
    found = []
    for symbol in sorted(set(ours) | set(venue)):
        mine, theirs = ours.get(symbol, ZERO), venue.get(symbol, ZERO)
        if mine != theirs:
            found.append(PositionDifference(symbol, mine, theirs))
    return found


def quantity_text(value: Decimal) -> str:
    """``5`` rather than ``5.000000``; ``2.5`` kept; ``0`` for any zero."""
    return "0" if value == 0 else f"{value.normalize():f}"
