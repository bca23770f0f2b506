"""Pre-trade risk checks: pure functions over plain figures, each breach with its reason.

The dispatcher gathers the figures (open positions, today's realized loss, exposure per
ticker, the kill switch) and asks ``check_risk`` whether one more entry is allowed. Every
breach is reported, not only the first, so a rejection explains itself completely.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from strikeflow.domain.enums import (
    Action,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RiskBreach,
    StrategyType,
)
from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.expiry import NEW_YORK, require_aware, trading_date
from strikeflow.domain.models import Greeks
from strikeflow.domain.position_book import held_quantity
from strikeflow.domain.records import Execution
from strikeflow.domain.sizing import CENT, shares_per_unit

# Five minutes before the venue's earliest same-day cut-off (venue_rules, 15:15 ET).
DEFAULT_DAY_TRADE_CUTOFF = time(15, 10)

# Orders that hold (or may still take) a position whatever their fills say: the open
# ones may still fill, and a ``filled`` row holds its quantity. Any other order holds
# what it filled (``holds``): a day order partly filled, then canceled or expired at
# the close, keeps its filled contracts.
HOLDING_STATUSES = frozenset(
    {
        ExecutionStatus.SUBMITTED,
        ExecutionStatus.ACCEPTED,
        ExecutionStatus.PARTIALLY_FILLED,
        ExecutionStatus.FILLED,
    }
)


@dataclass(frozen=True, slots=True)
class HeldEntry:
    """What the exposure check reads of an opening execution (an ``Execution`` has all of
    it too). The store reads open entries as these columns alone: an open book of hundreds
    of rows is read on every size_position, and building each row as a whole validated
    record cost more than the check itself."""

    id: int | None
    client_order_id: str
    ticker: str
    instrument_type: InstrumentType
    position_effect: PositionEffect
    status: ExecutionStatus
    expiration_date: date | None
    filled_qty: Decimal | None
    filled_avg_price: Decimal | None
    explain_json: Mapping[str, Any]
    # The Greeks kept with an option entry (per share; None: not known), and its side:
    # the portfolio's net delta and vega are these x what it holds x 100 (``net_greeks``).
    action: Action = Action.BUY
    delta: Decimal | None = None
    vega: Decimal | None = None
    # Shares one contract delivers (None: the standard 100; see ``sizing.shares_per_unit``).
    multiplier: int | None = None
    # What the closes linked to it have filled: a partial close leaves the rest held.
    closed_qty: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class RiskViolation:
    breach: RiskBreach
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits on new entries; None disables a limit. Money in dollars, losses positive.

    ``day_trade_cutoff`` (New York wall time) defaults to 15:10, before the earliest
    time the venue stops taking orders in contracts that expire today (15:15 ET for
    single stocks, ``venue_rules``): a 0-1 DTE day trade entered later could meet a
    refusal, or a contract the venue starts liquidating minutes after the fill.
    """

    max_open_positions: int | None = 20
    max_daily_realized_loss: Decimal | None = Decimal("5000")
    max_exposure_per_ticker: Decimal | None = Decimal("25000")
    day_trade_cutoff: time | None = DEFAULT_DAY_TRADE_CUTOFF
    max_net_delta: Decimal | None = None
    max_net_vega: Decimal | None = None

    def __post_init__(self) -> None:
        if self.max_open_positions is not None and self.max_open_positions < 1:
            raise InvalidPolicy(f"max_open_positions must be >= 1, got {self.max_open_positions}")
        for name in (
            "max_daily_realized_loss",
            "max_exposure_per_ticker",
            "max_net_delta",
            "max_net_vega",
        ):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, Decimal) and value.is_finite()):
                raise InvalidPolicy(f"{name} must be a finite Decimal, got {value!r}")
            if value is not None and value <= 0:
                raise InvalidPolicy(f"{name} must be > 0, got {value}")


@dataclass(frozen=True, slots=True)
class OpenExposure:
    """Entries still held: how many, their cost by ticker (dollars), and the net delta
    and vega of the option entries (share-equivalents: Greek x contracts x 100, a short
    counted negative)."""

    positions: int = 0
    by_ticker: Mapping[str, Decimal] = field(default_factory=dict)
    net_delta: Decimal = Decimal(0)
    net_vega: Decimal = Decimal(0)

    def of(self, ticker: str) -> Decimal:
        return self.by_ticker.get(ticker, Decimal(0))


