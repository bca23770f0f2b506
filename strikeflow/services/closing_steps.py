"""The closing chain's own steps: quote what is held, size the close to what is left.

::

    quote_close(recommendation_id) → CloseQuoted → size_close → SizedOrder
        → submit_order → PlacedOrder → persist_execution → ExecutionRecorded

The last two are the entry's own (``dispatch_steps.submit_order``, ``outcomes.
persist_execution``): the same order guard, the same lookup by client_order_id before a
second submit, the same upsert. What differs is read from ``SizedOrder.closes``: the
order sells to close, and the row links its entry and carries the realized P&L.

Neither step writes a row. quote_close stops the entry's order if it still works at the
venue (``_entry_stopped``): an exit must not go on buying what it sells, and a close sized
while the entry still fills would leave the rest uncovered. A cancel asked twice is
answered with the order as it stands, so running a step twice costs a repeated read.
"""

from __future__ import annotations

from decimal import Decimal

from strikeflow.domain.enums import Action, ExecutionStatus, InstrumentType, PositionEffect
from strikeflow.domain.errors import DispatchRejected, OrderRejected
from strikeflow.domain.exit_position import money_text
from strikeflow.domain.orders import OPEN_STATUSES
from strikeflow.domain.position_book import quantity_text
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.working import Purpose, exit_purpose
from strikeflow.services.closing_ids import entry_closed_by
from strikeflow.services.closing_ports import closing_store
from strikeflow.services.closing_size import (
    claims_of,
    close_quantity,
    held,
    multiplier_of,
)
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.dispatch_steps import (
    decided,
    fresh_quote,
    fresh_stock_quote,
    refuse_when_closed,
)
from strikeflow.services.messages import (
    CloseQuoted,
    ClosingOf,
    SizedOrder,
    Sizing,
    Ticket,
)
from strikeflow.services.outcomes import record_order
from strikeflow.services.ports import OrderCancelling
from strikeflow.services.work_record import current_client_order_id

QUANTITY_FEATURE = "quantity"  # a close's features: the quantity asked for (absent: all)
EXIT_FEATURE = "exit"  # an exit's features: its rule, urgency, reason and figures


def quote_close(ctx: DispatchContext, recommendation_id: str) -> CloseQuoted:
    """The close recommendation, its entry, what is left of it that no other close has
    claimed (``domain.claims``) and fresh quotes of what is held (the contract's snapshot
    for an option, the stock's quote either way)."""
    rec = ctx.store.get_recommendation(recommendation_id)
    if rec is None:
        raise DispatchRejected(f"unknown recommendation {recommendation_id!r}")
    if rec.status.terminal:
        raise DispatchRejected(f"recommendation already {rec.status.value}")
    entry = _entry_stopped(ctx, _entry_of(ctx, rec))
    claims = claims_of(closing_store(ctx.store), entry, rec.id)
    symbol = entry.option_symbol or entry.ticker
    price = entry.filled_avg_price or entry.premium_paid
    if price is None or price <= 0:
        raise DispatchRejected(f"execution {entry.id}: its fill price is not known yet")
    closes = ClosingOf(
        execution_id=entry.id,
        symbol=symbol,
        entry_price=price,
        multiplier=multiplier_of(entry),
        fee_per_contract=ctx.policy.close_fee_per_contract,
    )
    ticket = Ticket(
        recommendation_id=rec.id,
        ticker=entry.ticker,
        action=Action.SELL,
        instrument=entry.instrument_type,
        strategy=entry.strategy_type,
        confidence=rec.confidence,
    )
    underlying = fresh_stock_quote(ctx, entry.ticker)
    option_quote = None
    if entry.instrument_type is not InstrumentType.STOCK:
        option_quote = fresh_quote(
            ctx, symbol, lambda: ctx.market.option_snapshots([symbol]).get(symbol)
        )
    return CloseQuoted(
        ticket=ticket,
        closes=closes,
        remaining=claims.unclaimed,
        requested=_requested(rec),
        underlying=underlying,
        option_quote=option_quote,
        purpose=_purpose(rec),
    )


