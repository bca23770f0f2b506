"""The chain's tail and its errback: the execution row, the terminal state, and fills.

All three are safe to run twice: the execution is upserted on its client_order_id, a
terminal status is never overwritten, and a fill already recorded is recorded again as
the same values.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from strikeflow.domain.errors import (
    DispatchRejected,
    InvalidMarketData,
    InvalidPolicy,
    InvalidRecord,
    NoEligibleContract,
    OrderRejected,
    SizingError,
)
from strikeflow.domain.models import InstrumentType, StrategyType
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder
from strikeflow.domain.records import (
    MAX_TEXT,
    Action,
    Execution,
    ExecutionStatus,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.services.dispatch_payload import order_from_json, unpacked_explain
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for

STOCK = InstrumentType.STOCK.value
FOUR_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")
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
# Their class names (or plain words), as the errback records them.
REJECTION_KINDS = frozenset({"rejected", *(refusal.__name__ for refusal in REFUSALS)})
REFUSED_ORDER = frozenset(
    {ExecutionStatus.REJECTED, ExecutionStatus.CANCELED, ExecutionStatus.FAILED}
)


def persist_execution(ctx: DispatchContext, payload: dict[str, Any]) -> dict[str, Any]:
    """Upsert the execution on client_order_id with every option column and mark the
    recommendation executed, fell_back, or rejected when the venue refused the order, in
    one transaction. A duplicate finding the row with another state records the order's."""
    order = order_from_json(payload["order"])
    status, reason = _outcome(payload, order)
    stored, created = ctx.store.record_outcome(build_execution(ctx, payload, order), status, reason)
    if not created and stored.status != order.status and stored.status not in REFUSED_ORDER:
        stored = _record(ctx, order)
    return {
        "recommendation_id": payload["recommendation_id"],
        "client_order_id": stored.client_order_id,
        "execution_id": stored.id,
        "status": status.value,
        "execution_status": stored.status.value,
        "execution_mode": stored.execution_mode.value,
    }


def build_execution(ctx: DispatchContext, payload: dict[str, Any], order: BrokerOrder) -> Execution:
    """The record of ``order`` for the payload's recommendation. What was traded is the
    order's: a second delivery of a chain may have selected otherwise (see below)."""
    now = ctx.now()
    traded = order.instrument
    explain = {
        **unpacked_explain(payload["explain"]),
        "order": order.explain(),
        "order_cost": payload.get("order_cost"),
        "requested": payload["instrument"],
        "traded": payload["trade"],
    }
    if payload.get("refusal") is not None:
        explain["refusal"] = payload["refusal"]
    values: dict[str, Any] = {
        "recommendation_id": payload["recommendation_id"],
        "client_order_id": order.client_order_id,
        "ticker": payload["ticker"],
        "action": order.side if traded != STOCK else Action(payload["action"]),
        "instrument_type": traded,
        "broker": order.broker,
        "execution_mode": order.execution_mode,
        "status": order.status,
        "quantity": order.qty,
        "broker_order_id": order.id or None,
        "position_effect": PositionEffect(payload.get("position_effect", "OPEN")),
        "filled_qty": order.filled_qty,
        "filled_avg_price": order.filled_avg_price,
        "notional": notional_of(order),
        "explain_json": explain,
        "strategy_type": None if payload["strategy"] is None else StrategyType(payload["strategy"]),
        "created_at": now,
        "updated_at": now,
        "submitted_at": order.submitted_at,
        "filled_at": order.filled_at,
    }
    if traded != STOCK:
        values.update(option_columns(payload, order))
    return Execution(**values)


def option_columns(payload: dict[str, Any], order: BrokerOrder) -> dict[str, Any]:
    """Strike, expiry, contracts, premium and the Greeks at selection, at column scale.

    ``premium_paid`` is the fill price per contract (per share), or until a fill the
    price the order was sent at (its limit, else the quoted ask).

    An order the venue already held under this client_order_id (placed by an earlier
    delivery of the chain, at other prices) keeps its own contract, read from its OCC
    symbol; this delivery's selection, Greeks and quote describe another contract.
    """
    c, quote = payload.get("contract") or {}, payload.get("option_quote")
    if c.get("symbol") != order.symbol:
        occ = parse_occ(order.symbol)
        c = {"symbol": order.symbol, "strike": str(occ.strike), "expiration": str(occ.expiration)}
        quote = None
    greeks = c.get("greeks") or [None] * 5
    quoted = Decimal(quote["ask"]) if quote else None
    premium = order.filled_avg_price or order.limit_price or quoted
    return {
        "strike_price": Decimal(c["strike"]),
        "expiration_date": date.fromisoformat(c["expiration"]),
        "contracts": int(order.qty),
        "premium_paid": None if premium is None else premium.quantize(CENT, ROUND_HALF_EVEN),
        "delta": _four(greeks[0]),
        "gamma": _four(greeks[1]),
        "theta": _four(greeks[2]),
        "vega": _four(greeks[3]),
        "implied_volatility": _four(c.get("implied_vol")),
        "option_symbol": c["symbol"],
    }


def _four(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(FOUR_PLACES, ROUND_HALF_EVEN)


def notional_of(order: BrokerOrder) -> Decimal | None:
    if not order.filled_qty or order.filled_avg_price is None:
        return None
    return order.filled_qty * order.filled_avg_price


def _outcome(
    payload: dict[str, Any], order: BrokerOrder
) -> tuple[RecommendationStatus, str | None]:
    if order.status in REFUSED_ORDER:
        refusal = payload.get("refusal")
        if refusal is not None:  # the venue refused the submit itself: its own words
            return RecommendationStatus.REJECTED, _clip(f"submit_order: {refusal['error']}")
        return RecommendationStatus.REJECTED, f"order {order.broker_status}"
    fallback = payload["explain"].get("fallback")
    if fallback is not None:
        return RecommendationStatus.FELL_BACK, _clip(fallback["reason"])
    return RecommendationStatus.EXECUTED, None


def status_of_execution(execution: Execution) -> RecommendationStatus:
    """The recommendation's terminal state that a recorded execution implies."""
    if execution.status in REFUSED_ORDER:
        return RecommendationStatus.REJECTED
    if execution.explain_json.get("fallback") is not None:
        return RecommendationStatus.FELL_BACK
    return RecommendationStatus.EXECUTED


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
        ctx.store.set_status(recommendation_id, status_of_execution(stored), reason)
        return
    failed = kind not in REJECTION_KINDS
    status = RecommendationStatus.FAILED if failed else RecommendationStatus.REJECTED
    ctx.store.set_status(
        recommendation_id, status, reason, explain=unpacked_explain(explain) or None
    )


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
