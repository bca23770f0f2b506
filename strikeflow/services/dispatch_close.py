"""A bearish stock trade without shorting: close a long position, or refuse before the venue.

A SELL on stock (asked for, or a PUT that fell back to its stock) would open a short when
nothing is held. With ``DispatchPolicy.allow_short`` off (the default, as the scan's
``stock.allow_short``), the venue would refuse it anyway (a cash account: 403 insufficient
qty), so the chain refuses it first, with its reason. When a long position is held, the
trade closes it, sold at market and recorded as a CLOSE, the way every close is
(``closing_size``): when the book holds a stock entry of the ticker, what no other close
has claimed of the oldest one with something unclaimed (at most what the venue holds),
linked to it with its realized P&L; the rest is left for the next close. Its decision
claims that much of the entry (``domain.claims``), so two SELLs at once never both close
the same shares. When every entry is being closed already or has not filled yet (the
shares the venue holds may be its), the SELL is refused; so it is when the book has no
entry of the ticker: strikeflow sells only what it bought, never a position bought
elsewhere, nor the shares of an entry whose order filled before its row was written.
"""

from __future__ import annotations

from decimal import Decimal

from strikeflow.domain.enums import Action, InstrumentType, PositionEffect
from strikeflow.domain.errors import DispatchRejected
from strikeflow.domain.orders import OPEN_STATUSES
from strikeflow.domain.position_book import quantity_text
from strikeflow.services.closing_ports import ClosingStore
from strikeflow.services.closing_size import claims_of, close_quantity
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
    closes, qty = _oldest_entry(ctx, checked.ticket, held, notes)
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
    ctx: DispatchContext, ticket: Ticket, held: Decimal, notes: Notes
) -> tuple[ClosingOf | None, Decimal]:
    """The oldest stock entry of ``ticker`` with something left that no other close has
    claimed, and what to sell of it (that much, at most ``held`` at the venue); a
    refusal when every one is being closed already or has not filled yet, or when there
    is none. (None, ``held``) only from a store that keeps no entries to link to."""
    store, ticker = ctx.store, ticket.ticker
    if not isinstance(store, ClosingStore):
        return None, held
    held_entries = 0
    for entry in store.open_entries(ticker):
        if entry.instrument_type is not InstrumentType.STOCK or entry.id is None:
            continue
        claims = claims_of(store, entry, ticket.recommendation_id)
        # an order still open may have filled at the venue before its row says so: the
        # shares the venue holds may be its, never a position bought elsewhere
        if claims.holds - claims.filled > 0 or entry.status in OPEN_STATUSES:
            held_entries += 1
        price = entry.filled_avg_price
        if claims.unclaimed <= 0 or price is None or price <= 0:
            continue
        closes = ClosingOf(execution_id=entry.id, symbol=ticker, entry_price=price, multiplier=1)
        return closes, close_quantity(claims.unclaimed, None, held, whole_units=False)
    if held_entries:
        raise DispatchRejected(
            f"no {ticker} entry has anything left to close: each is being closed already"
            " or not filled yet",
            notes.record(),
        )
    raise DispatchRejected(
        f"no {ticker} entry to close: the {quantity_text(held)} shares the venue holds are"
        " not strikeflow's (bought elsewhere, or an entry not yet recorded), and"
        " allow_short is off",
        notes.record(),
    )
