"""The steps from a recommendation to a placed order, each a plain function of a payload.

Each step takes the previous step's JSON payload and returns it with what it adds; none
writes anything (whoever sends a chain marks it DISPATCHED: the entry task, the scan,
the CLI, recovery), so running a step twice costs a repeated read and nothing else.
Refusals for good raise
``DispatchRejected``; broker and market failures propagate as their domain errors
(``BrokerUnavailable`` is the one the task retries).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.errors import (
    DispatchRejected,
    NoEligibleContract,
    OrderRejected,
    SizingError,
)
from strikeflow.domain.expiry import trading_date
from strikeflow.domain.market import ExpiryWindow, OptionQuote, StockQuote, StrikeBand
from strikeflow.domain.models import InstrumentType, OptionContract, Right, StrategyType
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.domain.records import (
    Action,
    BrokerName,
    Execution,
    ExecutionMode,
    ExecutionStatus,
    PositionEffect,
    RecommendationStatus,
)
from strikeflow.domain.risk import check_risk
from strikeflow.domain.selection import STRATEGY_WINDOWS, SelectionPolicy
from strikeflow.domain.selection import select_contract as select_from_chain
from strikeflow.domain.sizing import size_position as size_from_budget
from strikeflow.services.dispatch_close import close_long, opens_a_short
from strikeflow.services.dispatch_payload import (
    chain_from_json,
    chain_to_json,
    contract_quote,
    contract_to_json,
    order_to_json,
    pack_selection,
    quote_to_json,
    recent_stock_quote,
)
from strikeflow.services.dispatch_policy import DispatchContext, client_order_id_for

Payload = dict[str, Any]
Q = TypeVar("Q", StockQuote, OptionQuote)
STOCK = InstrumentType.STOCK.value
FAILED_ALREADY = (RecommendationStatus.REJECTED, RecommendationStatus.FAILED)
# How far past its DTE window a chain with no expiry in it is asked about again, so the
# fallback can name the nearest expiry listed (a monthly cycle fits with room to spare).
LOOK_AHEAD_DAYS = 45


def fetch_chain(ctx: DispatchContext, recommendation_id: str) -> Payload:
    """The recommendation, spot, and (options) the chain of its right in the strategy's
    DTE window and the strikes its target can pick (``StrikeTarget.strikes_to_fetch``;
    for a delta target, a band around spot); nothing wider travels."""
    rec = ctx.store.get_recommendation(recommendation_id)
    if rec is None:
        raise DispatchRejected(f"unknown recommendation {recommendation_id!r}")
    if rec.status.terminal:
        raise DispatchRejected(f"recommendation already {rec.status.value}")
    payload: Payload = {
        "recommendation_id": rec.id,
        "client_order_id": client_order_id_for(rec.id),
        "ticker": rec.ticker,
        "action": rec.action.value,
        "instrument": rec.instrument_type.value,
        "strategy": None if rec.strategy_type is None else rec.strategy_type.value,
        "confidence": rec.confidence,
        "trade": rec.instrument_type.value,
        "reselects": 0,
        "explain": {},
    }
    return _with_chain(ctx, payload)


def _with_chain(ctx: DispatchContext, payload: Payload) -> Payload:
    quote = _fresh_stock_quote(ctx, payload["ticker"])
    spot = _spot(quote)
    out = {
        **{k: v for k, v in payload.items() if k != "listed_through"},
        "spot": str(spot),
        "spot_quote": quote_to_json(quote),
        "quoted_at": ctx.now().isoformat(),
    }
    if payload["instrument"] == STOCK:
        return out
    strategy = _strategy(payload)
    window = STRATEGY_WINDOWS[strategy or StrategyType.DAY_TRADE]
    today = trading_date(ctx.now())
    expiries = ExpiryWindow.days_ahead(today, window.min_days, window.max_days)
    right = InstrumentType(payload["instrument"]).right
    band = ctx.policy.strikes_to_fetch(strategy, spot, right)
    chain = ctx.market.option_chain(payload["ticker"], expiries, band, right)
    if not chain:
        chain, through = _nearest_listed(ctx, payload["ticker"], spot, right, today, expiries)
        out["listed_through"] = through.isoformat()
    out["chain"] = chain_to_json(chain)
    return out


def _nearest_listed(
    ctx: DispatchContext,
    ticker: str,
    spot: Decimal,
    right: Right,
    today: date,
    expiries: ExpiryWindow,
) -> tuple[list[OptionContract], date]:
    """With nothing listed in the window: the strike nearest spot on each side of every
    expiry from today to ``LOOK_AHEAD_DAYS`` past the window, and that last date. Outside
    the window, selection rejects them all; they are there so the reason can name the
    nearest expiry (``ineligible.why_none_eligible``). Asked only when the window is empty."""
    ahead = ExpiryWindow(today, expiries.last + timedelta(days=LOOK_AHEAD_DAYS))
    return ctx.market.option_chain(ticker, ahead, StrikeBand.nearest(spot, 1), right), ahead.last


def select_contract(ctx: DispatchContext, payload: Payload) -> Payload:
    """The domain's choice among the fetched contracts; with none eligible, the stock
    (when the policy allows) with every candidate's reasons in explain."""
    out = {k: v for k, v in payload.items() if k not in ("chain", "listed_through")}
    if payload["trade"] == STOCK:
        return out
    instrument = InstrumentType(payload["instrument"])
    policy = SelectionPolicy(
        right=instrument.right,
        window=STRATEGY_WINDOWS[_strategy(payload) or StrategyType.DAY_TRADE],
        strike=ctx.policy.strike_for(_strategy(payload)),
        liquidity=ctx.policy.liquidity,
    )
    fetched = payload.get("chain")
    chain = OptionChain.from_contracts([] if fetched is None else chain_from_json(fetched))
    now = ctx.now()
    explain = dict(payload["explain"])
    through = payload.get("listed_through")
    try:
        chosen = select_from_chain(
            chain,
            float(payload["spot"]),
            now,
            policy,
            underlying=payload["ticker"],
            listed_through=None if through is None else date.fromisoformat(through),
        )
    except NoEligibleContract as none:
        explain["selection"] = pack_selection(none.explain)
        reason = f"no eligible contract: {none}"
        if not ctx.policy.stock_fallback:
            raise DispatchRejected(reason, explain) from None
        explain["fallback"] = {"reason": reason, "counts": none.counts}
        return {**out, "trade": STOCK, "contract": None, "explain": explain}
    explain["selection"] = pack_selection(chosen.explain())
    return {
        **out,
        "contract": contract_to_json(chosen.chosen),
        "selected_at": now.isoformat(),
        "explain": explain,
    }


