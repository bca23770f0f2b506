"""The chain's tail and its errback: the execution row, the terminal state, and fills.

All three are safe to run twice: the execution is upserted on its client_order_id, a
terminal status is never overwritten, and a fill already recorded is recorded again as
the same values.

One correction is allowed, from the venue's final word (``follow_venue``): once the
recommendation's order is final at the venue, its state follows what filled. Nothing
filled (expired at the close, canceled, rejected after acceptance) turns ``executed``
or ``fell_back`` into ``unfilled``; a partial fill stays ``executed`` with a reason
saying how much ("3 of 5 filled; the rest expired").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    OrderPricing,
    OrderType,
    PositionEffect,
    RecommendationStatus,
    StrategyType,
)
from strikeflow.domain.errors import (
    DispatchRejected,
    InvalidMarketData,
    InvalidPolicy,
    InvalidRecord,
    NoEligibleContract,
    OrderRejected,
    SizingError,
)
from strikeflow.domain.final_word import CANCEL_KEY, final_word
from strikeflow.domain.models import OptionContract
from strikeflow.domain.money import CENT
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder, entry_client_order_id
from strikeflow.domain.records import MAX_TEXT, Execution
from strikeflow.domain.sizing import OPTION_MULTIPLIER
from strikeflow.services.closing_ids import order_id_of
from strikeflow.services.closing_ports import closing_store
from strikeflow.services.closing_size import CLOSES_KEY, closing_of_explain, pnl_of_close
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import (
    ClosingOf,
    ExecutionRecorded,
    IncompatibleMessage,
    PlacedOrder,
    as_json,
)
from strikeflow.services.ports import OrderListing
from strikeflow.services.work_record import (
    WORK_KEY,
    current_client_order_id,
    record_figures,
    started,
    work_of,
)

FOUR_PLACES = Decimal("0.0001")
# reconcile_orders' one listing: from a minute before the oldest unfinished order, and
# no more than a day before the newest (older orders are looked up one by one).
RECONCILE_SLACK = timedelta(minutes=1)
RECONCILE_LOOKBACK = timedelta(days=1)
# The errors that mean "refused", not "broke": a rule, the venue or bad input said no.
# They end a recommendation rejected, and are expected: logged as an outcome, without
# a traceback (the tasks' ``throws``).
REFUSALS: tuple[type[Exception], ...] = (
    DispatchRejected,
    OrderRejected,
    NoEligibleContract,
    SizingError,
    InvalidRecord,
    InvalidMarketData,
    InvalidPolicy,
)
# Expected, yet not a refusal: a step's message from another release ends the
# recommendation failed (nothing refused the trade; this release could not read it),
# with a reason naming the version, logged once without a traceback, never retried.
EXPECTED_FAILURES: tuple[type[Exception], ...] = (IncompatibleMessage,)
# Their class names (or plain words), as the errback records them.
REJECTION_KINDS = frozenset({"rejected", *(refusal.__name__ for refusal in REFUSALS)})
REFUSED_ORDER = frozenset(
    {ExecutionStatus.REJECTED, ExecutionStatus.CANCELED, ExecutionStatus.FAILED}
)


def failure_kind(exc: BaseException) -> str:
    """ "rejected" for a refusal, "failed" for anything else. By class name along the
    MRO, so an exception rebuilt from a result backend matches as well."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "rejected" if names & REJECTION_KINDS else "failed"


def superseded(exc: BaseException) -> bool:
    """Whether a step refused a message that is not its recommendation's decision
    (``ChainSuperseded``): its run ends with no verdict. By class name, as above."""
    return "ChainSuperseded" in {cls.__name__ for cls in type(exc).__mro__}


def explain_of(exc: BaseException) -> dict[str, Any] | None:
    """What a refusal carries for the record, as JSON: DispatchRejected's explain (the
    sizing, the risk check, the fallback), or the venue's status, code and message."""
    explain = getattr(exc, "explain", None)
    if isinstance(explain, dict) and explain:
        return as_json(explain)
    if isinstance(exc, OrderRejected):
        return {"broker": {"status": exc.status, "code": exc.code, "message": exc.message}}
    return None