@dataclass(frozen=True, slots=True)
class RiskCheck:
    """The figures a decision was made on, and every breach (empty when allowed)."""

    violations: tuple[RiskViolation, ...]
    figures: Mapping[str, Any]

    @property
    def allowed(self) -> bool:
        return not self.violations

    def reason(self) -> str:
        return "; ".join(v.message for v in self.violations)

    def to_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "breaches": [v.breach.value for v in self.violations],
            "reason": self.reason() or None,
            **{k: str(v) if isinstance(v, Decimal) else v for k, v in self.figures.items()},
        }


def check_risk(
    limits: RiskLimits,
    *,
    ticker: str,
    strategy: StrategyType | None,
    order_cost: Decimal,
    exposure: OpenExposure,
    realized_loss_today: Decimal,
    now: datetime,
    kill_switch_on: bool,
    order_delta: Decimal = Decimal(0),
    order_vega: Decimal = Decimal(0),
) -> RiskCheck:
    """Whether one more entry of ``order_cost`` dollars in ``ticker`` is allowed at ``now``.

    ``realized_loss_today`` is positive for a loss (a net gain is 0 or negative).
    ``order_delta`` and ``order_vega`` are what the order adds to the book's net Greeks
    (Greek x contracts x 100; 0 for a stock order, or when not known).
    """
    require_aware(now)
    found: list[RiskViolation] = []
    if kill_switch_on:
        found.append(RiskViolation(RiskBreach.KILL_SWITCH, "kill switch on"))
    cap = limits.max_open_positions
    if cap is not None and exposure.positions >= cap:
        found.append(
            RiskViolation(
                RiskBreach.MAX_OPEN_POSITIONS,
                f"{exposure.positions} open positions, the maximum is {cap}",
            )
        )
    loss_cap = limits.max_daily_realized_loss
    if loss_cap is not None and realized_loss_today >= loss_cap:
        found.append(
            RiskViolation(
                RiskBreach.MAX_DAILY_LOSS,
                f"realized loss today {_dollars(realized_loss_today)} reached the maximum"
                f" {_dollars(loss_cap)}",
            )
        )
    held = exposure.of(ticker)
    ticker_cap = limits.max_exposure_per_ticker
    if ticker_cap is not None and held + order_cost > ticker_cap:
        found.append(
            RiskViolation(
                RiskBreach.MAX_TICKER_EXPOSURE,
                f"{ticker} exposure {_dollars(held)} + order {_dollars(order_cost)} ="
                f" {_dollars(held + order_cost)} exceeds the maximum {_dollars(ticker_cap)}",
            )
        )
    cutoff = limits.day_trade_cutoff
    local = now.astimezone(NEW_YORK)
    if strategy == StrategyType.DAY_TRADE and cutoff is not None and local.time() >= cutoff:
        found.append(
            RiskViolation(
                RiskBreach.DAY_TRADE_CUTOFF,
                f"no new day-trade entries after {cutoff:%H:%M} ET (now {local:%H:%M} ET)",
            )
        )
    greeks = _greek_breaches(limits, exposure, order_delta, order_vega)
    found.extend(violation for violation, _ in greeks if violation is not None)
    figures = {
        "open_positions": exposure.positions,
        "realized_loss_today": realized_loss_today,
        "ticker_exposure": held,
        "order_cost": order_cost,
        "at": local.isoformat(),
    }
    for _, shown in greeks:
        figures.update(shown)
    return RiskCheck(tuple(found), figures)


def _greek_breaches(
    limits: RiskLimits, exposure: OpenExposure, order_delta: Decimal, order_vega: Decimal
) -> list[tuple[RiskViolation | None, dict[str, Decimal]]]:
    """Each Greek limit that is on: the breach (None when within it) and its figures.
    An order breaches when the net after it exceeds the cap in size and it moves the net
    away from zero (an order that reduces an excess is allowed); an order adding nothing
    known (a stock order, Greeks not known) is refused while the net exceeds the cap."""
    checks = (
        ("delta", RiskBreach.MAX_NET_DELTA, limits.max_net_delta, exposure.net_delta, order_delta),
        ("vega", RiskBreach.MAX_NET_VEGA, limits.max_net_vega, exposure.net_vega, order_vega),
    )
    found: list[tuple[RiskViolation | None, dict[str, Decimal]]] = []
    for name, breach, cap, net, order in checks:
        if cap is None:
            continue
        after = net + order
        shown = {f"net_{name}": net, f"order_{name}": order, f"max_net_{name}": cap}
        violation = None
        if abs(after) > cap and (order == 0 or abs(after) > abs(net)):
            violation = RiskViolation(
                breach,
                f"net {name} {_figure(net)} + order {_figure(order)} = {_figure(after)}"
                f" exceeds the maximum {_figure(cap)}",
            )
        found.append((violation, shown))
    return found


