"""Value types shared across the domain: instruments, strategies, Greeks, option contracts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from strikeflow.domain.enums import Right
from strikeflow.domain.errors import InvalidMarketData
from strikeflow.domain.occ import parse_occ

__all__ = ["Greeks", "OptionContract"]


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
        for name in ("bid", "ask", "last"):
            value = getattr(self, name)
            if value is None and name == "last":
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise InvalidMarketData(
                    f"{self.symbol}: {name} must be a finite Decimal >= 0, got {value!r}"
                )
        for name in ("volume", "open_interest", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidMarketData(f"{self.symbol}: {name} must be an int >= 0, got {value!r}")
        if self.implied_vol is not None and not math.isfinite(self.implied_vol):
            object.__setattr__(self, "implied_vol", None)
        if not isinstance(self.quote_time, datetime) or self.quote_time.tzinfo is None:
            raise InvalidMarketData(f"{self.symbol}: quote_time must be a timezone-aware datetime")
        # The order goes out by symbol while the rules judge the fields: they must agree.
        occ = parse_occ(self.symbol)
        fields = (self.expiration, self.right, self.strike)
        if (occ.expiration, occ.right, occ.strike) != fields:
            raise InvalidMarketData(
                f"{self.symbol}: symbol says {occ.expiration} {occ.right} {occ.strike},"
                f" fields say {self.expiration} {self.right} {self.strike}"
            )

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def spread(self) -> Decimal:
        return self.ask - self.bid
