"""The steps from a recommendation to a placed order, each a function of one message.

Each step takes the previous step's message (``services.messages``) and returns the
next one; none writes anything but select_contract, which stores the selection's report
once (whoever sends a chain marks it DISPATCHED: ``services.chain_sending``), so running a
step twice costs a repeated read and nothing else. Refusals for good raise
``DispatchRejected``; broker and market failures propagate as their domain errors
(``BrokerUnavailable`` is the one the task retries).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.claims import ClaimRefused
from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderPricing,
    OrderType,
    PositionEffect,
    RecommendationStatus,
    Right,
    StrategyType,
)
from strikeflow.domain.errors import (
    BrokerError,
    BrokerUnavailable,
    ChainSuperseded,
    DispatchRejected,
    NoEligibleContract,
    OrderRejected,
    SizingError,
)
from strikeflow.domain.expiry import NEW_YORK, trading_date
from strikeflow.domain.market import ExpiryWindow, OptionQuote, StockQuote, StrikeBand
from strikeflow.domain.models import OptionContract
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import BrokerOrder, OrderIntent
from strikeflow.domain.records import Execution
from strikeflow.domain.risk import check_risk, order_greeks
from strikeflow.domain.selection import STRATEGY_WINDOWS, SelectionPolicy
from strikeflow.domain.selection import select_contract as select_from_chain
from strikeflow.domain.sizing import PositionSize
from strikeflow.domain.sizing import size_position as size_from_budget
from strikeflow.domain.working import Purpose, final_price, price_at_step
from strikeflow.services.beside import beside, settled
from strikeflow.services.chain_reads import cut, guessed_band
from strikeflow.services.dispatch_close import close_long, opens_a_short
from strikeflow.services.dispatch_policy import DispatchContext
from strikeflow.services.messages import (
    BuyingPower,
    ChainFetched,
    ContractSelected,
    Fallback,
    Notes,
    PlacedOrder,
    PriceCheck,
    PriceChecked,
    Refusal,
    Reselection,
    SizedOrder,
    Sizing,
    Ticket,
    as_json,
)
from strikeflow.services.ports import OrderFallback, OrderGuard
from strikeflow.services.spot_hints import remember_spots, remembered_spot

Q = TypeVar("Q", StockQuote, OptionQuote)
log = logging.getLogger(__name__)
FAILED_ALREADY = (RecommendationStatus.REJECTED, RecommendationStatus.FAILED)
# How far past its DTE window a chain with no expiry in it is asked about again, so the
# fallback can name the nearest expiry listed (a monthly cycle fits with room to spare).
LOOK_AHEAD_DAYS = 45


def fetch_chain(
    ctx: DispatchContext, recommendation_id: str, reselection: Reselection | None = None
) -> ChainFetched:
    """The recommendation, the underlying's quote, and (options) the chain of its right
    in the strategy's DTE window and the strikes its target can pick
    (``StrikeTarget.strikes_to_fetch``; for a delta target, a band around spot); nothing
    wider travels. With ``reselection``, the same after snapshot_price saw a move."""
    rec = ctx.store.get_recommendation(recommendation_id)
    if rec is None:
        raise DispatchRejected(f"unknown recommendation {recommendation_id!r}")
    if rec.status.terminal:
        raise DispatchRejected(f"recommendation already {rec.status.value}")
    if rec.source.closes:  # its chain is the closing chain (``tasks.chains.chain_for_close``)
        raise DispatchRejected(f"{rec.id} is a close: it is not an entry's to open")
    ticket = Ticket(
        recommendation_id=rec.id,
        ticker=rec.ticker,
        action=rec.action,
        instrument=rec.instrument_type,
        strategy=rec.strategy_type,
        confidence=rec.confidence,
    )
    option = ticket.instrument is not InstrumentType.STOCK
    today = trading_date(ctx.now())
    window = STRATEGY_WINDOWS[ticket.strategy or StrategyType.DAY_TRADE]
    expiries = ExpiryWindow.days_ahead(today, window.min_days, window.max_days)
    right = ticket.instrument.right if option else None
    hint = remembered_spot(ctx.shared, ticket.ticker, ctx.now()) if option else None
    guess = None if right is None else guessed_band(ctx, ticket.strategy, right, hint)
    # The reads go out at once (chain_reads): the account, and the chain drawn around
    # the last spot seen, beside the quote this thread waits for.
    account = beside(buying_power, ctx)
    early = None
    if guess is not None:
        early = beside(ctx.market.option_chain, ticket.ticker, expiries, guess, right)
    quote = _fresh_stock_quote(ctx, ticket.ticker)
    spot = _spot(quote)
    remember_spots(ctx.shared, {ticket.ticker: spot}, ctx.now())
    fetched = ChainFetched(
        ticket=ticket,
        underlying=quote,
        quoted_at=ctx.now(),
        reselects=0 if reselection is None else reselection.reselects,
        notes=Notes() if reselection is None else reselection.notes,
        account=settled(account),
    )
    if right is None:
        return fetched
    band = ctx.policy.strikes_to_fetch(ticket.strategy, spot, right)
    chain = cut(settled(early), guess, band)
    if chain is None:  # no hint, a spot outside its margin, or the early read failed
        log.info(
            "fetch_chain %s: chain read after the quote (spot %s, hint %s)",
            ticket.recommendation_id,
            spot,
            hint,
        )
        chain = ctx.market.option_chain(ticket.ticker, expiries, band, right)
    if chain:
        return fetched.model_copy(update={"chain": tuple(chain)})
    nearest, through = _nearest_listed(ctx, ticket.ticker, spot, right, today, expiries)
    return fetched.model_copy(update={"chain": tuple(nearest), "listed_through": through})


def buying_power(ctx: DispatchContext) -> BuyingPower:
    """The account's buying power, read now, with the time it was read."""
    account = ctx.broker.account()
    return BuyingPower(
        buying_power=account.buying_power,
        options_buying_power=account.options_buying_power,
        read_at=ctx.now(),
    )


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


