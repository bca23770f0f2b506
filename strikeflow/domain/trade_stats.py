"""What a run of closed trades says: per strategy and per exit rule, the trades, the win
rate, the realized P&L, the deepest drawdown, the Sharpe ratio of the daily P&L and the
time a position was held. Pure: the trades in, the figures out (a backtest's report,
``strikeflow backtest``).

A trade is one close that filled, with the P&L it realized against its entry: a
partial close is a trade of its own, and an expiry or an exercise the venue recorded is
a trade closed by that event. A win is a trade that realized more than zero.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from strikeflow.domain.expiry import NEW_YORK

TRADING_DAYS_A_YEAR = 252
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One close that filled, and what it realized against its entry."""

    symbol: str
    strategy: str  # day_trade, swing_trade, or stock
    rule: str  # what closed it: an exit rule, a sell signal, a manual close, an expiry
    opened_at: datetime
    closed_at: datetime
    quantity: Decimal
    entry_price: Decimal | None
    exit_price: Decimal | None
    pnl: Decimal

    @property
    def held(self) -> timedelta:
        return self.closed_at - self.opened_at

    @property
    def closed_on(self) -> date:
        """The New York trading date of the close."""
        return self.closed_at.astimezone(NEW_YORK).date()


@dataclass(frozen=True, slots=True)
class TradeStats:
    """One group of trades' figures. ``sharpe`` is None with fewer than two days or no
    variation; ``average_held`` None with no trades."""

    trades: int
    wins: int
    total_pnl: Decimal
    max_drawdown: Decimal  # the deepest fall of the cumulative P&L from a peak, >= 0
    sharpe: float | None
    average_held: timedelta | None
    exits: dict[str, int]  # trades by what closed them

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.trades if self.trades else None

    @property
    def average_pnl(self) -> Decimal | None:
        return self.total_pnl / self.trades if self.trades else None


def in_close_order(trades: Iterable[ClosedTrade]) -> list[ClosedTrade]:
    """Oldest close first; ties by symbol, so the same trades give the same order."""
    return sorted(trades, key=lambda t: (t.closed_at, t.symbol, t.rule, t.pnl))


def equity_curve(trades: Iterable[ClosedTrade]) -> list[tuple[datetime, Decimal]]:
    """The cumulative realized P&L after each close, oldest first."""
    total, curve = ZERO, []
    for trade in in_close_order(trades):
        total += trade.pnl
        curve.append((trade.closed_at, total))
    return curve


def drawdowns(curve: Sequence[tuple[datetime, Decimal]]) -> list[tuple[datetime, Decimal]]:
    """How far below its highest point so far (starting at 0) the curve is, at each point."""
    peak, out = ZERO, []
    for at, value in curve:
        peak = max(peak, value)
        out.append((at, peak - value))
    return out


def max_drawdown(trades: Iterable[ClosedTrade]) -> Decimal:
    return max((fall for _, fall in drawdowns(equity_curve(trades))), default=ZERO)


def daily_pnl(trades: Iterable[ClosedTrade], days: Sequence[date]) -> dict[date, Decimal]:
    """The realized P&L of each day in ``days`` (0 for a day that closed nothing), and of
    any other day a trade closed on."""
    out = dict.fromkeys(days, ZERO)
    for trade in trades:
        out[trade.closed_on] = out.get(trade.closed_on, ZERO) + trade.pnl
    return dict(sorted(out.items()))


def sharpe(daily: Iterable[Decimal]) -> float | None:
    """Annualized Sharpe ratio of daily P&L (no risk-free rate): mean over the sample
    standard deviation, times the square root of 252."""
    values = [float(v) for v in daily]
    if len(values) < 2:
        return None
    spread = statistics.stdev(values)
    if spread == 0:
        return None
    return statistics.fmean(values) / spread * math.sqrt(TRADING_DAYS_A_YEAR)


def stats_of(trades: Sequence[ClosedTrade], days: Sequence[date]) -> TradeStats:
    """The figures of ``trades`` over the trading ``days`` the run covered."""
    held = [t.held for t in trades]
    return TradeStats(
        trades=len(trades),
        wins=sum(t.pnl > 0 for t in trades),
        total_pnl=sum((t.pnl for t in trades), ZERO),
        max_drawdown=max_drawdown(trades),
        sharpe=sharpe(daily_pnl(trades, days).values()),
        average_held=sum(held, timedelta()) / len(held) if held else None,
        exits=dict(Counter(t.rule for t in trades).most_common()),
    )


def grouped(
    trades: Sequence[ClosedTrade], days: Sequence[date], key: Callable[[ClosedTrade], str]
) -> dict[str, TradeStats]:
    """``stats_of`` each group of trades ``key`` names, groups in name order."""
    groups: dict[str, list[ClosedTrade]] = {}
    for trade in trades:
        groups.setdefault(key(trade), []).append(trade)
    return {name: stats_of(groups[name], days) for name in sorted(groups)}


def by_strategy(trades: Sequence[ClosedTrade], days: Sequence[date]) -> dict[str, TradeStats]:
    return grouped(trades, days, lambda t: t.strategy)


def by_rule(trades: Sequence[ClosedTrade], days: Sequence[date]) -> dict[str, TradeStats]:
    return grouped(trades, days, lambda t: t.rule)


__all__ = [
    "ClosedTrade",
    "TradeStats",
    "by_rule",
    "by_strategy",
    "daily_pnl",
    "drawdowns",
    "equity_curve",
    "in_close_order",
    "max_drawdown",
    "sharpe",
    "stats_of",
]