def _figure(amount: Decimal) -> str:
    return f"{amount.quantize(CENT, ROUND_HALF_EVEN).normalize():f}"


def order_greeks(
    greeks: Greeks | None,
    contracts: Decimal | int,
    action: Action = Action.BUY,
    multiplier: int | None = None,
) -> tuple[Decimal, Decimal]:
    """What an option order adds to the net delta and vega: Greek x contracts x the
    contract's multiplier (a SELL negative); (0, 0) without Greeks."""
    if greeks is None:
        return Decimal(0), Decimal(0)
    shares = shares_per_unit(InstrumentType.CALL, multiplier)
    units = Decimal(contracts) * shares * (-1 if action is Action.SELL else 1)
    return Decimal(str(greeks.delta)) * units, Decimal(str(greeks.vega)) * units


def still_held(entry: Execution | HeldEntry) -> Decimal:
    """What an entry holds now: its fills (``position_book.held_quantity``, the one rule)
    less what its linked closes filled (``HeldEntry.closed_qty``; an ``Execution`` is
    read whole), never below zero."""
    quantity = getattr(entry, "quantity", None) or Decimal(0)  # a HeldEntry has none
    held = held_quantity(entry.status.value, quantity, entry.filled_qty)
    closed = entry.closed_qty if isinstance(entry, HeldEntry) else Decimal(0)
    return max(held - closed, Decimal(0))


def net_greeks(entries: Iterable[Execution | HeldEntry]) -> tuple[Decimal, Decimal]:
    """The net delta and vega of option entries: each Greek x what the entry still
    holds x its multiplier (a SELL entry negative). An entry without a Greek adds
    nothing to it."""
    delta = vega = Decimal(0)
    for e in entries:
        if e.instrument_type is InstrumentType.STOCK:
            continue
        sign = -1 if e.action is Action.SELL else 1
        units = still_held(e) * shares_per_unit(e.instrument_type, e.multiplier) * sign
        delta += (e.delta or Decimal(0)) * units
        vega += (e.vega or Decimal(0)) * units
    return delta, vega


def _dollars(amount: Decimal) -> str:
    """An amount as a person reads it, to the cent: a held entry's cost is a fill's
    quantity (6 places) times its price (4), ×100 for options, so 2910.0000000000 as
    stored. The check itself compares the exact amounts (``figures`` keeps them)."""
    return f"{amount.quantize(CENT, ROUND_HALF_EVEN):f}"


def execution_cost(execution: Execution | HeldEntry) -> Decimal:
    """Dollars committed by an entry: the fill when there is one, else the order estimate.

    Options count x their multiplier (prices are per share), and only what is still
    held: a partial close frees its part. The estimate is the explain_json's
    ``order_cost`` that the dispatcher writes; absent, an unfilled order counts as 0.
    """
    multiplier = shares_per_unit(execution.instrument_type, execution.multiplier)
    if execution.filled_qty and execution.filled_avg_price is not None:
        return still_held(execution) * execution.filled_avg_price * multiplier
    estimate = execution.explain_json.get("order_cost")
    return Decimal(str(estimate)) if estimate is not None else Decimal(0)


def holds(execution: Execution | HeldEntry) -> bool:
    """Whether an order holds, or may still take, a position: open or filled by status,
    or any order with a fill (``HOLDING_STATUSES``)."""
    return execution.status in HOLDING_STATUSES or bool(execution.filled_qty)


def open_exposure(
    executions: Iterable[Execution | HeldEntry],
    now: datetime,
    closed_ids: Collection[int] = frozenset(),
) -> OpenExposure:
    """Exposure of entries still held at ``now``: opening orders that hold or may hold a
    position (``holds``: by status, or by a fill of an order that ended otherwise), are
    not closed by a later execution (``closed_ids``, where the caller has
    not left those out already), and (options) have not expired."""
    today = trading_date(now)
    count, by_ticker, held = 0, {}, []
    for e in executions:
        if e.position_effect is not PositionEffect.OPEN or not holds(e):
            continue
        if e.id is not None and e.id in closed_ids:
            continue
        if e.expiration_date is not None and e.expiration_date < today:
            continue
        count += 1
        by_ticker[e.ticker] = by_ticker.get(e.ticker, Decimal(0)) + execution_cost(e)
        held.append(e)
    delta, vega = net_greeks(held)
    return OpenExposure(count, by_ticker, delta, vega)