def select_contract(ctx: DispatchContext, fetched: ChainFetched) -> ContractSelected:
    """The domain's choice among the fetched contracts; with none eligible, the stock
    (when the policy allows). The selection's report (every candidate and its reasons)
    is stored here, once, on the recommendation."""
    ticket = fetched.ticket
    selected = ContractSelected(
        ticket=ticket,
        underlying=fetched.underlying,
        quoted_at=fetched.quoted_at,
        trade=ticket.instrument,
        reselects=fetched.reselects,
        notes=fetched.notes,
        account=fetched.account,
    )
    if ticket.instrument is InstrumentType.STOCK:
        return selected
    strategy = ticket.strategy or StrategyType.DAY_TRADE
    policy = SelectionPolicy(
        right=ticket.instrument.right,
        window=STRATEGY_WINDOWS[strategy],
        strike=ctx.policy.strike_for(ticket.strategy),
        liquidity=ctx.policy.liquidity,
        standard_only=not ctx.policy.adjusted_contracts,
    )
    try:
        chosen = select_from_chain(
            OptionChain.from_contracts(list(fetched.chain)),
            float(_spot(fetched.underlying)),
            ctx.now(),
            policy,
            underlying=ticket.ticker,
            listed_through=fetched.listed_through,
        )
    except NoEligibleContract as none:
        ctx.store.record_selection(ticket.recommendation_id, as_json(none.explain))
        reason = f"no eligible contract: {none}"
        if not ctx.policy.stock_fallback:
            raise DispatchRejected(reason, fetched.notes.record()) from None
        fallback = Fallback(reason=reason, counts=none.counts)
        notes = fetched.notes.model_copy(update={"fallback": fallback})
        return selected.model_copy(update={"trade": InstrumentType.STOCK, "notes": notes})
    ctx.store.record_selection(ticket.recommendation_id, as_json(chosen.explain()))
    return selected.model_copy(update={"contract": chosen.chosen})


