"""The day's figures of the account: what it held and was worth at the last close.

Alpaca reports a position's and an account's change since the previous session's close
(``lastday_price``, ``unrealized_intraday_pl``, ``change_today``, ``last_equity``). The
venue keeps no end-of-day snapshot: it rebuilds the state at that close from the
activity log, undoing every activity after it. Pure: the venue hands in the log, the
book's state and the prices.

- ``day_start(now)``: the last close before the current New York date (Friday's close on
  a weekend, yesterday's while a session trades or after it ends). Activities after it
  are the day's.
- A position's intraday basis: the units carried from that close at ``lastday_price``,
  plus the units bought since at their average price; the day's sells and settlements
  take carried units first (first in, first out).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

from strikeflow.domain.expiry import NEW_YORK, require_aware
from strikeflow.sim import calendar
from strikeflow.sim.venue_activities import Entry

_REMOVALS = frozenset({"OPEXC", "OPCSH", "OPEXP"})


def day_start(now: datetime) -> datetime | None:
    """The closing bell the day's figures count from; None before the calendar's window."""
    local = require_aware(now, "now").astimezone(NEW_YORK)
    return calendar.previous_close(datetime.combine(local.date(), time(0), NEW_YORK))


@dataclass(slots=True)
class DayMoves:
    """What the activities since the close did to one symbol, and to cash."""

    bought: Decimal = Decimal(0)  # units
    bought_cost: Decimal = Decimal(0)  # per-unit price x units (before the multiplier)
    removed: Decimal = Decimal(0)  # units sold, exercised, settled or expired


@dataclass(slots=True)
class Day:
    """The day's activities, folded: per symbol, and the cash they moved."""

    moves: dict[str, DayMoves] = field(default_factory=lambda: defaultdict(DayMoves))
    cash: Decimal = Decimal(0)  # net cash the day's activities brought in


def fold(log: list[Entry], since: datetime | None, multiplier: dict[str, Decimal]) -> Day:
    """The activities after ``since`` (all of them when None). The whole log is read: an
    expiry is stamped at its close, which may precede a fill recorded before it."""
    day = Day()
    for entry in log:
        if since is not None and entry.at <= since:
            continue
        body, symbol = entry.body, str(entry.body["symbol"])
        qty, moves = Decimal(body["qty"]), day.moves[symbol]
        if entry.kind == "FILL":
            price = Decimal(body["price"])
            amount = price * qty * multiplier.get(symbol, Decimal(1))
            if body["side"] == "buy":
                moves.bought += qty
                moves.bought_cost += price * qty
                day.cash -= amount
            else:
                moves.removed += qty
                day.cash += amount
            continue
        net = Decimal(body["net_amount"])
        day.cash += net
        if entry.kind == "OPTRD" and net < 0:  # shares delivered by a call's exercise
            moves.bought += qty
            moves.bought_cost += Decimal(body["price"]) * qty
        elif entry.kind == "OPTRD" or entry.kind in _REMOVALS:
            moves.removed += qty
    return day


def held_then(qty_now: Decimal, moves: DayMoves | None) -> Decimal:
    """The units held at the close, from those held now and the day's moves."""
    if moves is None:
        return qty_now
    return qty_now - moves.bought + moves.removed


def intraday_basis(
    qty_now: Decimal, moves: DayMoves | None, lastday: Decimal, multiplier: Decimal
) -> Decimal:
    """What the units held now were worth at the close, or cost if bought since."""
    if moves is None or moves.bought == 0:
        return lastday * qty_now * multiplier
    carried = max(Decimal(0), held_then(qty_now, moves) - moves.removed)
    carried = min(carried, qty_now)
    today = qty_now - carried
    average = moves.bought_cost / moves.bought
    return (carried * lastday + today * average) * multiplier
