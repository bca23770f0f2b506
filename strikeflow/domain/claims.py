"""What of an entry its closes have claimed: a close claims what it closes before it is sent.

An entry holds what it filled (``position_book.held_quantity``). Each close of it claims:

- a close execution: what it filled, plus, while its order is open at the venue, what it
  may still fill (quantity − filled);
- a close decided but not yet recorded as an execution (its recommendation pending or
  dispatched, its sized order closing the entry, no execution row yet): the quantity it
  decided. Once its execution row exists, that row counts instead, never both.

A new close is admitted when what is claimed plus what it asks for is at most what the
entry holds: two closes racing for one entry cannot both take its whole remainder.

Pure: the rows come in as plain values (``db.repositories`` reads them under a lock, the
dispatch and closing steps read them without one to size from what is unclaimed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from strikeflow.domain.orders import OPEN_STATUSES
from strikeflow.domain.position_book import held_quantity, quantity_text

ZERO = Decimal(0)
_OPEN = frozenset(s.value for s in OPEN_STATUSES)


@dataclass(frozen=True, slots=True)
class CloseOrder:
    """A close execution of the entry, as the row says: its status, quantity and fills."""

    recommendation_id: str
    status: str
    quantity: Decimal
    filled_qty: Decimal | None


@dataclass(frozen=True, slots=True)
class DecidedClose:
    """A close decided on a recommendation still in flight, without an execution row."""

    recommendation_id: str
    qty: Decimal


@dataclass(frozen=True, slots=True)
class CloseClaims:
    """An entry's holding and what its closes claim of it (``filled`` by closes,
    ``open_orders`` still fillable by open close orders, ``decided`` by closes not yet
    sent), and who claims it."""

    execution_id: int
    holds: Decimal
    filled: Decimal = ZERO
    open_orders: Decimal = ZERO
    decided: Decimal = ZERO
    claimants: tuple[str, ...] = ()

    @property
    def claimed(self) -> Decimal:
        return self.filled + self.open_orders + self.decided

    @property
    def unclaimed(self) -> Decimal:
        """What a new close may still take (never below zero)."""
        return max(self.holds - self.claimed, ZERO)

    def refusal(self, qty: Decimal) -> ClaimRefused | None:
        """Why a close of ``qty`` may not be admitted (None: it may)."""
        if self.claimed + qty <= self.holds:
            return None
        return ClaimRefused(self.execution_id, self.holds, self.claimed, qty)


@dataclass(frozen=True, slots=True)
class ClaimRefused:
    """A close that asks for more than is left unclaimed of its entry. Falsy, as a
    decision not kept is (``DispatchStore.record_decision``)."""

    execution_id: int
    holds: Decimal
    claimed: Decimal
    asked: Decimal

    def __bool__(self) -> bool:
        return False

    def describe(self) -> str:
        """``execution 12: 40 of 100 already being closed; this close asks 100``."""
        return (
            f"execution {self.execution_id}: {quantity_text(self.claimed)} of"
            f" {quantity_text(self.holds)} already being closed;"
            f" this close asks {quantity_text(self.asked)}"
        )


def close_claims(
    execution_id: int,
    entry_status: str,
    entry_quantity: Decimal,
    entry_filled_qty: Decimal | None,
    closes: Iterable[CloseOrder],
    decided: Iterable[DecidedClose],
) -> CloseClaims:
    """The entry's holding and its claims. The caller leaves out the close asking (its own
    execution and its own decision): a redelivery re-deciding the same close is admitted."""
    filled = open_orders = decided_qty = ZERO
    claimants: list[str] = []
    for close in closes:
        got = held_quantity(close.status, close.quantity, close.filled_qty)
        filled += got
        if close.status in _OPEN:
            open_orders += max(close.quantity - got, ZERO)
            claimants.append(close.recommendation_id)
    for decision in decided:
        decided_qty += max(decision.qty, ZERO)
        claimants.append(decision.recommendation_id)
    return CloseClaims(
        execution_id=execution_id,
        holds=held_quantity(entry_status, entry_quantity, entry_filled_qty),
        filled=filled,
        open_orders=open_orders,
        decided=decided_qty,
        claimants=tuple(claimants),
    )
