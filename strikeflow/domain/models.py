"""Value types shared across the domain: instruments, strategies, Greeks, option contracts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from strikeflow.domain.errors import InvalidMarketData


class Right(StrEnum):
    """An option's right, spelled as in OCC symbols."""

    CALL = "C"
    PUT = "P"


class InstrumentType(StrEnum):
    STOCK = "STOCK"
    CALL = "CALL"
    PUT = "PUT"

    @property
    def right(self) -> Right | None:
        return {InstrumentType.CALL: Right.CALL, InstrumentType.PUT: Right.PUT}.get(self)


class StrategyType(StrEnum):
    DAY_TRADE = "day_trade"
    SWING_TRADE = "swing_trade"


@dataclass(frozen=True, slots=True)
class Greeks:
    """Greeks in broker units, as Alpaca reports them and as executions store them.

    delta and gamma per 1.00 of underlying; theta per calendar day; vega per one
    volatility point (0.01); rho per one rate point (0.01).
    """

    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One listed contract with its latest quote.

    Money is Decimal; ``implied_vol`` is annualized (0.25 = 25%). ``greeks`` and
    ``implied_vol`` may be None when the venue did not send them.
    """

    symbol: str
    underlying: str
    expiration: date
    right: Right
    strike: Decimal
    bid: Decimal
    ask: Decimal
    last: Decimal | None
    volume: int
    open_interest: int
    implied_vol: float | None
    greeks: Greeks | None
    quote_time: datetime
    multiplier: int = 100

    def __post_init__(self) -> None:
        if not isinstance(self.right, Right):
            object.__setattr__(self, "right", Right(self.right))
        for name in ("strike", "bid", "ask"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InvalidMarketData(
                    f"{self.symbol}: {name} must be a finite Decimal >= 0, got {value!r}"
                )
        if self.strike <= 0:
            raise InvalidMarketData(f"{self.symbol}: strike must be positive, got {self.strike}")
        if self.volume < 0 or self.open_interest < 0:
            raise InvalidMarketData(f"{self.symbol}: volume and open interest must be >= 0")
        if self.implied_vol is not None and not math.isfinite(self.implied_vol):
            object.__setattr__(self, "implied_vol", None)
        if self.quote_time.tzinfo is None:
            raise InvalidMarketData(f"{self.symbol}: quote_time must be timezone-aware")

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid
