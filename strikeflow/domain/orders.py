"""Orders as the domain sees them: what to send, what came back, and the account it hit.

An ``OrderIntent`` is venue-neutral and carries a deterministic ``client_order_id``: the
broker refuses a second order under the same id, which is what makes retries safe.
How an option order is priced (marketable limit, limit at mid, market) and rounded to
the option tick is decided here too, so every venue sends the same price.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderPricing,
    OrderType,
    PositionEffect,
)
from strikeflow.domain.errors import InvalidMarketData, InvalidPolicy, InvalidRecord, OrderRejected
from strikeflow.domain.money import CENT
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.records import MAX_CLIENT_ORDER_ID

CLIENT_ORDER_ID = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_CLIENT_ORDER_ID}}}")
NICKEL = Decimal("0.05")
PENNY_TICK_BELOW = Decimal(3)
# Penny Interval Program names quote in $0.01 at every price. A representative subset of
# the most traded ones; pass ``penny_names`` to OptionPricing to use the full, current list.
_PENNY_PILOT_NAMES = """
    SPY QQQ IWM DIA XLF XLE XLK GLD SLV TLT EEM EFA HYG GDX SMH AAPL MSFT NVDA TSLA AMZN
    META GOOGL GOOG AMD NFLX BAC C JPM WFC INTC MU BA DIS F GM T PFE XOM CVX KO PYPL UBER
    NIO PLTR SOFI COIN BABA
"""
PENNY_PILOT = frozenset(_PENNY_PILOT_NAMES.split())


OPEN_STATUSES = frozenset(
    {ExecutionStatus.SUBMITTED, ExecutionStatus.ACCEPTED, ExecutionStatus.PARTIALLY_FILLED}
)


def client_order_id(recommendation_id: str, purpose: str = "open") -> str:
    """The one id every attempt at this order uses: ``sf-<purpose>-<32 hex>``, <= 48 chars.

    A hash, not the recommendation id itself, so ids of any length and alphabet fit.
    """
    if not re.fullmatch(r"[a-z]{1,8}", purpose):
        raise InvalidRecord("purpose", f"must be 1-8 lowercase letters, got {purpose!r}")
    digest = hashlib.sha256(f"{recommendation_id}\x1f{purpose}".encode()).hexdigest()
    return f"sf-{purpose}-{digest[:32]}"


WORKED_SUFFIX = re.compile(r"-w([1-9][0-9]{0,2})")


def worked_client_order_id(entry_client_order_id: str, step: int) -> str:
    """The client_order_id of step ``step`` (1, 2, ...) of a worked order: the entry's
    own id and ``-w<step>`` (``sf-open-<32 hex>-w3``, at most 48 characters), so that a
    step delivered twice finds its own order at the venue instead of replacing again."""
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= 999:
        raise InvalidRecord("step", f"must be a whole number 1-999, got {step!r}")
    return f"{entry_client_order_id}-w{step}"


def entry_client_order_id(client_order_id: str) -> str:
    """The entry's own client_order_id behind a worked step's (itself for any other)."""
    base, _ = split_worked(client_order_id)
    return base


def split_worked(client_order_id: str) -> tuple[str, int]:
    """(the entry's client_order_id, the step: 0 for the entry's first order)."""
    head, dash, tail = client_order_id.rpartition("-w")
    if dash and head and WORKED_SUFFIX.fullmatch(f"-w{tail}"):
        return head, int(tail)
    return client_order_id, 0


class OrderNotReplaceable(OrderRejected):
    """The venue refused a replace because the order is no longer open (filled, canceled
    or replaced meanwhile): read the order, do not retry the replace."""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order to send. Options: whole contracts, time_in_force day, and a position
    effect (buy_to_open / sell_to_close). ``limit_price`` is set iff the type is limit."""

    client_order_id: str
    symbol: str
    side: Action
    qty: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    position_effect: PositionEffect = PositionEffect.OPEN
    time_in_force: str = "day"

    def __post_init__(self) -> None:
        if not isinstance(self.client_order_id, str) or not CLIENT_ORDER_ID.fullmatch(
            self.client_order_id
        ):
            raise InvalidRecord(
                "client_order_id",
                f"must be 1-{MAX_CLIENT_ORDER_ID} of [A-Za-z0-9._:-], got {self.client_order_id!r}",
            )
        object.__setattr__(self, "side", Action(self.side))
        object.__setattr__(self, "order_type", OrderType(self.order_type))
        object.__setattr__(self, "position_effect", PositionEffect(self.position_effect))
        if not isinstance(self.qty, Decimal) or not self.qty.is_finite() or self.qty <= 0:
            raise InvalidRecord("qty", f"must be a positive Decimal, got {self.qty!r}")
        if self.is_option and self.qty != self.qty.to_integral_value():
            raise InvalidRecord("qty", f"options trade in whole contracts, got {self.qty}")
        if (self.order_type is OrderType.LIMIT) != (self.limit_price is not None):
            raise InvalidRecord("limit_price", "is required for limit orders and only for them")
        if self.limit_price is not None and not (
            isinstance(self.limit_price, Decimal)
            and self.limit_price.is_finite()
            and self.limit_price > 0
        ):
            raise InvalidRecord(
                "limit_price", f"must be a positive Decimal, got {self.limit_price!r}"
            )
        if self.is_option and self.time_in_force != "day":
            raise InvalidRecord("time_in_force", "options orders are day orders")

    @property
    def instrument(self) -> InstrumentType:
        return instrument_of(self.symbol)

    @property
    def is_option(self) -> bool:
        return self.instrument is not InstrumentType.STOCK

    @property
    def position_intent(self) -> str | None:
        """Alpaca's position_intent for options (buy_to_open, sell_to_close, ...)."""
        if not self.is_option:
            return None
        verb = "buy" if self.side is Action.BUY else "sell"
        return f"{verb}_to_{self.position_effect.value.lower()}"

    def as_order(self, **state: Any) -> BrokerOrder:
        """The order this intent became: what was asked (id, symbol, side, quantity, type,
        limit, position intent) from the intent, the venue's state (``id``, ``status``,
        ``broker_status``, ``broker``, ``execution_mode``, fills...) from ``state``, which
        may also override the quantity."""
        asked: dict[str, Any] = {
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": self.side,
            "qty": self.qty,
            "order_type": self.order_type,
            "limit_price": self.limit_price,
            "position_intent": self.position_intent,
        }
        return BrokerOrder(**{**asked, **state})


