"""Explicit maps between alpaca-py's models and strikeflow's domain types, both ways.

Every translation the adapter makes is here, one function per model, so a change in
Alpaca's payloads is a change in one place. Money becomes Decimal through ``str`` (never
through binary float arithmetic): Alpaca sends trading money as strings and market
data as floats.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from enum import Enum
from typing import Any

from alpaca.data.models import Bar, Quote
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.enums import (
    ContractType,
    OrderSide,
    OrderStatus,
    PositionIntent,
    TimeInForce,
)
from alpaca.trading.enums import (
    OrderType as AlpacaOrderType,
)
from alpaca.trading.models import Clock, Order, Position, TradeAccount
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    ReplaceOrderRequest,
)

from strikeflow.broker_adapters.alpaca.listings import ListedContract
from strikeflow.domain.enums import (
    Action,
    BarTimeframe,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    OrderType,
    Right,
)
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import MarketClock, OptionQuote, StockBar, StockQuote
from strikeflow.domain.models import Greeks, OptionContract
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.orders import AccountSnapshot, BrokerOrder, OrderIntent, PositionSnapshot
from strikeflow.domain.venue_activity import VenueActivity

SESSION_END = time_of_day(16, 0)  # a non-trade activity without an instant: its day's close

ORDER_STATUS: Mapping[OrderStatus, ExecutionStatus] = {
    OrderStatus.PENDING_NEW: ExecutionStatus.SUBMITTED,
    OrderStatus.PENDING_REVIEW: ExecutionStatus.SUBMITTED,
    OrderStatus.NEW: ExecutionStatus.ACCEPTED,
    OrderStatus.ACCEPTED: ExecutionStatus.ACCEPTED,
    OrderStatus.ACCEPTED_FOR_BIDDING: ExecutionStatus.ACCEPTED,
    OrderStatus.CALCULATED: ExecutionStatus.ACCEPTED,
    OrderStatus.HELD: ExecutionStatus.ACCEPTED,
    OrderStatus.PENDING_CANCEL: ExecutionStatus.ACCEPTED,
    OrderStatus.PENDING_REPLACE: ExecutionStatus.ACCEPTED,
    OrderStatus.STOPPED: ExecutionStatus.ACCEPTED,
    OrderStatus.PARTIALLY_FILLED: ExecutionStatus.PARTIALLY_FILLED,
    OrderStatus.FILLED: ExecutionStatus.FILLED,
    # Done for today, worked again at the next open (a gtc order between sessions).
    OrderStatus.DONE_FOR_DAY: ExecutionStatus.ACCEPTED,
    OrderStatus.CANCELED: ExecutionStatus.CANCELED,
    OrderStatus.EXPIRED: ExecutionStatus.CANCELED,
    # Final for this order; the replacing one (its ``replaced_by``) carries on.
    OrderStatus.REPLACED: ExecutionStatus.REPLACED,
    OrderStatus.REJECTED: ExecutionStatus.REJECTED,
    OrderStatus.SUSPENDED: ExecutionStatus.REJECTED,
}
SIDE_TO_ALPACA: Mapping[Action, OrderSide] = {
    Action.BUY: OrderSide.BUY,
    Action.SELL: OrderSide.SELL,
}
SIDE_FROM_ALPACA: Mapping[OrderSide, Action] = {v: k for k, v in SIDE_TO_ALPACA.items()}
TYPE_FROM_ALPACA: Mapping[AlpacaOrderType, OrderType] = {
    AlpacaOrderType.MARKET: OrderType.MARKET,
    AlpacaOrderType.LIMIT: OrderType.LIMIT,
}
TIMEFRAME_TO_ALPACA: Mapping[BarTimeframe, TimeFrame] = {
    BarTimeframe.MINUTE: TimeFrame.Minute,
    BarTimeframe.HOUR: TimeFrame.Hour,
    BarTimeframe.DAY: TimeFrame.Day,
}
RIGHT_TO_ALPACA: Mapping[Right, ContractType] = {
    Right.CALL: ContractType.CALL,
    Right.PUT: ContractType.PUT,
}

STANDARD_MULTIPLIER = 100  # shares per contract, OCC's standard


def money(value: Any) -> Decimal | None:
    """A Decimal from Alpaca's string or float money; None stays None."""
    if value is None or value == "":
        return None
    return Decimal(str(value))


def _name(value: Any) -> str:
    return value.value if isinstance(value, Enum) else str(value)


# --- trading: domain -> Alpaca ------------------------------------------------------