def snapshot_price(ctx: DispatchContext, payload: Payload) -> Payload:
    """Fresh quotes (refetched once when older than the limit); a move of the underlying
    beyond ``max_price_move`` since selection re-selects an option or rejects.

    The quotes fetch_chain took are used again when this step runs less than
    ``requote_after_s`` after them (and they pass the freshness limit): asking again a
    few milliseconds later would cost a round trip to learn the same price. Later than
    that (a backlog, a retry), both are fetched anew and the move is checked against them.
    """
    recent = _quoted_recently(ctx, payload)
    stock = recent_stock_quote(payload) if recent else None
    if stock is None or _age(ctx, stock.time) > ctx.policy.quote_max_age_s:
        stock = _fresh_stock_quote(ctx, payload["ticker"])
    selected, spot = Decimal(payload["spot"]), _spot(stock)
    move = abs(spot - selected) / selected
    limit = ctx.policy.max_price_move
    explain = dict(payload["explain"])
    if move > limit:
        why = (
            f"{payload['ticker']} moved {move:.2%} since selection"
            f" ({selected} → {spot}) > {limit:.2%}"
        )
        can_reselect = payload["trade"] != STOCK and payload["reselects"] < ctx.policy.max_reselects
        if not can_reselect:
            raise DispatchRejected(f"price moved: {why}", explain)
        previous = (payload.get("contract") or {}).get("symbol")
        explain.setdefault("price_checks", []).append(
            {"moved": why, "action": "reselected", "previous": previous}
        )
        again = {**payload, "reselects": payload["reselects"] + 1, "explain": explain}
        again = select_contract(ctx, _with_chain(ctx, again))
        return snapshot_price(ctx, again)
    out = {**payload, "stock_quote": quote_to_json(stock), "explain": explain}
    if payload["trade"] == STOCK:
        return out
    symbol = payload["contract"]["symbol"]
    quote = contract_quote(payload["contract"]) if recent else None
    if quote is None or _age(ctx, quote.time) > ctx.policy.quote_max_age_s:
        fetch = lambda: ctx.market.option_snapshots([symbol]).get(symbol)  # noqa: E731
        quote = _fresh(ctx, symbol, fetch, explain)
    if not (quote.ask > 0 and quote.ask >= quote.bid):
        raise DispatchRejected(f"no two-sided quote for {symbol} ({quote.bid} x {quote.ask})")
    return {**out, "option_quote": quote_to_json(quote)}


