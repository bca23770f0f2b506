"""How much of an entry is still held, and what a close of it realized.

An entry holds what it filled (``filled_qty``; a ``filled`` row without one, its
quantity), less what the closes linked to it filled. A close is sized to that remainder
(or less, when asked for less), never to more, and never to more than the venue says
it holds: the database tells the venue's story, never a more hopeful one. What other
closes of the entry claim (``domain.claims``: filled, still open at the venue, or decided
and not yet sent) is not offered to a new close: it is sized from what is unclaimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, runtime_checkable

from strikeflow.domain.claims import CloseClaims, CloseOrder, close_claims
from strikeflow.domain.exit_position import realized_pnl
from strikeflow.domain.orders import OPEN_STATUSES
from strikeflow.domain.position_book import held_quantity
from strikeflow.domain.records import Execution
from strikeflow.domain.sizing import shares_per_unit
from strikeflow.services.closing_ports import EntryReads
from strikeflow.services.messages import ClosingOf

FOUR_PLACES = Decimal("0.0001")
CLOSES_KEY = "closes"  # where a close's explain keeps its ClosingOf


def held(execution: Execution) -> Decimal:
    """What an execution filled (``position_book.held_quantity``, the views' rule)."""
    quantity = execution.quantity if execution.quantity is not None else Decimal(0)
    return held_quantity(execution.status.value, quantity, execution.filled_qty)


def remaining(entry: Execution, closes: Iterable[Execution]) -> Decimal:
    """What is left of ``entry`` after what ``closes`` filled (never below zero)."""
    return max(held(entry) - sum((held(c) for c in closes), Decimal(0)), Decimal(0))


@runtime_checkable
class ClaimReads(Protocol):
    """A store that reads what the closes of an entry claim of it (``domain.claims``)."""

    def close_claims(self, entry_execution_id: int, excluding: str = "") -> CloseClaims | None:
        """What the closes of the entry claim of it, those of the recommendation
        ``excluding`` left out; None when there is no such execution."""
        ...


def claims_of(store: EntryReads, entry: Execution, excluding: str = "") -> CloseClaims:
    """What the closes of ``entry`` claim of it, read without a lock (what a close is sized
    from; its claim is admitted or refused when its decision is stored). A store that
    cannot read decisions counts the close executions alone."""
    assert entry.id is not None
    if isinstance(store, ClaimReads):
        found = store.close_claims(entry.id, excluding)
        if found is not None:
            return found
    orders = [
        CloseOrder(c.recommendation_id, c.status.value, c.quantity, c.filled_qty)
        for c in store.closes_of(entry.id)
        if c.recommendation_id != excluding
    ]
    quantity = entry.quantity if entry.quantity is not None else Decimal(0)
    return close_claims(entry.id, entry.status.value, quantity, entry.filled_qty, orders, ())


def in_flight(closes: Iterable[Execution]) -> list[Execution]:
    """The closes whose orders the venue may still fill."""
    return [c for c in closes if c.status in OPEN_STATUSES]


def multiplier_of(execution: Execution) -> int:
    """Shares a unit of ``execution`` stands for: 1 a share; an option contract its own
    multiplier as kept on the row (an adjusted contract), else the standard 100."""
    return shares_per_unit(execution.instrument_type, execution.multiplier)


def close_quantity(
    remaining_qty: Decimal,
    requested: Decimal | None,
    at_venue: Decimal,
    whole_units: bool,
) -> Decimal:
    """The quantity a close sends: what is asked for (None: everything), at most what is
    left of the entry and what the venue holds; whole contracts for options."""
    qty = remaining_qty if requested is None else min(requested, remaining_qty)
    qty = min(qty, max(at_venue, Decimal(0)))
    if whole_units:
        qty = qty.to_integral_value(rounding="ROUND_FLOOR")
    return max(qty, Decimal(0))


def pnl_of_close(
    closes: ClosingOf, filled_qty: Decimal | None, fill_price: Decimal | None
) -> Decimal | None:
    """(exit fill − entry fill) × multiplier × filled − fee × contracts filled, to four
    places; None until something filled at a known price."""
    if not filled_qty or fill_price is None:
        return None
    option = closes.multiplier > 1
    fees = closes.fee_per_contract * filled_qty if option else Decimal(0)
    pnl = realized_pnl(closes.entry_price, fill_price, filled_qty, closes.multiplier, fees)
    return pnl.quantize(FOUR_PLACES, ROUND_HALF_EVEN)


def closing_of_explain(explain: Mapping[str, Any]) -> ClosingOf | None:
    """The ClosingOf a close's explain keeps, or None (an entry, or a close without one)."""
    kept = explain.get(CLOSES_KEY)
    return ClosingOf.model_validate(kept) if isinstance(kept, dict) else None
