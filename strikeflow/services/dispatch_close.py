"""A bearish stock trade without shorting: close a long position, or refuse before the venue.

A SELL on stock (asked for, or a PUT that fell back to its stock) would open a short when
nothing is held. With ``DispatchPolicy.allow_short`` off (the default, as the scan's
``stock.allow_short``), the venue would refuse it anyway (a cash account: 403 insufficient
qty), so the chain refuses it first, with its reason. When a long position is held, the
trade closes it: the whole position, sold at market, recorded as a CLOSE.
"""

from __future__ import annotations

from decimal import Decimal

from strikeflow.domain.enums import Action, InstrumentType, PositionEffect
from strikeflow.domain.errors import DispatchRejected
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import Notes, PriceChecked, SizedOrder, Sizing, Ticket


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
    sizing = Sizing(
        describe=f"close the long position: sell {held} {ticker}",
        quantity=held,
        unit_cost=bid,
        basis="position",
    )
    return SizedOrder(
        ticket=checked.ticket,
        trade=InstrumentType.STOCK,
        quantity=held,
        order_cost=held * bid,
        position_effect=PositionEffect.CLOSE,
        notes=notes.model_copy(update={"sizing": sizing}),
    )
