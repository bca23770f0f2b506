"""What the emulator's market and venue hand to its HTTP layer: plain values, Alpaca-shaped.

Prices are floats here: the emulator speaks JSON numbers to clients, and the domain's
Decimal discipline starts at the adapters that parse these responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Bar:
    t: datetime
    o: float
    h: float
    low: float
    c: float
    v: int
    n: int
    vw: float


@dataclass(frozen=True, slots=True)
class Quote:
    t: datetime
    bid: float
    ask: float
    bid_size: int
    ask_size: int


@dataclass(frozen=True, slots=True)
class Trade:
    t: datetime
    price: float
    size: int


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """One listed option contract's metadata, as /v2/options/contracts describes it.

    ``multiplier`` is the shares it delivers: 100, or another figure for an adjusted
    contract, whose ``root`` then differs from its underlying (NVDA1 on NVDA)."""

    id: str  # its asset id, as orders and positions on it carry (venue_orders.asset_id)
    symbol: str
    underlying: str
    root: str
    expiration: date
    right: str  # "call" | "put"
    strike: float
    open_interest: int
    close_price: float | None
    multiplier: int = 100


@dataclass(frozen=True, slots=True)
class GreeksValues:
    """Broker units: theta per day, vega and rho per point."""

    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float


@dataclass(frozen=True, slots=True)
class OptionSnapshot:
    """A contract's snapshot; a bar is None when the contract did not trade in it, as
    Alpaca then leaves the bar out, and the quote is None when none was recorded (a
    replay, ``recorded_market``), as Alpaca then leaves out ``latestQuote``."""

    symbol: str
    quote: Quote | None
    trade: Trade | None
    greeks: GreeksValues | None
    implied_vol: float | None
    minute_bar: Bar | None = None
    daily_bar: Bar | None = None
    prev_daily_bar: Bar | None = None
