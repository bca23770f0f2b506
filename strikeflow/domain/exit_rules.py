"""Exit rules: when a held position is closed, per strategy and per instrument kind.

A day trade and a swing trade are closed for different reasons (a day trade is flat
before the close; a swing trade rides a multi-day trend but not into expiry), and an
option needs rules a share does not (days to expiry, the underlying's move, time decay).
So there is one ``ExitRules`` per (strategy, kind), gathered in an ``ExitRuleBook``. Every
rule can be turned off (None); the rules file (``signals/rules_file.py``) fills them in.

Percentages are percent (50 is +50 %), judged on Decimal prices in ``domain/exits.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import time

from strikeflow.domain.enums import InstrumentType, StrategyType
from strikeflow.domain.errors import InvalidPolicy

__all__ = [
    "OPTION_ONLY_FIELDS",
    "ExitRuleBook",
    "ExitRules",
    "InvalidExitRules",
    "StrategyExits",
]

# The fields that mean nothing for a share: it has no expiry, it is its own underlying,
# and it does not decay.
OPTION_ONLY_FIELDS = ("close_at_dte", "underlying_stop_pct", "theta_max_pct")


class InvalidExitRules(InvalidPolicy):
    """An exit rule out of range, naming the field so the rules file can name its key."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}")

    def __reduce__(self):
        return (type(self), (self.field, self.problem))


@dataclass(frozen=True, slots=True)
class ExitRules:
    """The exit rules of one strategy for one instrument kind; None turns a rule off.

    - ``take_profit_pct``: close when the exit price is this many percent above the
      entry price (the premium paid, for an option).
    - ``stop_loss_pct``: close when it is this many percent below.
    - ``trailing_stop_pct``: close when the mark falls this many percent below its
      high-water mark since entry, once that high-water mark has gained
      ``trailing_arm_pct`` percent over the entry price (0: armed from the start).
    - ``time_exit``: New York wall-clock time by which the position is flat, every day
      (a position still held on a later day than its entry is closed at once too).
    - ``close_at_dte``: close an option when its days to expiry are at most this.
    - ``underlying_stop_pct``: close an option when the underlying has moved this many
      percent against it since entry (down for a call, up for a put).
    - ``theta_max_pct``: close an option whose daily time decay exceeds this many percent
      of its remaining premium (the mark).
    - ``max_holding_hours``: close after this many hours (calendar time) since entry.
    - ``max_quote_age_s``: a quote older than this judges nothing: only the rules of the
      clock (expiry, time of day, holding time) decide on a stale or missing quote.
    """

    take_profit_pct: float | None = None
    stop_loss_pct: float | None = None
    trailing_stop_pct: float | None = None
    trailing_arm_pct: float = 0.0
    time_exit: time | None = None
    close_at_dte: int | None = None
    underlying_stop_pct: float | None = None
    theta_max_pct: float | None = None
    max_holding_hours: float | None = None
    max_quote_age_s: float = 60.0

    def __post_init__(self) -> None:
        _pct("take_profit_pct", self.take_profit_pct, high=10_000.0)
        _pct("stop_loss_pct", self.stop_loss_pct, high=100.0)
        _pct("trailing_stop_pct", self.trailing_stop_pct, high=100.0, inclusive=False)
        _number("trailing_arm_pct", self.trailing_arm_pct, low=0.0, high=10_000.0)
        _pct("underlying_stop_pct", self.underlying_stop_pct, high=100.0, inclusive=False)
        _pct("theta_max_pct", self.theta_max_pct, high=100.0)
        _pct("max_holding_hours", self.max_holding_hours, high=24.0 * 366)
        _number("max_quote_age_s", self.max_quote_age_s, low=1.0, high=3_600.0)
        if self.time_exit is not None and (
            not isinstance(self.time_exit, time) or self.time_exit.tzinfo is not None
        ):
            raise InvalidExitRules(
                "time_exit", f"must be a New York wall-clock time, got {self.time_exit!r}"
            )
        dte = self.close_at_dte
        if dte is not None and (
            isinstance(dte, bool) or not isinstance(dte, int) or not 0 <= dte <= 30
        ):
            raise InvalidExitRules(
                "close_at_dte", f"must be a whole number of days 0-30, got {dte!r}"
            )

    @property
    def option_only(self) -> dict[str, object]:
        """The option-only rules that are on (empty for rules fit for a share)."""
        return {
            name: getattr(self, name)
            for name in OPTION_ONLY_FIELDS
            if getattr(self, name) is not None
        }


@dataclass(frozen=True, slots=True)
class StrategyExits:
    """One strategy's rules: for options (calls and puts alike) and for shares."""

    option: ExitRules
    stock: ExitRules

    def __post_init__(self) -> None:
        on = self.stock.option_only
        if on:
            name = next(iter(on))
            raise InvalidExitRules(f"stock.{name}", "is an option rule: a share has none")


@dataclass(frozen=True, slots=True)
class ExitRuleBook:
    """Every strategy's exit rules; ``for_position`` picks a held position's."""

    day_trade: StrategyExits
    swing_trade: StrategyExits

    def for_position(self, strategy: StrategyType | None, instrument: InstrumentType) -> ExitRules:
        """The rules for a position of ``strategy`` in ``instrument``.

        A position with no strategy (a STOCK signal that was neither a day nor a swing
        trade) follows the swing-trade rules: nothing it was opened for asks it to be
        flat by the close.
        """
        book = (
            self.day_trade
            if StrategyType(strategy or StrategyType.SWING_TRADE) is StrategyType.DAY_TRADE
            else self.swing_trade
        )
        return book.stock if InstrumentType(instrument) is InstrumentType.STOCK else book.option


def _number(name: str, value: object, *, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidExitRules(name, f"must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise InvalidExitRules(name, f"must be within {low:g}-{high:g}, got {value!r}")


def _pct(name: str, value: object, *, high: float, inclusive: bool = True) -> None:
    """An optional figure that must be above 0 (off is None, not 0) and at most ``high``."""
    if value is None:
        return
    _number(name, value, low=0.0, high=high)
    if value == 0:
        raise InvalidExitRules(name, "must be > 0 (turn the rule off instead)")
    if not inclusive and value == high:
        raise InvalidExitRules(name, f"must be < {high:g}, got {value!r}")