def snapshot_price(ctx: DispatchContext, selected: ContractSelected) -> PriceChecked | Reselection:
    """Fresh quotes (refetched once when older than the limit); a move of the underlying
    beyond ``max_price_move`` since selection is a refusal, or for an option with
    re-selections left, a ``Reselection``: the decision, recorded in the notes, to fetch
    and select again (the task sends fetch_chain with it; this step fetches no chain).

    The quotes fetch_chain took are used again when this step runs less than
    ``requote_after_s`` after them (and they pass the freshness limit): asking again a
    few milliseconds later would cost a round trip to learn the same price. Later than
    that (a backlog, a retry), both are fetched anew and the move is checked against them.
    """
    ticket = selected.ticket
    recent = 0 <= _age(ctx, selected.quoted_at) < ctx.policy.requote_after_s
    stock = selected.underlying if recent else None
    if stock is None or _age(ctx, stock.time) > ctx.policy.quote_max_age_s:
        stock = _fresh_stock_quote(ctx, ticket.ticker)
    before, spot = _spot(selected.underlying), _spot(stock)
    move = abs(spot - before) / before
    limit = ctx.policy.max_price_move
    if move > limit:
        why = f"{ticket.ticker} moved {move:.2%} since selection ({before} → {spot}) > {limit:.2%}"
        can_reselect = (
            selected.trade is not InstrumentType.STOCK
            and selected.reselects < ctx.policy.max_reselects
        )
        if not can_reselect:
            raise DispatchRejected(f"price moved: {why}", selected.notes.record())
        previous = None if selected.contract is None else selected.contract.symbol
        check = PriceCheck(moved=why, previous=previous)
        checks = (*selected.notes.price_checks, check)
        return Reselection(
            recommendation_id=ticket.recommendation_id,
            reselects=selected.reselects + 1,
            notes=selected.notes.model_copy(update={"price_checks": checks}),
        )
    checked = PriceChecked(
        ticket=ticket,
        trade=selected.trade,
        contract=selected.contract,
        underlying=stock,
        notes=selected.notes,
        account=selected.account,
    )
    if selected.contract is None:
        return checked
    symbol = selected.contract.symbol
    quote = _quote_of(selected.contract) if recent else None
    if quote is None or _age(ctx, quote.time) > ctx.policy.quote_max_age_s:
        fetch = lambda: ctx.market.option_snapshots([symbol]).get(symbol)  # noqa: E731
        quote = _fresh(ctx, symbol, fetch, selected.notes)
    if not (quote.ask > 0 and quote.ask >= quote.bid):
        raise DispatchRejected(f"no two-sided quote for {symbol} ({quote.bid} x {quote.ask})")
    return checked.model_copy(update={"option_quote": quote})


def size_position(ctx: DispatchContext, checked: PriceChecked) -> SizedOrder:
    """Quantity from buying power (zero: stock fallback or rejection), then the risk
    checks on the resulting order cost, kill switch included. A stock SELL closes the
    long position held, or is refused when none is (no shorting: ``dispatch_close``).
    First of all, the market hours (``refuse_when_closed``): the last step before an
    order is sent, and the one where every refusal of a trade's terms is made. The order
    decided is stored (``decided``): submit_order sends that order or nothing."""
    return decided(ctx, _size_position(ctx, checked))


def _size_position(ctx: DispatchContext, checked: PriceChecked) -> SizedOrder:
    notes, trade = checked.notes, checked.trade
    refuse_when_closed(ctx, notes)
    if opens_a_short(ctx, checked.ticket, trade):
        return close_long(ctx, checked, notes)
    account = checked.account
    if account is None or not 0 <= _age(ctx, account.read_at) <= ctx.policy.quote_max_age_s:
        account = buying_power(ctx)
    size = _size(ctx, checked, trade, account.buying_power, account.options_buying_power)
    if size.quantity == 0 and trade is not InstrumentType.STOCK and ctx.policy.stock_fallback:
        notes = notes.model_copy(
            update={
                "fallback": Fallback(reason=f"zero contracts: {size.reason}"),
                "option_sizing": size.describe(),
            }
        )
        trade = InstrumentType.STOCK
        if opens_a_short(ctx, checked.ticket, trade):
            return close_long(ctx, checked, notes)
        size = _size(ctx, checked, trade, account.buying_power, account.options_buying_power)
    if size.quantity == 0:
        raise DispatchRejected(f"size 0: {size.reason}", notes.record())
    notes = notes.model_copy(update={"sizing": sizing_note(size)})
    now = ctx.now()
    exposure, realized_loss = ctx.store.risk_state(now)
    contract = checked.contract if trade is not InstrumentType.STOCK else None
    option_greeks, multiplier = (
        (None, None) if contract is None else (contract.greeks, contract.multiplier)
    )
    order_delta, order_vega = order_greeks(
        option_greeks, size.quantity, checked.ticket.action, multiplier
    )
    check = check_risk(
        ctx.policy.risk,
        ticker=checked.ticket.ticker,
        strategy=checked.ticket.strategy,
        order_cost=size.cost,
        exposure=exposure,
        realized_loss_today=realized_loss,
        now=now,
        kill_switch_on=ctx.kill_switch.is_on(),
        order_delta=order_delta,
        order_vega=order_vega,
    )
    notes = notes.model_copy(update={"risk": check.to_json()})
    if not check.allowed:
        raise DispatchRejected(f"risk: {check.reason()}", notes.record())
    option = trade is not InstrumentType.STOCK
    return SizedOrder(
        ticket=checked.ticket,
        trade=trade,
        contract=checked.contract if option else None,
        option_quote=checked.option_quote if option else None,
        quantity=Decimal(size.quantity),
        order_cost=size.cost,
        notes=notes,
    )


def refuse_when_closed(ctx: DispatchContext, notes: Notes) -> None:
    """Under ``off_hours="refuse"``, no order, opening or closing, leaves while the
    market is closed: the venue would hold it until the open, at a price nobody chose.
    Under ``queue`` it is sent and the venue holds it. The session comes from a cached
    clock reading (``MarketHours``): no round trip per order."""
    if ctx.policy.off_hours != "refuse":
        return
    session = ctx.market_clock()
    if session.is_open:
        return
    opens = session.next_open.astimezone(NEW_YORK)
    explain = {
        **notes.record(),
        "off_hours": {"policy": "refuse", "next_open": session.next_open.isoformat()},
    }
    raise DispatchRejected(
        f"market closed: off_hours=refuse sends no order outside market hours;"
        f" next open {opens:%a %Y-%m-%d %H:%M} New York",
        explain,
    )


def sizing_note(size: PositionSize) -> Sizing:
    return Sizing(
        describe=size.describe(),
        quantity=size.quantity,
        unit_cost=size.unit_cost,
        budget=size.budget,
        fraction=size.fraction,
        basis=size.basis,
        buying_power=size.buying_power,
    )


def _size(ctx: DispatchContext, checked: PriceChecked, trade: InstrumentType, power, options_power):
    try:
        return size_from_budget(
            instrument=trade,
            strategy=checked.ticket.strategy,
            confidence=Decimal(str(checked.ticket.confidence)),
            price=_unit_price(ctx, checked, trade),
            buying_power=power,
            options_buying_power=options_power,
            policy=ctx.policy.sizing,
            **_contract_multiplier(checked, trade),
        )
    except SizingError as error:
        raise DispatchRejected(f"cannot size: {error}", checked.notes.record()) from None


def _contract_multiplier(checked: PriceChecked, trade: InstrumentType) -> dict[str, int]:
    """An option is sized by its own contract's shares (an adjusted one may deliver other
    than 100); stock by the share."""
    if trade is InstrumentType.STOCK or checked.contract is None:
        return {}
    return {"multiplier": checked.contract.multiplier}


def _unit_price(ctx: DispatchContext, checked: PriceChecked, trade: InstrumentType) -> Decimal:
    """What one share or contract will cost: the limit the order will carry for an
    option, the ask (buy) or bid (sell) for stock."""
    if trade is InstrumentType.STOCK or checked.option_quote is None:
        quote = checked.underlying
        return quote.ask if checked.ticket.action is Action.BUY else quote.bid
    quote = checked.option_quote
    if worked(ctx):  # the furthest the ladder may walk: what the order may cost
        policy = ctx.policy.working.policy(checked.ticket.strategy, Purpose.ENTRY)
        limit = final_price(policy, quote, Action.BUY, underlying=checked.ticket.ticker)
        return limit if limit is not None else quote.ask
    _, limit = ctx.policy.pricing.price(Action.BUY, quote.bid, quote.ask, checked.ticket.ticker)
    return limit if limit is not None else quote.ask


