"""A held position and a fresh quote of it, as the exit decision reads them, and the
high-water mark and realized P&L that go with them.

Prices are Decimal (ints and floats are taken at their written value); every position is
long (strikeflow buys options to open and holds shares long), so its exit price is the bid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from strikeflow.domain.enums import InstrumentType, Right, StrategyType
from strikeflow.domain.errors import InvalidMarketData
from strikeflow.domain.expiry import require_aware
from strikeflow.domain.money import CENT

__all__ = ["ExitQuote", "HeldPosition", "money_text", "realized_pnl", "update_high_water"]


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """What the exit decision reads of one long position.

    ``entry_price`` is per unit (the premium per share of the contract for an option);
    ``entry_spot`` the underlying's price at entry (options' underlying stop);
    ``high_water`` the highest mark seen since entry (None: the entry price).
    ``multiplier`` defaults to 100 for an option and 1 for a share.
    """

    instrument: InstrumentType
    strategy: StrategyType | None
    symbol: str
    underlying: str
    quantity: Decimal
    entry_price: Decimal
    entry_time: datetime
    expiration: date | None = None
    entry_spot: Decimal | None = None
    high_water: Decimal | None = None
    multiplier: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "instrument", InstrumentType(self.instrument))
        if self.strategy is not None:
            object.__setattr__(self, "strategy", StrategyType(self.strategy))
        if not self.symbol or not self.underlying:
            raise InvalidMarketData("held position: symbol and underlying must not be empty")
        _set_decimal(self, "quantity", positive=True)
        _set_decimal(self, "entry_price", positive=True)
        _set_decimal(self, "entry_spot", positive=True, optional=True)
        _set_decimal(self, "high_water", optional=True)
        require_aware(self.entry_time, "entry_time")
        if self.is_option and not isinstance(self.expiration, date):
            raise InvalidMarketData(f"{self.symbol}: an option position needs its expiration")
        if self.multiplier is None:
            object.__setattr__(self, "multiplier", 100 if self.is_option else 1)
        if (
            isinstance(self.multiplier, bool)
            or not isinstance(self.multiplier, int)
            or self.multiplier < 1
        ):
            raise InvalidMarketData(
                f"{self.symbol}: multiplier must be an int >= 1, got {self.multiplier!r}"
            )

    @property
    def is_option(self) -> bool:
        return self.instrument is not InstrumentType.STOCK

    @property
    def right(self) -> Right | None:
        return self.instrument.right

    @property
    def peak(self) -> Decimal:
        """The high-water mark, the entry price until a higher mark is seen."""
        return (
            self.entry_price if self.high_water is None else max(self.high_water, self.entry_price)
        )


@dataclass(frozen=True, slots=True)
class ExitQuote:
    """A fresh look at a held position: its quote, the underlying's price, its decay.

    ``mark`` defaults to the mid of bid and ask; ``theta`` is per calendar day and per
    unit, as the venue reports it (negative for a long option: only its size is read).
    Any figure may be None when the venue did not send it; the rules needing it then
    stay silent.
    """

    bid: Decimal | None
    ask: Decimal | None
    quote_time: datetime | None
    mark: Decimal | None = None
    spot: Decimal | None = None
    theta: float | None = None

    def __post_init__(self) -> None:
        for name in ("bid", "ask", "mark"):
            _set_decimal(self, name, optional=True)
        _set_decimal(self, "spot", positive=True, optional=True)
        if self.quote_time is not None:
            require_aware(self.quote_time, "quote_time")
        if self.theta is not None and (
            isinstance(self.theta, bool) or not math.isfinite(self.theta)
        ):
            object.__setattr__(self, "theta", None)
        if self.mark is None and self.bid is not None and self.ask is not None:
            object.__setattr__(self, "mark", (self.bid + self.ask) / 2)


def update_high_water(position: HeldPosition, mark: Decimal | None) -> HeldPosition:
    """``position`` with its high-water mark raised to ``mark`` if that is higher."""
    if mark is None or mark <= position.peak:
        return position
    return replace(position, high_water=mark)


def realized_pnl(
    entry_price: Decimal,
    exit_price: Decimal,
    quantity: Decimal | int,
    multiplier: int,
    fees: Decimal = Decimal(0),
) -> Decimal:
    """(exit - entry) x multiplier x quantity - fees, in Decimal, unrounded.

    A negative quantity is a short position: its gain is a falling price.
    """
    for name, value in (("entry_price", entry_price), ("exit_price", exit_price), ("fees", fees)):
        if not _finite(value) or Decimal(value) < 0:
            raise InvalidMarketData(
                f"realized P&L: {name} must be a finite amount >= 0, got {value!r}"
            )
    if not _finite(quantity) or Decimal(quantity) == 0:
        raise InvalidMarketData(
            f"realized P&L: quantity must be finite and non-zero, got {quantity!r}"
        )
    if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
        raise InvalidMarketData(f"realized P&L: multiplier must be an int >= 1, got {multiplier!r}")
    return (Decimal(exit_price) - Decimal(entry_price)) * multiplier * Decimal(quantity) - Decimal(
        fees
    )


def money_text(value: Decimal) -> str:
    """Cents, or more places when the price has them (a sub-penny stock quote)."""
    exponent = value.normalize().as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < -2 else 2
    return f"{value.quantize(CENT) if places == 2 else value:.{places}f}"


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return False
    return Decimal(value).is_finite()


def _set_decimal(obj: object, name: str, *, positive: bool = False, optional: bool = False) -> None:
    value = getattr(obj, name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise InvalidMarketData(f"{name} must be a number, got {value!r}")
    number = (
        value
        if isinstance(value, Decimal)
        else Decimal(repr(value) if isinstance(value, float) else value)
    )
    if not number.is_finite() or number < 0 or (positive and number == 0):
        bound = "> 0" if positive else ">= 0"
        raise InvalidMarketData(f"{name} must be a finite number {bound}, got {value!r}")
    object.__setattr__(obj, name, number)
