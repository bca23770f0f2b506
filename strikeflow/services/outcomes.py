"""The chain's tail and its errback: the execution row, the terminal state, and fills.

All three are safe to run twice: the execution is upserted on its client_order_id, a
terminal status is never overwritten, and a fill already recorded is recorded again as
the same values.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
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
from strikeflow.domain.models import OptionContract
from strikeflow.domain.money import CENT
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.records import MAX_TEXT, Execution
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for
from strikeflow.services.messages import (
    ExecutionRecorded,
    IncompatibleMessage,
    PlacedOrder,
    as_json,
)

FOUR_PLACES = Decimal("0.0001")
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
        stored = _record(ctx, order)
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
    another contract.
    """
    if contract is None or contract.symbol != order.symbol:
        occ = parse_occ(order.symbol)
        strike, expiration, greeks, iv, quoted_ask = occ.strike, occ.expiration, None, None, None
    else:
        strike, expiration = contract.strike, contract.expiration
        greeks, iv = contract.greeks, contract.implied_vol
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
    }


def _four(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(FOUR_PLACES, ROUND_HALF_EVEN)


def notional_of(order: BrokerOrder) -> Decimal | None:
    if not order.filled_qty or order.filled_avg_price is None:
        return None
    return order.filled_qty * order.filled_avg_price


def recommendation_status(order_status: ExecutionStatus, fell_back: bool) -> RecommendationStatus:
    """The recommendation's terminal state an order implies: rejected when the venue
    refused or dropped it, fell_back when the stock was traded instead, else executed."""
    if order_status in REFUSED_ORDER:
        return RecommendationStatus.REJECTED
    return RecommendationStatus.FELL_BACK if fell_back else RecommendationStatus.EXECUTED


def status_of_execution(execution: Execution, requested: InstrumentType) -> RecommendationStatus:
    """The recommendation's terminal state that a recorded execution implies: it fell
    back when it traded the stock of the option ``requested``."""
    fell_back = execution.instrument_type is InstrumentType.STOCK and requested.right is not None
    return recommendation_status(execution.status, fell_back)


def _outcome(placed: PlacedOrder) -> tuple[RecommendationStatus, str | None]:
    order, fallback = placed.order, placed.sized.notes.fallback
    status = recommendation_status(order.status, fallback is not None)
    if status is RecommendationStatus.REJECTED:
        if placed.refusal is not None:  # the venue refused the submit itself: its own words
            return status, _clip(f"submit_order: {placed.refusal.error}")
        return status, f"order {order.broker_status}"
    if fallback is not None:
        return status, _clip(fallback.reason)
    return status, None


def record_failure(
    ctx: DispatchContext,
    recommendation_id: str,
    kind: str,
    message: str,
    explain: dict[str, Any] | None = None,
) -> None:
    """The terminal state of a chain that stopped: rejected (a refusal) or failed, with
    the refusal's explain (its reasons and figures) kept in full beside the message.

    A terminal state already written is left alone. If the execution was persisted but
    the status was not (a worker died between the two), the execution decides.
    """
    reason = _clip(f"{kind}: {message}")
    stored = ctx.store.execution_by_client_order_id(client_order_id_for(recommendation_id))
    if stored is not None:
        rec = ctx.store.get_recommendation(recommendation_id)
        requested = stored.instrument_type if rec is None else rec.instrument_type
        ctx.store.set_status(recommendation_id, status_of_execution(stored, requested), reason)
        return
    failed = kind not in REJECTION_KINDS
    status = RecommendationStatus.FAILED if failed else RecommendationStatus.REJECTED
    ctx.store.set_status(recommendation_id, status, reason, explain=explain or None)


def reconcile_orders(ctx: DispatchContext, limit: int = 500) -> int:
    """Ask the broker about every unfinished execution (by client_order_id) and record
    what changed; the number of executions updated."""
    updated = 0
    for execution in ctx.store.unfinished_executions(limit):
        order = ctx.broker.order_by_client_id(execution.client_order_id)
        if order is None:
            continue
        same = order.status == execution.status and order.filled_qty == (
            execution.filled_qty or Decimal(0)
        )
        if not same:
            _record(ctx, order)
            updated += 1
    return updated


def _record(ctx: DispatchContext, order: BrokerOrder) -> Execution:
    return ctx.store.record_fill(
        order.client_order_id,
        order.status,
        filled_qty=order.filled_qty,
        filled_avg_price=order.filled_avg_price,
        filled_at=order.filled_at,
        broker_order_id=order.id,
    )


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"