def worked(ctx: DispatchContext) -> bool:
    """Whether option orders are worked (STRIKEFLOW_OPTION_ORDER_PRICING=worked)."""
    return ctx.policy.pricing.mode is OrderPricing.WORKED


def order_intent(ctx: DispatchContext, sized: SizedOrder) -> OrderIntent:
    """The order a sized message stands for. Options are bought to open (the right
    carries the direction) at the pricing policy's limit; stock is a market day order.
    A close (``closes``) sells what is held: an option to close at the policy's limit for
    a sale, stock at market."""
    ticket = sized.ticket
    if sized.closes is not None:
        return _close_intent(ctx, sized)
    if sized.contract is None or sized.option_quote is None:
        return OrderIntent(
            ticket.client_order_id,
            ticket.ticker,
            ticket.action,
            sized.quantity,
            position_effect=sized.position_effect,
        )
    quote = sized.option_quote
    if worked(ctx):
        return _worked_intent(ctx, sized, sized.contract.symbol, Action.BUY)
    return ctx.policy.pricing.intent(
        ticket.client_order_id,
        sized.contract.symbol,
        Action.BUY,
        sized.quantity,
        quote.bid,
        quote.ask,
    )


def _worked_intent(
    ctx: DispatchContext, sized: SizedOrder, symbol: str, side: Action
) -> OrderIntent:
    """A worked order's first order: the ladder's first step of its purpose's policy (an
    entry's, an exit's, an urgent exit's), priced from the quote at decision
    (``domain.working``); a market policy sends a market order. Its later steps replace
    it (``services.working_orders``)."""
    ticket, quote = sized.ticket, sized.option_quote
    policy = ctx.policy.working.policy(ticket.strategy, sized.purpose)
    limit = price_at_step(policy, quote, quote, 0, side, underlying=parse_occ(symbol).root)
    kind = OrderType.MARKET if limit is None else OrderType.LIMIT
    return OrderIntent(
        ticket.client_order_id,
        symbol,
        side,
        sized.quantity,
        kind,
        limit,
        position_effect=sized.position_effect,
    )


def _close_intent(ctx: DispatchContext, sized: SizedOrder) -> OrderIntent:
    cid, symbol = sized.ticket.client_order_id, sized.closes.symbol
    quote = sized.option_quote
    if quote is None:
        return OrderIntent(
            cid, symbol, Action.SELL, sized.quantity, position_effect=PositionEffect.CLOSE
        )
    if worked(ctx):
        return _worked_intent(ctx, sized, symbol, Action.SELL)
    return ctx.policy.pricing.intent(
        cid, symbol, Action.SELL, sized.quantity, quote.bid, quote.ask, PositionEffect.CLOSE
    )


def decided(ctx: DispatchContext, sized: SizedOrder) -> SizedOrder:
    """``sized``, once the order it stands for is stored on its recommendation
    (``decision_of``): every sizing step (size_position, size_close) ends here, after the
    last refusal it can make. A recommendation no longer in flight (ended, or unknown)
    takes no decision: a refusal. A close claims what it closes there: one asking for
    more than its entry holds beside the other closes of it is refused, with the figures
    (``domain.claims``)."""
    rid = sized.ticket.recommendation_id
    kept = ctx.store.record_decision(rid, decision_of(order_intent(ctx, sized), sized))
    if isinstance(kept, ClaimRefused):
        raise DispatchRejected(kept.describe(), sized.notes.record())
    if not kept:
        raise DispatchRejected(f"recommendation {rid} is not in flight: no order is sized for it")
    return sized