def size_close(ctx: DispatchContext, quoted: CloseQuoted) -> SizedOrder:
    """The close of what is left unclaimed (or of the quantity asked for, when less),
    bounded by what the venue holds of the symbol; a refusal when nothing is left to
    close. Its decision claims that much of the entry, refused if another close claimed
    it meanwhile (``dispatch_steps.decided``). Risk
    limits bound new entries, not exits: only the market hours (and, at submit, the
    kill switch) stop a close. The order decided is stored (``decided``), as an entry's
    is: submit_order sends that order or nothing."""
    notes, closes = quoted.notes, quoted.closes
    refuse_when_closed(ctx, notes)
    entry = f"execution {closes.execution_id}"
    placed = ctx.broker.order_by_client_id(quoted.ticket.client_order_id)
    if placed is not None:  # a redelivery after the submit: the order as it was placed
        placed_qty = quantity_text(placed.qty)
        already = f"the close of {entry} already placed: {placed_qty}"
        return decided(ctx, _sized(quoted, placed.qty, already))
    if quoted.remaining <= 0:
        raise DispatchRejected(
            f"nothing left to close: {entry} is closed or being closed", notes.record()
        )
    at_venue = sum((p.qty for p in ctx.broker.positions() if p.symbol == closes.symbol), Decimal(0))
    option = quoted.option_quote is not None
    qty = close_quantity(quoted.remaining, quoted.requested, at_venue, whole_units=option)
    if qty <= 0:
        raise DispatchRejected(
            f"nothing to close: the venue holds {quantity_text(at_venue)} {closes.symbol}"
            f" ({quantity_text(quoted.remaining)} left of {entry})",
            notes.record(),
        )
    left = quantity_text(quoted.remaining)
    describe = f"close {quantity_text(qty)} of the {left} left of {entry}"
    if at_venue < quoted.remaining:
        describe += f" (the venue holds {quantity_text(at_venue)})"
    return decided(ctx, _sized(quoted, qty, describe))


def _sized(quoted: CloseQuoted, qty: Decimal, describe: str) -> SizedOrder:
    bid = quoted.option_quote.bid if quoted.option_quote is not None else quoted.underlying.bid
    sizing = Sizing(
        describe=f"{describe} at about {money_text(bid)}",
        quantity=qty,
        unit_cost=bid,
        basis="position",
    )
    return SizedOrder(
        ticket=quoted.ticket,
        trade=quoted.ticket.instrument,
        option_quote=quoted.option_quote,
        quantity=qty,
        order_cost=qty * bid * quoted.closes.multiplier,
        position_effect=PositionEffect.CLOSE,
        closes=quoted.closes,
        purpose=quoted.purpose,
        notes=quoted.notes.model_copy(update={"sizing": sizing}),
    )


def _entry_of(ctx: DispatchContext, rec: Recommendation) -> Execution:
    entry_id = entry_closed_by(rec.id)
    if entry_id is None or not rec.source.closes:
        raise DispatchRejected(f"{rec.id} is not a close (source {rec.source.value})")
    entry = closing_store(ctx.store).execution_by_id(entry_id)
    if entry is None or entry.id is None:
        raise DispatchRejected(f"no execution {entry_id} to close")
    if entry.position_effect is not PositionEffect.OPEN or held(entry) <= 0:
        raise DispatchRejected(f"execution {entry_id} is not an entry holding a position")
    return entry


def _entry_stopped(ctx: DispatchContext, entry: Execution) -> Execution:
    """The entry once its order no longer works at the venue: one still open (a day
    order partly filled, a worked ladder between steps) is canceled, the cause kept, and
    the venue's answer recorded, so what the close is sized from is what the entry holds
    for good. An order ``pending_cancel`` may fill a little more: the next exit decision
    closes that."""
    if entry.status not in OPEN_STATUSES or not isinstance(ctx.broker, OrderCancelling):
        return entry
    order = ctx.broker.order_by_client_id(current_client_order_id(entry))
    if order is None:
        return entry
    if order.is_open:
        ctx.store.note_cancel(entry.client_order_id, "its position is being closed", ctx.now())
        try:
            order = ctx.broker.cancel_order(order.id)
        except OrderRejected:  # closed meanwhile (filled, say): read it as it stands
            order = ctx.broker.order_by_client_id(order.client_order_id) or order
    if order.status is ExecutionStatus.REPLACED:
        return entry  # a worked step replaced it meanwhile: the next decision stops that
    return record_order(ctx, order)


def _purpose(rec: Recommendation) -> Purpose:
    """An exit's rule and urgency (kept in its features by ``closing.request_exit``) say
    how a worked close is worked; a close asked for by hand is an ordinary exit."""
    exit_features = rec.features.get(EXIT_FEATURE)
    if not isinstance(exit_features, dict):
        return Purpose.EXIT
    return exit_purpose(exit_features.get("rule"), exit_features.get("urgency"))


def _requested(rec: Recommendation) -> Decimal | None:
    asked = rec.features.get(QUANTITY_FEATURE)
    return None if asked is None else Decimal(str(asked))


__all__ = ["quote_close", "size_close"]