def size_position(ctx: DispatchContext, payload: Payload) -> Payload:
    """Quantity from buying power (zero: stock fallback or rejection), then the risk
    checks on the resulting order cost, kill switch included. A stock SELL closes the
    long position held, or is refused when none is (no shorting: ``dispatch_close``)."""
    explain = dict(payload["explain"])
    trade = payload["trade"]
    if opens_a_short(ctx, payload, trade):
        return close_long(ctx, payload, explain)
    account = ctx.broker.account()
    size = _size(ctx, payload, trade, account.buying_power, account.options_buying_power)
    if size.quantity == 0 and trade != STOCK and ctx.policy.stock_fallback:
        explain["fallback"] = {"reason": f"zero contracts: {size.reason}"}
        explain["option_sizing"] = size.describe()
        trade = STOCK
        if opens_a_short(ctx, payload, trade):
            return close_long(ctx, payload, explain)
        size = _size(ctx, payload, trade, account.buying_power, account.options_buying_power)
    if size.quantity == 0:
        raise DispatchRejected(f"size 0: {size.reason}", explain)
    explain["sizing"] = {
        "describe": size.describe(),
        "quantity": size.quantity,
        "unit_cost": str(size.unit_cost),
        "budget": str(size.budget),
        "fraction": str(size.fraction),
        "basis": size.basis,
        "buying_power": str(size.buying_power),
    }
    now = ctx.now()
    exposure, realized_loss = ctx.store.risk_state(now)
    check = check_risk(
        ctx.policy.risk,
        ticker=payload["ticker"],
        strategy=_strategy(payload),
        order_cost=size.cost,
        exposure=exposure,
        realized_loss_today=realized_loss,
        now=now,
        kill_switch_on=ctx.kill_switch.is_on(),
    )
    explain["risk"] = check.to_json()
    if not check.allowed:
        raise DispatchRejected(f"risk: {check.reason()}", explain)
    return {
        **payload,
        "trade": trade,
        "contract": payload.get("contract") if trade != STOCK else None,
        "quantity": str(size.quantity),
        "order_cost": str(size.cost),
        "explain": explain,
    }


def _size(ctx: DispatchContext, payload: Payload, trade: str, power, options_power):
    try:
        return size_from_budget(
            instrument=InstrumentType(trade),
            strategy=_strategy(payload),
            confidence=Decimal(str(payload["confidence"])),
            price=_unit_price(ctx, payload, trade),
            buying_power=power,
            options_buying_power=options_power,
            policy=ctx.policy.sizing,
        )
    except SizingError as error:
        raise DispatchRejected(f"cannot size: {error}", payload["explain"]) from None


def _unit_price(ctx: DispatchContext, payload: Payload, trade: str) -> Decimal:
    """What one share or contract will cost: the limit the order will carry for an
    option, the ask (buy) or bid (sell) for stock."""
    if trade == STOCK:
        quote = payload["stock_quote"]
        return Decimal(quote["ask"] if payload["action"] == Action.BUY.value else quote["bid"])
    quote = payload["option_quote"]
    bid, ask = Decimal(quote["bid"]), Decimal(quote["ask"])
    _, limit = ctx.policy.pricing.price(Action.BUY, bid, ask, payload["ticker"])
    return limit if limit is not None else ask


def order_intent(ctx: DispatchContext, payload: Payload) -> OrderIntent:
    """The order a sized payload stands for. Options are bought to open (the right
    carries the direction) at the pricing policy's limit; stock is a market day order."""
    cid, qty = payload["client_order_id"], Decimal(payload["quantity"])
    if payload["trade"] == STOCK:
        effect = PositionEffect(payload.get("position_effect", PositionEffect.OPEN.value))
        return OrderIntent(
            cid, payload["ticker"], Action(payload["action"]), qty, position_effect=effect
        )
    quote = payload["option_quote"]
    symbol = payload["contract"]["symbol"]
    return ctx.policy.pricing.intent(
        cid, symbol, Action.BUY, qty, Decimal(quote["bid"]), Decimal(quote["ask"])
    )


def submit_order(ctx: DispatchContext, payload: Payload) -> Payload:
    """Place the order once. With the kill switch on, nothing is sent: a duplicate of
    this step after the order went out finds that order; otherwise a terminal refusal."""
    rid, cid = payload["recommendation_id"], payload["client_order_id"]
    status, recorded = ctx.store.order_guard(rid, cid)  # one read for both checks
    if status in FAILED_ALREADY:
        raise DispatchRejected(f"recommendation already {status.value}")
    intent = order_intent(ctx, payload)
    if recorded is not None and recorded.execution_mode is ExecutionMode.SIMULATED:
        # An earlier delivery fell back to a simulated fill: the venue must never see
        # this client_order_id now, or one recommendation would trade twice.
        return with_order(payload, recorded_order(recorded, intent))
    if ctx.kill_switch.is_on():
        placed = ctx.broker.order_by_client_id(intent.client_order_id)
        if placed is None:
            raise DispatchRejected("kill switch on", payload["explain"])
        return with_order(payload, placed)
    try:
        return with_order(payload, ctx.broker.submit(intent))
    except OrderRejected as refused:  # the venue said no: an order record all the same
        return refused_order(ctx, payload, intent, refused)


