"""Working an option order: start near the mid, walk toward the far side, hold, then end.

Paying the whole spread on every option order is the largest cost a small account has; a
limit that starts at the mid and gives ground in steps fills most of the time for less. A
``WorkingPolicy`` says how, per strategy and purpose (entry, exit, urgent exit):

- prices are placed by how far they go from the mid toward the far side (the ask for a
  buy, the bid for a sell), as a share of the half-spread: 0 is the mid, 1 the far side,
  up to 2 (one half-spread beyond it). ``start_toward_far`` is the first step's,
  ``final_toward_far`` the last's; the steps between are evenly spaced, ``interval_s``
  apart, and the last is held ``hold_s`` before the ``end``: ``cancel`` (entries: a
  trade not worth more is not made) or ``marketable`` (exits that must fill: a limit at
  the fresh far side).
- ``max_slippage_pct`` caps every step at that percentage of the mid at decision away
  from it: a percentage, not cents, because premiums run from $0.05 to $50 and the
  liquidity rule admits spreads as a percentage of the mid (10 % by default), so one
  number means the same on every contract. The marketable end is not capped.
- each step is re-priced from a fresh quote (``price_at_step``), never beyond the cap and
  never less aggressive than the step before: the walk only moves toward the far side.
- ``max_move_pct``: the mid moved more than this from the decision, the work stops
  (``moved_too_far``) rather than chase a market that has left.

The rules file (``[working.<strategy>.<purpose>]``) holds the shipped values; the legacy
one-price choices (STRIKEFLOW_OPTION_ORDER_PRICING) are one-step policies (``one_step``).
Prices are rounded to the option tick of ``orders.round_to_tick``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol

from strikeflow.domain.enums import Action, OrderPricing, StrategyType
from strikeflow.domain.errors import InvalidMarketData, InvalidPolicy
from strikeflow.domain.orders import round_to_tick

__all__ = [
    "InvalidWorkingPolicy",
    "Purpose",
    "Quoted",
    "Step",
    "StrategyWorking",
    "Touch",
    "WorkEnd",
    "WorkFigures",
    "WorkingBook",
    "WorkingPolicy",
    "end_price",
    "final_price",
    "ladder",
    "moved_too_far",
    "one_step",
    "price_at_step",
    "reach_at",
    "work_figures",
]

MAX_STEPS = 20
MAX_INTERVAL_S = 600.0
MAX_HOLD_S = 23_400.0  # a regular session: a day order rests no longer
MAX_TOWARD_FAR = Decimal(2)
HUNDRED = Decimal(100)
_TWO = Decimal(2)


class Purpose(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"
    URGENT_EXIT = "urgent_exit"  # a stop or the time exit: it must be out now


# Exits that must be out now: a stop, and (``exits._urgency``) anything on an option's
# expiry day or a clock exit near the close.
URGENT_RULES = frozenset({"stop_loss", "underlying_stop", "trailing_stop"})


def exit_purpose(rule: str | None, urgency: str | None) -> Purpose:
    """How a close is worked: urgent for a stop or an exit the rules call urgent; an
    ordinary exit otherwise (a take profit, a close asked for by hand)."""
    if urgency == "urgent" or rule in URGENT_RULES:
        return Purpose.URGENT_EXIT
    return Purpose.EXIT


class WorkEnd(StrEnum):
    CANCEL = "cancel"
    MARKETABLE = "marketable"


class InvalidWorkingPolicy(InvalidPolicy):
    """A working policy value out of range, naming the field so the rules file can name
    its key."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}")

    def __reduce__(self):
        return (type(self), (self.field, self.problem))