def decision_of(intent: OrderIntent, sized: SizedOrder) -> dict[str, str]:
    """The order a sizing step decided, as text: every term the venue receives (the
    recommendation's own client_order_id, symbol, side, quantity, type, limit, time in
    force, position effect) and the entry a close closes (its row and its P&L follow it).
    Stored by the sizing step, compared by submit_order (``refusal_of``,
    ``sized_differences``)."""
    return {
        "client_order_id": intent.client_order_id,
        "symbol": intent.symbol,
        "side": intent.side.value,
        "qty": _plain(intent.qty),
        "order_type": intent.order_type.value,
        "limit_price": "" if intent.limit_price is None else _plain(intent.limit_price),
        "time_in_force": intent.time_in_force,
        "position_effect": intent.position_effect.value,
        "closes": "" if sized.closes is None else str(sized.closes.execution_id),
    }


def refusal_of(guard: OrderGuard, sent: dict[str, str]) -> str | None:
    """Why submit_order must not send ``sent`` (None: it may): the recommendation is not
    in flight, or no order was sized for it. The message is never trusted: what the
    database holds decides (``sized_differences``)."""
    if guard.status is None:
        return "unknown recommendation"
    if guard.status.terminal:
        return f"recommendation already {guard.status.value}"
    if guard.decision is None:
        return "no order was sized for this recommendation"
    return None


def sized_differences(guard: OrderGuard, sent: dict[str, str]) -> list[str]:
    """The terms in which ``sent`` differs from the order sized for the recommendation,
    each named with both values; empty when it is that order."""
    decision = guard.decision or {}
    return [
        f"{term} {sent.get(term, '')!r} (sized {decision.get(term, '')!r})"
        for term in sorted(set(sent) | set(decision))
        if sent.get(term, "") != decision.get(term, "")
    ]


def _plain(number: Decimal) -> str:
    """A Decimal as text, one spelling per value (``3`` for 3, 3.0 and 3.000000)."""
    return format(number.normalize(), "f")


def submit_order(ctx: DispatchContext, sized: SizedOrder) -> PlacedOrder:
    """Place the order once, and only the order sized for the recommendation
    (``refusal_of``): for a recommendation not in flight or never sized, a terminal
    refusal; a message that is not its decision (a run of the chain sized again after
    it, a forgery) sends nothing and ends its own run with no verdict
    (``ChainSuperseded``). With the kill switch on, nothing
    is sent: a duplicate of this step after the order went out finds that order;
    otherwise a terminal refusal."""
    rid, cid = sized.ticket.recommendation_id, sized.ticket.client_order_id
    guard = ctx.store.order_guard(rid, cid)  # one read for every check
    status, recorded = guard.status, guard.recorded
    if status in FAILED_ALREADY:
        raise DispatchRejected(f"recommendation already {status.value}")
    intent = order_intent(ctx, sized)
    if recorded is not None:
        # An earlier delivery's order is on record (at the venue, or a simulated fill the
        # venue must never see): it is the recommendation's one order, and nothing is
        # sent again; persist_execution finds the row and changes nothing.
        return PlacedOrder(sized=sized, order=recorded_order(recorded, intent))
    sent = decision_of(intent, sized)
    refusal = refusal_of(guard, sent)
    if refusal is not None:
        raise DispatchRejected(f"submit_order refused: {refusal}", sized.notes.record())
    differ = sized_differences(guard, sent)
    if differ:  # not the order decided: another run of the chain owns the outcome
        reason = "the order differs from the one sized: " + ", ".join(differ)
        raise ChainSuperseded(f"submit_order refused: {reason}", sized.notes.record())
    if ctx.kill_switch.is_on():
        placed = ctx.broker.order_by_client_id(intent.client_order_id)
        if placed is None:
            raise DispatchRejected("kill switch on", sized.notes.record())
        return PlacedOrder(sized=sized, order=placed)
    try:
        return PlacedOrder(sized=sized, order=ctx.broker.submit(intent))
    except OrderRejected as refused:  # the venue said no: an order record all the same
        return refused_order(ctx, sized, intent, refused)


