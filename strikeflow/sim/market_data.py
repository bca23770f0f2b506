"""What the emulator's market and venue hand to its HTTP layer: plain values, Alpaca-shaped.

Prices are floats here: the emulator speaks JSON numbers to clients, and the domain's
Decimal discipline starts at the adapters that parse these responses.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from strikeflow.domain.expiry import NEW_YORK


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


def daily_bars_of(minute_bars: Iterable[Bar]) -> list[Bar]:
    """Daily bars from one symbol's minute bars (in time order), one per New York date,
    stamped at its midnight as Alpaca stamps them: the first open, the last close, the
    extremes, the volume and trade count summed, the volume-weighted average of the
    minutes' VWAPs."""
    days: dict[date, list[Bar]] = {}
    for bar in minute_bars:
        days.setdefault(bar.t.astimezone(NEW_YORK).date(), []).append(bar)
    out = []
    for day, bars in days.items():
        volume = sum(b.v for b in bars)
        vwap = sum(b.vw * b.v for b in bars) / volume if volume else bars[-1].c
        midnight = datetime.combine(day, time(0), NEW_YORK)
        high, low = max(b.h for b in bars), min(b.low for b in bars)
        trades = sum(b.n for b in bars)
        out.append(Bar(midnight, bars[0].o, high, low, bars[-1].c, volume, trades, round(vwap, 4)))
    return out