class Quoted(Protocol):
    """Any two-sided quote: ``OptionQuote`` and the like."""

    @property
    def bid(self) -> Decimal: ...
    @property
    def ask(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Touch:
    """A bid and an ask, when a caller has no quote object at hand."""

    bid: Decimal
    ask: Decimal


class Step(NamedTuple):
    """One rung of the ladder: its index, its limit (None: a market order), and how long
    it rests before the next rung (the last one: the hold before the end)."""

    index: int
    limit: Decimal | None
    wait_s: float


@dataclass(frozen=True, slots=True)
class WorkingPolicy:
    """How one order is worked (see the module). ``market``: a single market order, the
    legacy ``market`` pricing; its prices are the far side, for the figures only."""

    start_toward_far: Decimal
    steps: int
    interval_s: float
    final_toward_far: Decimal
    max_slippage_pct: Decimal | None
    hold_s: float
    end: WorkEnd
    max_move_pct: Decimal | None = None
    market: bool = False

    def __post_init__(self) -> None:
        for name in ("start_toward_far", "final_toward_far"):
            value = _decimal(name, getattr(self, name))
            if not 0 <= value <= MAX_TOWARD_FAR:
                raise InvalidWorkingPolicy(name, f"must be within 0..{MAX_TOWARD_FAR}, got {value}")
            object.__setattr__(self, name, value)
        if self.final_toward_far < self.start_toward_far:
            raise InvalidWorkingPolicy(
                "final_toward_far",
                f"must be at least start_toward_far {self.start_toward_far},"
                f" got {self.final_toward_far}",
            )
        steps = self.steps
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise InvalidWorkingPolicy(
                "steps", f"must be a whole number 1-{MAX_STEPS}, got {steps!r}"
            )
        _seconds("interval_s", self.interval_s, MAX_INTERVAL_S)
        _seconds("hold_s", self.hold_s, MAX_HOLD_S)
        for name in ("max_slippage_pct", "max_move_pct"):
            value = getattr(self, name)
            if value is not None:
                value = _decimal(name, value)
                if not 0 < value <= HUNDRED:
                    raise InvalidWorkingPolicy(name, f"must be within (0, 100] or off, got {value}")
                object.__setattr__(self, name, value)
        try:
            object.__setattr__(self, "end", WorkEnd(self.end))
        except ValueError:
            raise InvalidWorkingPolicy(
                "end", f"must be cancel or marketable, got {self.end!r}"
            ) from None
        if self.market and (self.steps != 1 or self.end is not WorkEnd.MARKETABLE):
            raise InvalidWorkingPolicy("market", "is one step ending marketable")


@dataclass(frozen=True, slots=True)
class StrategyWorking:
    entry: WorkingPolicy
    exit: WorkingPolicy
    urgent_exit: WorkingPolicy


@dataclass(frozen=True, slots=True)
class WorkingBook:
    """The policies of every strategy and purpose (the rules file's ``[working]``)."""

    day_trade: StrategyWorking
    swing_trade: StrategyWorking

    def policy(self, strategy: StrategyType | None, purpose: Purpose) -> WorkingPolicy:
        """A day trade's or a swing trade's; a trade of neither works as a swing trade
        (the exit rules' choice for a plain STOCK signal too)."""
        kind = self.day_trade if strategy is StrategyType.DAY_TRADE else self.swing_trade
        return getattr(kind, Purpose(purpose).value)


def one_step(mode: OrderPricing, spread_fraction: Decimal = Decimal("0.5")) -> WorkingPolicy:
    """The legacy single price as a policy: a marketable limit at mid + ``spread_fraction``
    x spread, a limit at the mid, or a market order; one step, no cap, resting the whole
    session as a day order does (``orders.OptionPricing`` prices the same limit)."""
    mode = OrderPricing(mode)
    if mode is OrderPricing.MARKET:
        return WorkingPolicy(
            Decimal(1), 1, 0.0, Decimal(1), None, 0.0, WorkEnd.MARKETABLE, market=True
        )
    reach = _TWO * Decimal(spread_fraction) if mode is OrderPricing.MARKETABLE_LIMIT else Decimal(0)
    return WorkingPolicy(reach, 1, 0.0, reach, None, MAX_HOLD_S, WorkEnd.CANCEL)


# --- prices -------------------------------------------------------------------------------


def reach_at(policy: WorkingPolicy, step: int) -> Decimal:
    """How far toward the far side step ``step`` (0-based) goes: evenly from start to final."""
    if not 0 <= step < policy.steps:
        raise InvalidWorkingPolicy("step", f"must be within 0..{policy.steps - 1}, got {step}")
    if policy.steps == 1:
        return policy.final_toward_far
    span = policy.final_toward_far - policy.start_toward_far
    return policy.start_toward_far + span * step / (policy.steps - 1)


def ladder(
    policy: WorkingPolicy, decision: Quoted, side: Action, *, underlying: str = ""
) -> list[Step]:
    """Every step priced from the quote at decision: (index, limit, wait after). The last
    step's limit is ``final_price``; its wait is the hold."""
    rungs, previous = [], None
    for i in range(policy.steps):
        limit = price_at_step(
            policy, decision, decision, i, side, previous=previous, underlying=underlying
        )
        wait = policy.hold_s if i == policy.steps - 1 else policy.interval_s
        rungs.append(Step(i, limit, wait))
        previous = limit
    return rungs


def price_at_step(
    policy: WorkingPolicy,
    decision: Quoted,
    fresh: Quoted,
    step: int,
    side: Action,
    *,
    previous: Decimal | None = None,
    underlying: str = "",
) -> Decimal | None:
    """The limit of step ``step`` re-quoted from ``fresh``: the step's share of the way
    from the fresh mid to the fresh far side, no further from the decision mid than the
    cap, never less aggressive than ``previous`` (the step before), on the option tick.
    None for a market order (``policy.market``)."""
    if policy.market:
        return None
    buying = Action(side) is Action.BUY
    mid, half = _mid_half(fresh)
    reach = reach_at(policy, step) * half
    raw = mid + reach if buying else mid - reach
    limit = _on_tick(raw, cap(policy, decision, side), buying, underlying)
    if previous is not None:
        limit = max(limit, previous) if buying else min(limit, previous)
    return limit


def final_price(
    policy: WorkingPolicy, decision: Quoted, side: Action, *, underlying: str = ""
) -> Decimal | None:
    """The price the ladder ends at, from the quote at decision."""
    return ladder(policy, decision, side, underlying=underlying)[-1].limit


def cap(policy: WorkingPolicy, decision: Quoted, side: Action) -> Decimal | None:
    """The furthest price from the decision mid a step may reach; None: no cap. (A limit
    is never below one tick, so a buy of a contract quoted under a cent may pass it.)"""
    if policy.max_slippage_pct is None:
        return None
    mid, _ = _mid_half(decision)
    room = mid * policy.max_slippage_pct / HUNDRED
    return mid + room if Action(side) is Action.BUY else mid - room


def end_price(
    policy: WorkingPolicy, fresh: Quoted, side: Action, *, underlying: str = ""
) -> Decimal | None:
    """After the hold: None to cancel, else the marketable limit at the fresh far side
    (rounded away from the mid, never capped: the order must fill)."""
    if policy.end is WorkEnd.CANCEL:
        return None
    _mid_half(fresh)
    buying = Action(side) is Action.BUY
    return round_to_tick(fresh.ask if buying else fresh.bid, underlying, up=buying)


def moved_too_far(decision: Quoted, fresh: Quoted, bound_pct: Decimal | None) -> str | None:
    """Why the work should stop rather than chase: the fresh quote is not two-sided, or
    its mid moved more than ``bound_pct`` percent of the decision mid; None otherwise."""
    then, _ = _mid_half(decision)
    try:
        now, _ = _mid_half(fresh)
    except InvalidMarketData as bad:
        return str(bad)
    if bound_pct is None or then == 0:
        return None
    moved = (now - then) / then * HUNDRED
    if abs(moved) <= bound_pct:
        return None
    return f"the mid moved from {then:f} to {now:f} ({moved:+.1f}%), beyond {bound_pct:f}%"


class WorkFigures(NamedTuple):
    """What working saved and cost, per unit of premium (x multiplier x qty for money):
    ``improvement`` over the far side at decision (and as a share of its half-spread;
    None when there was no spread), ``slippage`` against the mid at decision (and as a
    percentage of it). Positive improvement is money kept; positive slippage money paid."""

    improvement: Decimal
    improvement_of_half_spread: Decimal | None
    slippage: Decimal
    slippage_pct: Decimal | None


def work_figures(decision: Quoted, fill_price: Decimal, side: Action) -> WorkFigures:
    mid, half = _mid_half(decision)
    if Action(side) is Action.BUY:
        improvement, slippage = decision.ask - fill_price, fill_price - mid
    else:
        improvement, slippage = fill_price - decision.bid, mid - fill_price
    return WorkFigures(
        improvement,
        improvement / half if half else None,
        slippage,
        slippage / mid * HUNDRED if mid else None,
    )


# --- helpers --------------------------------------------------------------------------------


def _mid_half(quote: Quoted) -> tuple[Decimal, Decimal]:
    bid, ask = quote.bid, quote.ask
    if not (
        isinstance(bid, Decimal)
        and isinstance(ask, Decimal)
        and bid.is_finite()
        and ask.is_finite()
    ) or not (0 <= bid <= ask and ask > 0):
        raise InvalidMarketData(f"cannot work an order on a {bid} x {ask} quote")
    return (bid + ask) / _TWO, (ask - bid) / _TWO


def _on_tick(raw: Decimal, limit: Decimal | None, buying: bool, underlying: str) -> Decimal:
    """``raw`` held within ``limit`` and put on the tick away from the mid (so rounding
    never makes it less marketable), or toward the mid when that would pass the cap."""
    if limit is not None:
        raw = min(raw, limit) if buying else max(raw, limit)
    price = round_to_tick(raw, underlying, up=buying)
    if limit is not None and (price > limit if buying else price < limit):
        price = round_to_tick(raw, underlying, up=not buying)
    return price


def _decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise InvalidWorkingPolicy(name, f"must be a number, got {value!r}")
    number = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not number.is_finite():
        raise InvalidWorkingPolicy(name, f"must be finite, got {value!r}")
    return number


def _seconds(name: str, value: object, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidWorkingPolicy(name, f"must be a number of seconds, got {value!r}")
    if not 0 <= value <= high:
        raise InvalidWorkingPolicy(name, f"must be within 0..{high:g} seconds, got {value!r}")