def order_request(intent: OrderIntent) -> OrderRequest:
    common: dict[str, Any] = {
        "symbol": intent.symbol,
        "qty": float(intent.qty),
        "side": SIDE_TO_ALPACA[intent.side],
        "time_in_force": TimeInForce(intent.time_in_force),
        "client_order_id": intent.client_order_id,
    }
    if intent.position_intent is not None:
        common["position_intent"] = PositionIntent(intent.position_intent)
    if intent.order_type is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=float(intent.limit_price), **common)
    return MarketOrderRequest(**common)


# --- trading: Alpaca -> domain ------------------------------------------------------


def broker_order(order: Order, mode: ExecutionMode) -> BrokerOrder:
    kind = order.order_type or order.type
    filled = money(order.filled_qty) or Decimal(0)
    status = ORDER_STATUS[order.status]
    if status is ExecutionStatus.ACCEPTED and filled > 0:  # done for the day, part filled
        status = ExecutionStatus.PARTIALLY_FILLED
    return BrokerOrder(
        id=str(order.id),
        client_order_id=order.client_order_id,
        symbol=order.symbol or "",
        side=SIDE_FROM_ALPACA[order.side],
        qty=money(order.qty) or Decimal(0),
        order_type=TYPE_FROM_ALPACA.get(kind, OrderType.MARKET),
        status=status,
        broker_status=_name(order.status),
        broker=BrokerName.ALPACA,
        execution_mode=mode,
        limit_price=money(order.limit_price),
        filled_qty=filled,
        filled_avg_price=money(order.filled_avg_price),
        submitted_at=order.submitted_at,
        filled_at=order.filled_at,
        position_intent=None if order.position_intent is None else _name(order.position_intent),
        replaces=None if order.replaces is None else str(order.replaces),
        replaced_by=None if order.replaced_by is None else str(order.replaced_by),
    )


def replace_request(
    qty: Decimal, limit_price: Decimal, client_order_id: str
) -> ReplaceOrderRequest:
    """A replace of a limit order: the new total quantity (the venue's new order carries
    what the old one filled and works the rest), limit and client_order_id."""
    return ReplaceOrderRequest(
        qty=int(qty), limit_price=float(limit_price), client_order_id=client_order_id
    )


def account_snapshot(account: TradeAccount) -> AccountSnapshot:
    zero = Decimal(0)
    level = account.options_trading_level
    if level is None:
        level = account.options_approved_level
    return AccountSnapshot(
        account_id=str(account.id),
        status=_name(account.status),
        cash=money(account.cash) or zero,
        buying_power=money(account.buying_power) or zero,
        options_buying_power=money(account.options_buying_power) or zero,
        equity=money(account.equity) or zero,
        options_level=level,
    )


def position_snapshot(position: Position) -> PositionSnapshot:
    qty = money(position.qty) or Decimal(0)
    if _name(position.side) == "short" and qty > 0:
        qty = -qty
    return PositionSnapshot(
        symbol=position.symbol,
        qty=qty,
        avg_entry_price=money(position.avg_entry_price) or Decimal(0),
        market_value=money(position.market_value),
        unrealized_pl=money(position.unrealized_pl),
    )


def market_clock(clock: Clock) -> MarketClock:
    return MarketClock(clock.timestamp, clock.is_open, clock.next_open, clock.next_close)


# --- market data: Alpaca -> domain --------------------------------------------------


def stock_quote(quote: Quote) -> StockQuote:
    return StockQuote(
        symbol=quote.symbol,
        bid=money(quote.bid_price),
        ask=money(quote.ask_price),
        bid_size=int(quote.bid_size),
        ask_size=int(quote.ask_size),
        time=quote.timestamp,
    )


def stock_bar(bar: Bar) -> StockBar:
    return StockBar(
        symbol=bar.symbol,
        time=bar.timestamp,
        open=money(bar.open),
        high=money(bar.high),
        low=money(bar.low),
        close=money(bar.close),
        volume=int(bar.volume),
        vwap=money(bar.vwap),
        trades=None if bar.trade_count is None else int(bar.trade_count),
    )


# Option market data arrives as raw JSON (the clients are built with raw_data=True):
# building alpaca-py's models for hundreds of snapshots cost more than the request, and
# its OptionsSnapshot drops ``dailyBar``, the only place Alpaca reports option volume.
# A reply missing a required key is malformed, as a model would have found it.