def fall_back(
    ctx: DispatchContext, fallback: OrderFallback, sized: SizedOrder, failure: BrokerError
) -> PlacedOrder:
    """After submit_order's last retry on an unreachable venue: the fallback policy's
    simulated fill (recorded as such), or the failure, raised (the chain ends failed).

    The venue is asked once more first: a submit that reached it and lost its answer
    (a timeout, a 5xx after the commit) left an order there, and that order, not a
    simulated one, is the recommendation's. A simulated fill stands in only for an order
    the venue says it does not hold, or that it cannot be asked about."""
    intent = order_intent(ctx, sized)
    with contextlib.suppress(BrokerUnavailable):
        placed = ctx.broker.order_by_client_id(intent.client_order_id)
        if placed is not None:
            return PlacedOrder(sized=sized, order=placed)
    return PlacedOrder(sized=sized, order=fallback.fall_back(intent, failure))


def refused_order(
    ctx: DispatchContext, sized: SizedOrder, intent: OrderIntent, refused: OrderRejected
) -> PlacedOrder:
    """An order the venue refused (insufficient buying power, say): it is persisted as a
    ``rejected`` execution with the venue's code and message, and the recommendation
    ends rejected with them (``outcomes``)."""
    mode = getattr(ctx.broker, "execution_mode", ExecutionMode.PAPER)  # the real broker's
    order = intent.as_order(
        id="",  # the venue gave it none
        status=ExecutionStatus.REJECTED,
        broker_status="refused",
        broker=BrokerName.ALPACA,
        execution_mode=mode,
    )
    refusal = Refusal(
        error=f"{type(refused).__name__}: {refused}",
        status=refused.status,
        code=refused.code,
        message=refused.message,
    )
    return PlacedOrder(sized=sized, order=order, refusal=refusal)


def recorded_order(recorded: Execution, intent: OrderIntent) -> BrokerOrder:
    """The order an execution row already stands for, as the next step expects it: what
    was traded is the row's, not the message's."""
    simulated = recorded.execution_mode is ExecutionMode.SIMULATED
    return intent.as_order(
        id=recorded.broker_order_id or recorded.client_order_id,
        client_order_id=recorded.client_order_id,
        symbol=recorded.option_symbol or recorded.ticker,
        side=recorded.action,
        qty=recorded.quantity or intent.qty,
        status=recorded.status,
        broker_status=recorded.status.value,
        broker=recorded.broker,
        execution_mode=recorded.execution_mode,
        filled_qty=recorded.filled_qty or Decimal(0),
        filled_avg_price=recorded.filled_avg_price,
        submitted_at=recorded.submitted_at,
        filled_at=recorded.filled_at,
        simulated_reason="an earlier delivery's simulated fill" if simulated else None,
    )


def _fresh_stock_quote(ctx: DispatchContext, ticker: str) -> StockQuote:
    return _fresh(ctx, ticker, lambda: ctx.market.stock_quote(ticker))


def _fresh(
    ctx: DispatchContext, symbol: str, fetch: Callable[[], Q | None], notes: Notes | None = None
) -> Q:
    """``fetch()``, asked once more when it has no quote or one older than the limit;
    still none or still too old is a refusal."""
    limit = ctx.policy.quote_max_age_s
    explain = None if notes is None else notes.record()
    quote = fetch()
    if quote is None or _age(ctx, quote.time) > limit:
        quote = fetch()
    if quote is None:
        raise DispatchRejected(f"no quote for {symbol}", explain)
    age = _age(ctx, quote.time)
    if age > limit:
        raise DispatchRejected(f"{symbol} quote {age:.0f} s old > {limit:g} s", explain)
    return quote


fresh_stock_quote = _fresh_stock_quote  # for the closing steps
fresh_quote = _fresh


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


def _quote_of(contract: OptionContract) -> OptionQuote:
    """The quote a chain contract arrived with."""
    return OptionQuote(
        symbol=contract.symbol,
        bid=contract.bid,
        ask=contract.ask,
        bid_size=0,
        ask_size=0,
        time=contract.quote_time,
        last=contract.last,
        implied_vol=contract.implied_vol,
        greeks=contract.greeks,
        volume=contract.volume,
    )


__all__ = [
    "decided",
    "decision_of",
    "fall_back",
    "fetch_chain",
    "fresh_quote",
    "fresh_stock_quote",
    "order_intent",
    "refuse_when_closed",
    "select_contract",
    "size_position",
    "snapshot_price",
    "submit_order",
]