def refused_order(
    ctx: DispatchContext, payload: Payload, intent: OrderIntent, refused: OrderRejected
) -> Payload:
    """The payload of an order the venue refused (insufficient buying power, say): it is
    persisted as a ``rejected`` execution with the venue's code and message, and the
    recommendation ends rejected with them (``dispatch_records``)."""
    mode = getattr(ctx.broker, "execution_mode", ExecutionMode.PAPER)  # the real broker's
    order = BrokerOrder(
        id="",  # the venue gave it none
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=intent.side,
        qty=intent.qty,
        order_type=intent.order_type,
        status=ExecutionStatus.REJECTED,
        broker_status="refused",
        broker=BrokerName.ALPACA,
        execution_mode=mode,
        limit_price=intent.limit_price,
        position_intent=intent.position_intent,
    )
    refusal = {
        "error": f"{type(refused).__name__}: {refused}",
        "status": refused.status,
        "code": refused.code,
        "message": refused.message,
    }
    return {**with_order(payload, order), "refusal": refusal}


def recorded_order(recorded: Execution, intent: OrderIntent) -> BrokerOrder:
    """The order an execution row already stands for, as the next step expects it."""
    return BrokerOrder(
        id=recorded.broker_order_id or recorded.client_order_id,
        client_order_id=recorded.client_order_id,
        symbol=intent.symbol,
        side=intent.side,
        qty=recorded.quantity or intent.qty,
        order_type=intent.order_type,
        status=recorded.status,
        broker_status=recorded.status.value,
        broker=recorded.broker,
        execution_mode=recorded.execution_mode,
        limit_price=intent.limit_price,
        filled_qty=recorded.filled_qty or Decimal(0),
        filled_avg_price=recorded.filled_avg_price,
        submitted_at=recorded.submitted_at,
        filled_at=recorded.filled_at,
        position_intent=intent.position_intent,
        simulated_reason=str(recorded.explain_json.get("simulated_reason") or "recorded"),
    )


def with_order(payload: Payload, order: BrokerOrder) -> Payload:
    """``payload`` with the broker's order, for persist_execution (also what a task that
    falls back to a simulated fill after its last retry hands on)."""
    return {**payload, "order": order_to_json(order)}


def _fresh_stock_quote(ctx: DispatchContext, ticker: str) -> StockQuote:
    return _fresh(ctx, ticker, lambda: ctx.market.stock_quote(ticker))


def _fresh(ctx: DispatchContext, symbol: str, fetch: Callable[[], Q | None], explain=None) -> Q:
    """``fetch()``, asked once more when it has no quote or one older than the limit;
    still none or still too old is a refusal."""
    limit = ctx.policy.quote_max_age_s
    quote = fetch()
    if quote is None or _age(ctx, quote.time) > limit:
        quote = fetch()
    if quote is None:
        raise DispatchRejected(f"no quote for {symbol}", explain)
    age = _age(ctx, quote.time)
    if age > limit:
        raise DispatchRejected(f"{symbol} quote {age:.0f} s old > {limit:g} s", explain)
    return quote


def _quoted_recently(ctx: DispatchContext, payload: Payload) -> bool:
    at = payload.get("quoted_at")
    if at is None:
        return False
    elapsed = _age(ctx, datetime.fromisoformat(at))
    return 0 <= elapsed < ctx.policy.requote_after_s


def _spot(quote: StockQuote) -> Decimal:
    """Mid of a two-sided quote, else whichever side is quoted."""
    if quote.bid > 0 and quote.ask >= quote.bid:
        return quote.mid
    if quote.ask > 0:
        return quote.ask
    if quote.bid > 0:
        return quote.bid
    raise DispatchRejected(f"no quote for {quote.symbol} ({quote.bid} x {quote.ask})")


def _age(ctx: DispatchContext, at) -> float:
    return (ctx.now() - at).total_seconds()


def _strategy(payload: Payload) -> StrategyType | None:
    value = payload.get("strategy")
    return None if value is None else StrategyType(value)


__all__ = [
    "fetch_chain",
    "order_intent",
    "select_contract",
    "size_position",
    "snapshot_price",
    "submit_order",
    "with_order",
]
