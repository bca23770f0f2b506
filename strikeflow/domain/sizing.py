"""Position sizing: how many shares or contracts a signal may buy, never more than its budget.

The budget is a fraction of buying power set by the strategy (day trades small, swing
trades larger) and scaled by the signal's confidence inside that range. All money is
Decimal, and rounding always goes down: sizing must never spend a cent over budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from strikeflow.domain.enums import InstrumentType, StrategyType
from strikeflow.domain.errors import InvalidPolicy, SizingError
from strikeflow.domain.money import CENT

OPTION_MULTIPLIER = 100
MAX_MULTIPLIER = 100_000  # an adjusted contract delivers a few hundred shares at most


def shares_per_unit(instrument: InstrumentType, multiplier: int | None = None) -> int:
    """Shares one unit of a position stands for: a share is 1; an option contract its
    own multiplier (an adjusted contract's deliverable, as the venue lists it), or the
    standard 100 where none was kept."""
    if instrument is InstrumentType.STOCK:
        return 1
    return OPTION_MULTIPLIER if multiplier is None else multiplier


MAX_AMOUNT = Decimal("1e12")  # beyond any account: a larger figure is a units bug
MIN_PRICE = Decimal("0.0001")  # the smallest tick any US venue quotes


@dataclass(frozen=True, slots=True)
class FractionRange:
    """Share of buying power to commit, from ``low`` (confidence 0) to ``high`` (1)."""

    low: Decimal
    high: Decimal

    def __post_init__(self) -> None:
        if not (Decimal(0) < self.low <= self.high <= Decimal(1)):
            raise InvalidPolicy(f"fraction range needs 0 < low <= high <= 1, got {self}")

    def at(self, confidence: Decimal) -> Decimal:
        return self.low + (self.high - self.low) * confidence

    def __str__(self) -> str:
        return f"{self.low:.1%}–{self.high:.1%}"


def _range(low: str, high: str) -> FractionRange:
    return FractionRange(Decimal(low), Decimal(high))


@dataclass(frozen=True, slots=True)
class SizingPolicy:
    """Fraction ranges per strategy; ``unspecified`` covers signals without one."""

    day_trade: FractionRange = field(default_factory=lambda: _range("0.03", "0.05"))
    swing_trade: FractionRange = field(default_factory=lambda: _range("0.10", "0.20"))
    unspecified: FractionRange = field(default_factory=lambda: _range("0.03", "0.05"))

    def range_for(self, strategy: StrategyType | None) -> FractionRange:
        if strategy is None:
            return self.unspecified
        return {
            StrategyType.DAY_TRADE: self.day_trade,
            StrategyType.SWING_TRADE: self.swing_trade,
        }[StrategyType(strategy)]


@dataclass(frozen=True, slots=True)
class PositionSize:
    """Shares or contracts to trade; ``reason`` says why when ``quantity`` is 0."""

    quantity: int
    unit_cost: Decimal
    budget: Decimal
    fraction: Decimal
    buying_power: Decimal
    basis: str = "buying power"
    reason: str | None = None

    @property
    def cost(self) -> Decimal:
        return self.unit_cost * self.quantity

    def describe(self) -> str:
        basis = f"budget {self.budget} ({self.fraction:.2%} of {self.basis} {self.buying_power})"
        if self.quantity == 0:
            return f"size 0: {self.reason}"
        return f"{self.quantity} × {self.unit_cost} = {self.cost} of {basis}"


def size_position(
    *,
    instrument: InstrumentType,
    strategy: StrategyType | None,
    confidence: float | Decimal,
    price: Decimal | float | int | str,
    buying_power: Decimal | float | int | str,
    options_buying_power: Decimal | float | int | str | None = None,
    policy: SizingPolicy | None = None,
    multiplier: int = OPTION_MULTIPLIER,
) -> PositionSize:
    """Size a trade at ``price`` (per share, or premium per contract).

    Options are sized against ``options_buying_power`` with the contract's
    ``multiplier`` (100 for a standard contract; an adjusted one delivers other than
    100 shares and costs premium × its own multiplier); stock against ``buying_power``.
    Raises ``SizingError`` on non-finite, negative or zero inputs, on a confidence
    outside [0, 1], and on a multiplier that is not a whole number >= 1.
    """
    instrument = InstrumentType(instrument)
    policy = policy or SizingPolicy()
    conf = _decimal("confidence", confidence, allow_zero=True)
    if conf > 1:
        raise SizingError(f"confidence must be within [0, 1], got {confidence!r}")
    unit_price = _decimal("price", price)
    if unit_price < MIN_PRICE:
        raise SizingError(f"price must be at least {MIN_PRICE}, got {price!r}")
    if instrument is InstrumentType.STOCK:
        power, multiplier, what = _decimal("buying_power", buying_power), 1, "buying power"
    else:
        if options_buying_power is None:
            raise SizingError(f"{instrument.value} needs options_buying_power, got None")
        power = _decimal("options_buying_power", options_buying_power)
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
            raise SizingError(f"multiplier must be a whole number >= 1, got {multiplier!r}")
        what = "options buying power"

    fraction = policy.range_for(strategy).at(conf)
    budget = (power * fraction).quantize(CENT, rounding=ROUND_DOWN)
    unit_cost = unit_price * multiplier
    quantity = int(budget // unit_cost)
    reason = None
    if quantity == 0:
        priced = f"premium {unit_price} × {multiplier}" if multiplier > 1 else f"price {unit_price}"
        reason = (
            f"{priced} = {unit_cost} exceeds budget {budget} ({fraction:.2%} of {what} {power})"
        )
    return PositionSize(quantity, unit_cost, budget, fraction, power, what, reason)


def _decimal(name: str, value: object, allow_zero: bool = False) -> Decimal:
    """``value`` as a finite Decimal > 0 (>= 0 with ``allow_zero``), or a SizingError naming it."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise SizingError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SizingError(f"{name} must be finite, got {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise SizingError(f"{name} must be a number, got {value!r}") from None
    if not amount.is_finite():
        raise SizingError(f"{name} must be finite, got {value!r}")
    if amount < 0 or (amount == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise SizingError(f"{name} must be {bound}, got {value!r}")
    if amount > MAX_AMOUNT:
        raise SizingError(f"{name} must be at most {MAX_AMOUNT:,.0f}, got {value!r}")
    return amount