@contextmanager
def malformed(what: str) -> Iterator[None]:
    """KeyError/TypeError/bad numbers in a raw reply become a ValueError naming ``what``
    (which ``errors.translated`` reports as a malformed reply)."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ArithmeticError) as error:
        raise ValueError(f"malformed {what}: {type(error).__name__} {error}") from None


def timestamp(value: Any) -> datetime:
    """RFC 3339 as Alpaca sends it (``Z``, up to nanoseconds, cut to microseconds),
    timezone-aware; anything else is malformed."""
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return when


def greeks(raw: Mapping[str, Any] | None) -> Greeks | None:
    if not raw:
        return None
    return Greeks(
        delta=float(raw["delta"]),
        gamma=float(raw["gamma"]),
        theta=float(raw["theta"]),
        vega=float(raw["vega"]),
        rho=float(raw["rho"]),
    )


def option_quote(symbol: str, snapshot: Mapping[str, Any]) -> OptionQuote | None:
    """A raw snapshot's quote, trade, IV, Greeks and daily volume; None when the snapshot
    has no quote (a contract that cannot be priced)."""
    with malformed(f"snapshot of {symbol}"):
        quote = snapshot.get("latestQuote")
        if not quote:
            return None
        trade = snapshot.get("latestTrade")
        bar = snapshot.get("dailyBar")
        iv = snapshot.get("impliedVolatility")
        return OptionQuote(
            symbol=symbol,
            bid=money(quote["bp"]) or Decimal(0),
            ask=money(quote["ap"]) or Decimal(0),
            bid_size=int(quote["bs"]),
            ask_size=int(quote["as"]),
            time=timestamp(quote["t"]),
            last=money(trade["p"]) if trade else None,
            implied_vol=None if iv is None else float(iv),
            greeks=greeks(snapshot.get("greeks")),
            volume=int(bar["v"]) if bar else None,
        )


def listed_contract(raw: Mapping[str, Any]) -> ListedContract:
    """One raw /v2/options/contracts entry; its symbol is parsed strictly (OCC)."""
    with malformed("option contract"):
        occ = parse_occ(raw["symbol"])
        open_interest = raw.get("open_interest")
        return ListedContract(
            symbol=raw["symbol"],
            underlying=raw["underlying_symbol"],
            expiration=occ.expiration,
            right=occ.right,
            strike=occ.strike,
            open_interest=int(open_interest) if open_interest else 0,
            multiplier=_multiplier(raw),
        )


def _multiplier(raw: Mapping[str, Any]) -> int:
    """Shares a contract delivers, from ``multiplier``: an adjusted contract (after a
    split or a merger) delivers other than 100, while its ``size`` still says 100. A
    listing that sends no ``multiplier`` lists standard contracts only."""
    multiplier = raw.get("multiplier")
    return STANDARD_MULTIPLIER if multiplier is None else int(Decimal(str(multiplier)))


def option_contract(listed: ListedContract, quote: OptionQuote) -> OptionContract:
    """A listed contract merged with its latest quote."""
    return OptionContract(
        symbol=listed.symbol,
        underlying=listed.underlying,
        expiration=listed.expiration,
        right=listed.right,
        strike=listed.strike,
        bid=quote.bid,
        ask=quote.ask,
        last=quote.last,
        volume=quote.volume or 0,
        open_interest=listed.open_interest,
        implied_vol=quote.implied_vol,
        greeks=quote.greeks,
        quote_time=quote.time,
        multiplier=listed.multiplier,
    )


def venue_activity(raw: Mapping[str, Any]) -> VenueActivity:
    """An account activity in either of Alpaca's shapes: a trade activity (``FILL``:
    ``transaction_time``, ``side``, ``order_id``) or a non-trade one (``date`` and
    ``net_amount``; its instant is the New York time the id starts with,
    ``YYYYMMDDHHMMSSmmm::<uuid>``, else the end of its day's session)."""
    with malformed("activity"):
        kind = str(raw["activity_type"]).upper()
        activity_id = str(raw["id"])
        if raw.get("transaction_time"):
            at = timestamp(raw["transaction_time"])
        else:
            at = _activity_instant(activity_id, str(raw["date"]))
        return VenueActivity(
            id=activity_id,
            kind=kind,
            at=at,
            symbol=str(raw.get("symbol") or ""),
            qty=abs(Decimal(str(raw.get("qty") or 0))),
            price=money(raw.get("price")),
            net_amount=money(raw.get("net_amount")),
            side=None if raw.get("side") is None else _name(raw["side"]).lower(),
            order_id=None if raw.get("order_id") is None else str(raw["order_id"]),
            description=raw.get("description"),
        )


def _activity_instant(activity_id: str, day: str) -> datetime:
    stamp = activity_id.split("::", 1)[0]
    if len(stamp) == 17 and stamp.isdigit():
        local = datetime.strptime(stamp[:14], "%Y%m%d%H%M%S").replace(
            microsecond=int(stamp[14:]) * 1000, tzinfo=NEW_YORK
        )
        return local.astimezone(UTC)
    return datetime.combine(date.fromisoformat(day[:10]), SESSION_END, NEW_YORK).astimezone(UTC)
