"""A bearish stock trade without shorting: close a long position, or refuse before the venue.

A SELL on stock (asked for, or a PUT that fell back to its stock) would open a short when
nothing is held. With ``DispatchPolicy.allow_short`` off (the default, as the scan's
``stock.allow_short``), the venue would refuse it anyway (a cash account: 403 insufficient
qty), so the chain refuses it first, with its reason. When a long position is held, the
trade closes it, sold at market and recorded as a CLOSE, the way every close is
(``closing_size``): when the book holds a stock entry of the ticker, what is left of the
oldest one (at most what the venue holds), linked to it with its realized P&L; the rest
is left for the next close. A position the book has no entry for (bought elsewhere) is
sold whole, unlinked.
"""

from __future__ import annotations

from decimal import Decimal

from strikeflow.domain.enums import Action, InstrumentType, PositionEffect
from strikeflow.domain.errors import DispatchRejected
from strikeflow.domain.position_book import quantity_text
from strikeflow.services.closing_ports import ClosingStore
from strikeflow.services.closing_size import close_quantity, remaining
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import (
    ClosingOf,
    Notes,
    PriceChecked,
    SizedOrder,
    Sizing,
    Ticket,
)


def opens_a_short(ctx: DispatchContext, ticket: Ticket, trade: InstrumentType) -> bool:
    """True for a stock SELL the policy does not let open a short."""
    return (
        trade is InstrumentType.STOCK
        and ticket.action is Action.SELL
        and not ctx.policy.allow_short
    )


def close_long(ctx: DispatchContext, checked: PriceChecked, notes: Notes) -> SizedOrder:
    """The order selling the held long position of the ticker, or a refusal saying why.
    Risk limits bound new entries, so only the kill switch applies to a close."""
    ticker = checked.ticket.ticker
    held = sum((p.qty for p in ctx.broker.positions() if p.symbol == ticker), Decimal(0))
    if held <= 0:
        explain = {**notes.record(), "short": {"held": str(held), "allow_short": False}}
        raise DispatchRejected(
            f"no shorting: SELL {ticker} stock with no long position to close (allow_short is off)",
            explain,
        )
    if ctx.kill_switch.is_on():
        raise DispatchRejected("risk: kill switch on", notes.record())
    bid = checked.underlying.bid
    closes, qty = _oldest_entry(ctx, ticker, held)
    what = "the long position" if closes is None else f"execution {closes.execution_id}"
    sizing = Sizing(
        describe=f"close {what}: sell {quantity_text(qty)} {ticker}",
        quantity=qty,
        unit_cost=bid,
        basis="position",
    )
    return SizedOrder(
        ticket=checked.ticket,
        trade=InstrumentType.STOCK,
        quantity=qty,
        order_cost=qty * bid,
        position_effect=PositionEffect.CLOSE,
        closes=closes,
        notes=notes.model_copy(update={"sizing": sizing}),
    )


def _oldest_entry(
    ctx: DispatchContext, ticker: str, held: Decimal
) -> tuple[ClosingOf | None, Decimal]:
    """The oldest stock entry of ``ticker`` the book still holds, and what to sell of it
    (its remainder, at most ``held`` at the venue); (None, ``held``) when there is none."""
    store = ctx.store
    if not isinstance(store, ClosingStore):
        return None, held
    for entry in store.open_entries(ticker):
        if entry.instrument_type is not InstrumentType.STOCK or entry.id is None:
            continue
        left = remaining(entry, store.closes_of(entry.id))
        price = entry.filled_avg_price
        if left <= 0 or price is None or price <= 0:
            continue
        closes = ClosingOf(execution_id=entry.id, symbol=ticker, entry_price=price, multiplier=1)
        return closes, close_quantity(left, None, held, whole_units=False)
    return None, held