def instrument_of(symbol: str) -> InstrumentType:
    """STOCK for a ticker, CALL or PUT for an OCC option symbol (told apart by length)."""
    if len(symbol) <= 15:
        return InstrumentType.STOCK
    return InstrumentType.CALL if parse_occ(symbol).right == "C" else InstrumentType.PUT


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the venue knows it. ``broker_status`` is the venue's own word;
    ``status`` its meaning. A simulated order says so in ``execution_mode`` and why in
    ``simulated_reason``; ``explain()`` is what the execution record keeps of that."""

    id: str
    client_order_id: str
    symbol: str
    side: Action
    qty: Decimal
    order_type: OrderType
    status: ExecutionStatus
    broker_status: str
    broker: BrokerName
    execution_mode: ExecutionMode
    limit_price: Decimal | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    position_intent: str | None = None
    simulated_reason: str | None = None
    replaces: str | None = None  # the venue id of the order this one replaced
    replaced_by: str | None = None  # the venue id of the order that replaced this one

    @property
    def instrument(self) -> InstrumentType:
        return instrument_of(self.symbol)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def explain(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "execution_mode": self.execution_mode.value,
            "broker": self.broker.value,
            "broker_status": self.broker_status,
        }
        if self.simulated_reason:
            out["simulated_reason"] = self.simulated_reason
        return out


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_id: str
    status: str
    cash: Decimal
    buying_power: Decimal
    options_buying_power: Decimal
    equity: Decimal
    options_level: int | None = None


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A holding; ``qty`` is signed (negative when short)."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    market_value: Decimal | None = None
    unrealized_pl: Decimal | None = None

    @property
    def instrument(self) -> InstrumentType:
        return instrument_of(self.symbol)


# --- option order pricing ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptionPricing:
    """How to price an option order from its quote.

    MARKETABLE_LIMIT puts a buy at mid + ``spread_fraction`` x spread (0.5: the ask) and
    a sell symmetrically below mid; it crosses the spread like a market order but caps
    the price if the quote moves. WORKED prices an option entry from its working policy
    (``services.dispatch_steps``); what this class prices under it (closes) is priced
    as MARKETABLE_LIMIT. Rounded to the tick away from the mid for a buy (up)
    and a sell (down), so the rounding never makes the order less marketable.
    """

    mode: OrderPricing = OrderPricing.WORKED
    spread_fraction: Decimal = Decimal("0.5")
    penny_names: frozenset[str] = field(default=PENNY_PILOT, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", OrderPricing(self.mode))
        fraction = Decimal(self.spread_fraction)
        if not fraction.is_finite() or not 0 <= fraction <= 1:
            raise InvalidPolicy(f"spread_fraction must be within [0, 1], got {fraction}")
        object.__setattr__(self, "spread_fraction", fraction)

    def price(
        self, side: Action, bid: Decimal, ask: Decimal, underlying: str
    ) -> tuple[OrderType, Decimal | None]:
        """(order type, limit price) for an order on a contract quoted ``bid`` x ``ask``."""
        if self.mode is OrderPricing.MARKET:
            return OrderType.MARKET, None
        if not (bid.is_finite() and ask.is_finite() and 0 <= bid <= ask and ask > 0):
            raise InvalidMarketData(f"cannot price an order on a {bid} x {ask} quote")
        mid, spread = (bid + ask) / 2, ask - bid
        crossing = self.mode in (OrderPricing.MARKETABLE_LIMIT, OrderPricing.WORKED)
        reach = self.spread_fraction * spread if crossing else 0
        buying = Action(side) is Action.BUY
        raw = mid + reach if buying else mid - reach
        return OrderType.LIMIT, round_to_tick(raw, underlying, up=buying, penny=self.penny_names)

    def intent(
        self,
        client_order_id: str,
        symbol: str,
        side: Action,
        qty: Decimal,
        bid: Decimal,
        ask: Decimal,
        effect: PositionEffect = PositionEffect.OPEN,
    ) -> OrderIntent:
        """The order for ``qty`` contracts of ``symbol`` quoted ``bid`` x ``ask``, day,
        priced by this policy (the tick follows the symbol's root)."""
        order_type, limit = self.price(side, bid, ask, parse_occ(symbol).root)
        return OrderIntent(client_order_id, symbol, side, qty, order_type, limit, effect)


def option_tick(price: Decimal, underlying: str, penny: frozenset[str] = PENNY_PILOT) -> Decimal:
    """$0.01 under $3 and for penny-pilot names; $0.05 at and above $3 otherwise."""
    return CENT if underlying.upper() in penny or price < PENNY_TICK_BELOW else NICKEL


def round_to_tick(
    price: Decimal, underlying: str, up: bool, penny: frozenset[str] = PENNY_PILOT
) -> Decimal:
    """``price`` on the option tick grid, rounded up (buys) or down (sells); never below
    one tick, since a limit of zero means nothing."""
    tick = option_tick(price, underlying, penny)
    steps = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return max((steps * tick).quantize(CENT), CENT)