def persist_execution(ctx: DispatchContext, placed: PlacedOrder) -> ExecutionRecorded:
    """Upsert the execution on client_order_id with every option column and mark the
    recommendation executed, fell_back, or rejected when the venue refused the order, in
    one transaction. A duplicate finding the row with another state records the order's."""
    order, ticket = placed.order, placed.sized.ticket
    status, reason = _outcome(placed)
    stored, created = ctx.store.record_outcome(build_execution(ctx, placed), status, reason)
    if not created and stored.status != order.status and stored.status not in REFUSED_ORDER:
        stored = record_order(ctx, order)
    return ExecutionRecorded(
        recommendation_id=ticket.recommendation_id,
        client_order_id=stored.client_order_id,
        execution_id=stored.id,
        status=status,
        execution_status=stored.status.value,
        execution_mode=stored.execution_mode.value,
    )


def build_execution(ctx: DispatchContext, placed: PlacedOrder) -> Execution:
    """The record of the placed order for its recommendation. What was traded is the
    order's: a second delivery of a chain may have selected otherwise (``option_columns``)."""
    sized, order = placed.sized, placed.order
    explain = {
        **sized.notes.record(),
        "order": order.explain(),
        "order_cost": str(sized.order_cost),
        "requested": sized.ticket.instrument.value,
        "traded": sized.trade.value,
    }
    if placed.refusal is not None:
        explain["refusal"] = placed.refusal.model_dump(mode="json")
    elif worked_order(ctx, placed):
        policy = ctx.policy.working.policy(sized.ticket.strategy, sized.purpose)
        explain[WORK_KEY] = started(policy, sized.option_quote, order, ctx.now())
    closes = {} if sized.closes is None else linked_close(sized.closes, order, explain)
    quoted_ask = None if sized.option_quote is None else sized.option_quote.ask
    return execution_of(
        order,
        recommendation_id=sized.ticket.recommendation_id,
        ticker=sized.ticket.ticker,
        action=sized.ticket.action,
        strategy=sized.ticket.strategy,
        position_effect=sized.position_effect,
        explain=explain,
        now=ctx.now(),
        contract=sized.contract,
        quoted_ask=quoted_ask,
        **closes,
    )


def linked_close(closes: ClosingOf, order: BrokerOrder, explain: dict[str, Any]) -> dict[str, Any]:
    """A close's link to its entry and what it realized once filled, as the columns of
    its row (``execution_of``'s keywords); the ClosingOf is kept in ``explain`` for the
    realized P&L of later fills."""
    explain[CLOSES_KEY] = closes.model_dump(mode="json")
    return {
        "closes_execution_id": closes.execution_id,
        "realized_pnl": pnl_of_close(closes, order.filled_qty, order.filled_avg_price),
    }


def worked_order(ctx: DispatchContext, placed: PlacedOrder) -> bool:
    """Whether ``placed`` is an option order to work (STRIKEFLOW_OPTION_ORDER_PRICING=
    worked): a limit order of an entry (its contract) or of a close of one (its
    entry), placed at the venue (not refused)."""
    sized, order = placed.sized, placed.order
    return (
        ctx.policy.pricing.mode is OrderPricing.WORKED
        and (sized.contract is not None or sized.closes is not None)
        and sized.option_quote is not None
        and placed.refusal is None
        and order.order_type is OrderType.LIMIT
        and order.instrument is not InstrumentType.STOCK
    )


