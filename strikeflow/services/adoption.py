"""Adoption: the row of an order the venue holds that no chain recorded.

A worker that dies between the venue's accept and ``persist_execution``, or a chain that
stops after an earlier delivery of it placed the order (a stale redelivery refused, a
retry budget spent on a venue that took the order but lost the answer), leaves an order
at the venue with no row. The venue's order is the truth: its row is written from it
(contract, quantity, limit, state), never from a new selection, and a close is linked to
the entry its stored decision names, so the book takes back what the venue sold.

``recovery.recover`` adopts what it finds walking stale recommendations; ``end_chain``
(every chain's failure record) asks the venue first whenever an order may have been sent
(a decision was stored): a recommendation is not ended while the venue says it holds its
order unrecorded.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from strikeflow.domain.enums import Action, InstrumentType, PositionEffect, RecommendationStatus
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.services import outcomes
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.closing_ports import ClosingStore
from strikeflow.services.closing_size import multiplier_of
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import ClosingOf
from strikeflow.services.outcomes import execution_of, linked_close, status_of_execution


def adopt(
    ctx: DispatchContext,
    rec: Recommendation,
    order: BrokerOrder,
    reason: str,
) -> Execution:
    """Write the row of ``order`` (the venue's, under ``rec``'s client_order_id) and the
    state it implies, in one transaction; the row as written."""
    closes = closing_decided(ctx, rec.id, order.client_order_id)
    row = adopted_execution(rec, order, ctx.now(), closes)
    ctx.store.record_outcome(row, status_of_execution(row, rec.instrument_type), reason)
    return row


def end_chain(
    ctx: DispatchContext,
    recommendation_id: str,
    kind: str,
    message: str,
    explain: dict[str, Any] | None = None,
    venue_error: str | None = None,
) -> bool:
    """A chain that stopped: if an order may have been sent for it (its decision is
    stored, no row records it), the venue is asked first and an order it holds is
    adopted (True); otherwise ``outcomes.record_failure`` ends it (False).

    A venue that cannot be asked raises BrokerUnavailable: the caller asks again within
    its retry budget, then calls once more with ``venue_error`` (what the venue last
    said): the failure is recorded with it, so the record says the venue was not asked,
    and whoever reads it knows an order may rest there (``strikeflow recover`` cannot
    re-open a terminal recommendation; the position check shows such an order's fill)."""
    coid = order_id_of(recommendation_id)
    guard = ctx.store.order_guard(recommendation_id, coid)
    may_have_sent = (
        guard.status is RecommendationStatus.DISPATCHED
        and guard.decision is not None
        and guard.recorded is None
    )
    if may_have_sent and venue_error is not None:
        message = (
            f"{message}; the venue could not be asked whether it holds the order: {venue_error}"
        )
    elif may_have_sent:
        placed = ctx.broker.order_by_client_id(coid)
        rec = ctx.store.get_recommendation(recommendation_id) if placed is not None else None
        if placed is not None and rec is not None:
            said = f"the chain stopped ({kind}: {message})"[:300]
            adopt(ctx, rec, placed, f"adopted the venue's order: {said}")
            return True
    outcomes.record_failure(ctx, recommendation_id, kind, message, explain)
    return False


def closing_decided(ctx: DispatchContext, rec_id: str, coid: str) -> ClosingOf | None:
    """The entry the order sized for ``rec_id`` closes (its stored decision's
    ``closes``), as the close's row and realized P&L need it; None for an entry, a
    decision that names no entry, or a store that keeps no entries. An adopted close
    without its entry would sell what the book still shows as held: the book would hold
    more than the venue."""
    store = ctx.store
    if not isinstance(store, ClosingStore):
        return None
    decision = store.order_guard(rec_id, coid).decision or {}
    entry_id = decision.get("closes", "")
    if not entry_id.isdigit():
        return None
    entry = store.execution_by_id(int(entry_id))
    if entry is None or entry.id is None:
        return None
    price = entry.filled_avg_price or entry.premium_paid or Decimal(0)
    option = entry.instrument_type is not InstrumentType.STOCK
    return ClosingOf(
        execution_id=entry.id,
        symbol=entry.option_symbol or entry.ticker,
        entry_price=price,
        multiplier=multiplier_of(entry),
        fee_per_contract=ctx.policy.close_fee_per_contract if option else Decimal(0),
    )


def adopted_execution(
    rec: Recommendation, order: BrokerOrder, now: datetime, closes: ClosingOf | None = None
) -> Execution:
    """The row of an order the venue holds that no chain recorded, made as
    persist_execution makes one, from the order itself: its contract (strike and expiry
    from the OCC symbol), quantity, limit and state; a close (``closes``, from its stored
    decision) linked to its entry, with what it realized. The Greeks at selection died
    with the worker."""
    traded = order.instrument
    explain: dict[str, object] = {
        "adopted": "the venue held this order; no execution row recorded it",
        "order": order.explain(),
        "requested": rec.instrument_type.value,
        "traded": traded.value,
    }
    if traded is InstrumentType.STOCK and rec.instrument_type is not InstrumentType.STOCK:
        explain["fallback"] = {"reason": "adopted: the venue holds the stock order"}
    closing = (
        order.side is Action.SELL
        if traded is InstrumentType.STOCK
        else "_to_close" in (order.position_intent or "")
    )
    linked = {} if closes is None else linked_close(closes, order, explain)
    return execution_of(
        order,
        recommendation_id=rec.id,
        ticker=rec.ticker,
        action=rec.action,
        strategy=rec.strategy_type,
        position_effect=PositionEffect.CLOSE if closing or closes else PositionEffect.OPEN,
        explain=explain,
        now=now,
        **linked,
    )
