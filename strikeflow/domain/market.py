"""Market data as the domain sees it: quotes, bars, the clock, and what a chain query asks.

Venue-neutral value types; adapters translate their venue's payloads into these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.models import Greeks


class BarTimeframe(StrEnum):
    MINUTE = "1Min"
    HOUR = "1Hour"
    DAY = "1Day"


@dataclass(frozen=True, slots=True)
class StockQuote:
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    time: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class StockBar:
    symbol: str
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    vwap: Decimal | None = None
    trades: int | None = None


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """The latest quote of one option contract, with the venue's IV, Greeks and the day's
    volume when sent."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    time: datetime
    last: Decimal | None = None
    implied_vol: float | None = None
    greeks: Greeks | None = None
    volume: int | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class ExpiryWindow:
    """Inclusive range of expiration dates a chain query asks for."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise InvalidPolicy(f"expiry window {self.first} .. {self.last} is empty")

    @classmethod
    def days_ahead(cls, today: date, min_days: int, max_days: int) -> ExpiryWindow:
        """From a DTE range (as ``selection.DteWindow`` holds) counted from ``today``."""
        return cls(today + timedelta(days=min_days), today + timedelta(days=max_days))


@dataclass(frozen=True, slots=True)
class StrikeBand:
    """Inclusive strike range; None leaves that side open."""

    low: Decimal | None = None
    high: Decimal | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidPolicy(f"strike band {self.low} .. {self.high} is empty")

    @classmethod
    def around(cls, spot: Decimal, fraction: Decimal) -> StrikeBand:
        """spot x (1 -/+ fraction): the strikes a selection can plausibly want."""
        return cls(spot * (1 - fraction), spot * (1 + fraction))