def execution_of(
    order: BrokerOrder,
    *,
    recommendation_id: str,
    ticker: str,
    action: Action,
    strategy: StrategyType | None,
    position_effect: PositionEffect,
    explain: dict[str, Any],
    now: datetime,
    contract: OptionContract | None = None,
    quoted_ask: Decimal | None = None,
    closes_execution_id: int | None = None,
    realized_pnl: Decimal | None = None,
) -> Execution:
    """The execution row of ``order``: the one way a row is made from an order, for a
    chain's persist_execution and for recovery's adoption alike. A stock row keeps the
    recommendation's action; an option row the order's side (the right carries the
    direction), and its contract's columns (``option_columns``)."""
    traded = order.instrument
    values = {} if traded is InstrumentType.STOCK else option_columns(order, contract, quoted_ask)
    return Execution(
        recommendation_id=recommendation_id,
        client_order_id=order.client_order_id,
        ticker=ticker,
        action=action if traded is InstrumentType.STOCK else order.side,
        instrument_type=traded,
        broker=order.broker,
        execution_mode=order.execution_mode,
        status=order.status,
        quantity=order.qty,
        broker_order_id=order.id or None,
        position_effect=position_effect,
        closes_execution_id=closes_execution_id,
        realized_pnl=realized_pnl,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        notional=notional_of(order),
        explain_json=explain,
        strategy_type=strategy,
        created_at=now,
        updated_at=now,
        submitted_at=order.submitted_at,
        filled_at=order.filled_at,
        **values,
    )


def option_columns(
    order: BrokerOrder, contract: OptionContract | None, quoted_ask: Decimal | None
) -> dict[str, Any]:
    """Strike, expiry, contracts, premium and the Greeks at selection, at column scale.

    ``premium_paid`` is the fill price per contract (per share), or until a fill the
    price the order was sent at (its limit, else the quoted ask).

    An order the venue already held under this client_order_id (placed by an earlier
    delivery of the chain, at other prices), or one adopted by recovery, keeps its own
    contract, read from its OCC symbol; a selection's Greeks and quote would describe
    another contract. An adjusted contract keeps its multiplier (``multiplier``); one
    read from its symbol alone reads as standard.
    """
    multiplier = None  # standard (100) unless the selected contract says otherwise
    if contract is None or contract.symbol != order.symbol:
        occ = parse_occ(order.symbol)
        strike, expiration, greeks, iv, quoted_ask = occ.strike, occ.expiration, None, None, None
    else:
        strike, expiration = contract.strike, contract.expiration
        greeks, iv = contract.greeks, contract.implied_vol
        if contract.multiplier != OPTION_MULTIPLIER:
            multiplier = contract.multiplier
    premium = order.filled_avg_price or order.limit_price or quoted_ask
    return {
        "strike_price": strike,
        "expiration_date": expiration,
        "contracts": int(order.qty),
        "premium_paid": None if premium is None else premium.quantize(CENT, ROUND_HALF_EVEN),
        "delta": _four(None if greeks is None else greeks.delta),
        "gamma": _four(None if greeks is None else greeks.gamma),
        "theta": _four(None if greeks is None else greeks.theta),
        "vega": _four(None if greeks is None else greeks.vega),
        "implied_volatility": _four(iv),
        "option_symbol": order.symbol,
        "multiplier": multiplier,
    }


def _four(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(FOUR_PLACES, ROUND_HALF_EVEN)


def notional_of(order: BrokerOrder) -> Decimal | None:
    if not order.filled_qty or order.filled_avg_price is None:
        return None
    return order.filled_qty * order.filled_avg_price


def recommendation_status(
    order_status: ExecutionStatus, fell_back: bool, filled_qty: Decimal | None = None
) -> RecommendationStatus:
    """The recommendation's terminal state an order implies: rejected when the venue
    refused it, unfilled when it accepted it and the order ended (canceled, expired)
    with nothing filled, fell_back when the stock was traded instead, else executed."""
    if order_status is ExecutionStatus.CANCELED:
        if not filled_qty:
            return RecommendationStatus.UNFILLED
    elif order_status in REFUSED_ORDER:
        return RecommendationStatus.REJECTED
    return RecommendationStatus.FELL_BACK if fell_back else RecommendationStatus.EXECUTED


def status_of_execution(execution: Execution, requested: InstrumentType) -> RecommendationStatus:
    """The recommendation's terminal state that a recorded execution implies: it fell
    back when it traded the stock of the option ``requested``."""
    fell_back = execution.instrument_type is InstrumentType.STOCK and requested.right is not None
    return recommendation_status(execution.status, fell_back, execution.filled_qty)


def _outcome(placed: PlacedOrder) -> tuple[RecommendationStatus, str | None]:
    order, fallback = placed.order, placed.sized.notes.fallback
    status = recommendation_status(order.status, fallback is not None, order.filled_qty)
    if status is RecommendationStatus.REJECTED:
        if placed.refusal is not None:  # the venue refused the submit itself: its own words
            return status, _clip(f"submit_order: {placed.refusal.error}")
        return status, f"order {order.broker_status}"
    word = final_word(order)  # an order already final: how much filled, if not all
    said = None if word is None else word.reason
    if fallback is not None:
        return status, _clip(fallback.reason if said is None else f"{fallback.reason}; {said}")
    return status, said


def record_failure(
    ctx: DispatchContext,
    recommendation_id: str,
    kind: str,
    message: str,
    explain: dict[str, Any] | None = None,
) -> None:
    """The terminal state of a chain that stopped: rejected (a refusal) or failed, with
    the refusal's explain (its reasons and figures) kept in full beside the message.

    Only the recommendation's own running chain can end it, and "its own chain" is the
    one the database says is running: the recommendation is ``dispatched``. Every sender
    marks it so (``chain_sending.send_and_mark``) and nothing else does, a terminal state
    is never left, and ``pending`` never comes back (``domain.lifecycle``). So a
    ``record_failure`` for a recommendation pending (no chain sent, or one whose first
    step failed before the mark: the stuck sweep sends it again, and that failure counts),
    already ended (its chain moved on: executed, rejected...), or unknown changes nothing,
    whoever sent it. A message carries nothing the database could check it against
    (a chain id is not stored), so the state is the identity. Returns nothing either way.

    If the execution was persisted but the status was not (a worker died between the
    two), the execution decides.
    """
    reason = _clip(f"{kind}: {message}")
    rec = ctx.store.get_recommendation(recommendation_id)
    if rec is None or rec.status is not RecommendationStatus.DISPATCHED:
        return
    stored = ctx.store.execution_by_client_order_id(order_id_of(recommendation_id))
    if stored is not None:
        status = status_of_execution(stored, rec.instrument_type)
        ctx.store.set_status(recommendation_id, status, reason)
        return
    failed = kind not in REJECTION_KINDS
    status = RecommendationStatus.FAILED if failed else RecommendationStatus.REJECTED
    ctx.store.set_status(recommendation_id, status, reason, explain=explain or None)


def reconcile_orders(ctx: DispatchContext, limit: int = 500) -> int:
    """Ask the broker about every unfinished execution and record what changed; the
    number of executions updated.

    A broker that lists its orders (``OrderListing``, Alpaca's ``GET /v2/orders``) is
    asked once, for every order open or closed since the oldest unfinished execution
    (a minute earlier, at most ``RECONCILE_LOOKBACK`` before the newest); the
    executions are matched to it by client_order_id. Only those the listing leaves out
    (older than its window, past its ``limit``, or of a broker that cannot list) are
    looked up one by one. The rate limit counts requests, not orders: one listing every
    few seconds instead of one request per unfinished order each time."""
    unfinished = ctx.store.unfinished_executions(limit)
    if not unfinished:
        return 0
    listed = _listed_orders(ctx, unfinished, limit)
    updated = 0
    for execution in unfinished:
        current = current_client_order_id(execution)  # a worked order's latest step
        order = listed.get(current)
        if order is None:
            order = ctx.broker.order_by_client_id(current)
        if order is None:
            continue
        same = order.status == execution.status and order.filled_qty == (
            execution.filled_qty or Decimal(0)
        )
        if not same and _written(record_order(ctx, order), order):
            updated += 1
    return updated


def _listed_orders(
    ctx: DispatchContext, unfinished: list[Execution], limit: int
) -> dict[str, BrokerOrder]:
    """The broker's recent orders by client_order_id, in one call; {} when it cannot list.

    The window starts at the oldest execution's submission as the venue stamped it (its
    own clock: an emulator's simulated time need not be ours), else our record's, and
    reaches back at most ``RECONCILE_LOOKBACK`` from the newest: no clock is read."""
    if not isinstance(ctx.broker, OrderListing):
        return {}
    stamps = [e.submitted_at or e.created_at for e in unfinished]
    after = max(min(stamps), max(stamps) - RECONCILE_LOOKBACK) - RECONCILE_SLACK
    return {o.client_order_id: o for o in ctx.broker.recent_orders(after, limit)}


def record_order(ctx: DispatchContext, order: BrokerOrder) -> Execution:
    """Record what the venue now says of an order we hold a row for, and let its
    recommendation follow (``follow_venue``). A report behind the stored row (a stale
    copy: ``domain.lifecycle``) changes nothing: the stored row is returned, and the
    recommendation already followed the newer report when it was written.

    A worked order's steps (``-w<step>`` client_order_ids) are recorded on their entry's
    row; an order of the chain reported ``replaced`` changes nothing there (the step
    that replaced it records the replacement), while any other row replaced at the
    venue (by hand, say) ends ``replaced``."""
    row_id = entry_client_order_id(order.client_order_id)
    if order.status is ExecutionStatus.REPLACED:
        row = ctx.store.execution_by_client_order_id(row_id)
        if row is not None and work_of(row) is not None:
            return row
    stored = ctx.store.record_fill(
        row_id,
        order.status,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        filled_at=order.filled_at,
        broker_order_id=order.id,
    )
    if not _written(stored, order):
        return stored
    stored = _realize(ctx, stored)
    record_figures(ctx.store, stored)
    follow_venue(ctx, stored, order)
    return stored


def _written(stored: Execution, order: BrokerOrder) -> bool:
    """Whether the stored row says what ``order`` reported (False: it is newer)."""
    return stored.status is order.status and (stored.filled_qty or Decimal(0)) == (
        order.filled_qty or Decimal(0)
    )


def _realize(ctx: DispatchContext, stored: Execution) -> Execution:
    """A close's realized P&L, written when its fill is known and again when more fills:
    always that of what has filled so far."""
    if stored.position_effect is not PositionEffect.CLOSE or stored.closes_execution_id is None:
        return stored
    closes = closing_of_explain(stored.explain_json)
    pnl = (
        None if closes is None else pnl_of_close(closes, stored.filled_qty, stored.filled_avg_price)
    )
    if pnl is None or pnl == stored.realized_pnl:
        return stored
    closing_store(ctx.store).set_realized_pnl(stored.id, pnl)
    return replace(stored, realized_pnl=pnl)


def follow_venue(ctx: DispatchContext, stored: Execution, order: BrokerOrder) -> bool:
    """The recommendation follows its order's final state at the venue (``domain.
    final_word``); True if its state or reason changed. Only the recommendation's own
    order (its ``order_id_of``) speaks for it; while the order is open nothing
    is said. A cancel we asked for (``stale_entries``) is named by its cause, kept with
    the order before the cancel was sent."""
    if stored.client_order_id != order_id_of(stored.recommendation_id):
        return False
    if order.status is ExecutionStatus.REPLACED:  # the replacing order speaks for it
        return False
    asked = stored.explain_json.get(CANCEL_KEY)
    cause = asked.get("cause") if isinstance(asked, dict) else None
    word = final_word(order, cause)
    if word is None:
        return False
    return ctx.store.settle_recommendation(stored.recommendation_id, word)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
