"""Bars from the MarketData port → the rectangular arrays the signal engine takes.

The venue sends each ticker's bars as a list, and a list may have holes: a minute in
which a thin ticker did not trade has no bar at all (IEX often), and a ticker listed
late has none at the start. The engine wants one ``(tickers, minutes)`` grid, so a
missing minute becomes what it was: no volume, the price where the last trade left it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from strikeflow.domain.expiry import NEW_YORK, require_aware
from strikeflow.domain.market import StockBar

__all__ = [
    "REGULAR_OPEN",
    "SessionBars",
    "daily_closes",
    "daily_lookback",
    "session_arrays",
    "session_open",
]

REGULAR_OPEN = time(9, 30)  # every session opens then; early closes only end sooner
ONE_MINUTE = timedelta(minutes=1)


def session_open(at: datetime) -> datetime:
    """09:30 New York on the New York date of ``at``: where a session's VWAP starts."""
    day = require_aware(at, "at").astimezone(NEW_YORK).date()
    return datetime.combine(day, REGULAR_OPEN, tzinfo=NEW_YORK)


def daily_lookback(trend_days: int) -> timedelta:
    """Calendar days that hold ``trend_days + 1`` past sessions, weekends and holidays
    included (5 trading days a week, and room for a holiday week)."""
    return timedelta(days=-(-(trend_days + 1) * 7 // 5) + 4)


@dataclass(frozen=True)
class SessionBars:
    """The grid of one session up to the scanned bar, for the tickers that have bars."""

    tickers: tuple[str, ...]
    close: np.ndarray
    volume: np.ndarray
    high: np.ndarray
    low: np.ndarray
    without_bars: tuple[str, ...] = ()


def session_arrays(
    bars: Mapping[str, Sequence[StockBar]],
    tickers: Sequence[str],
    first: datetime,
    last: datetime,
) -> SessionBars:
    """One row per ticker with at least one bar in ``[first, last]`` (bar start times),
    one column per minute; bars outside the range (pre-market, a minute still forming)
    are left out. Missing minutes carry the previous close with zero volume; minutes
    before a ticker's first bar carry that bar's close."""
    minutes = max(int((last - first) // ONE_MINUTE) + 1, 0)
    lists = [bars.get(t, ()) for t in tickers]
    flat = [b for bs in lists for b in bs]
    # one pass per field over every bar: ~6x faster than a Python loop doing it all
    stamp = np.array([b.time.timestamp() for b in flat], dtype=np.float64)
    offset = np.floor((stamp - first.timestamp()) / 60.0).astype(np.intp)
    owner = np.repeat(np.arange(len(tickers)), [len(bs) for bs in lists])
    keep = (offset >= 0) & (offset < minutes)
    present = np.bincount(owner[keep], minlength=len(tickers)) > 0
    rows = tuple(t for t, ok in zip(tickers, present, strict=True) if ok)
    without = tuple(t for t, ok in zip(tickers, present, strict=True) if not ok)
    shape = (len(rows), minutes)
    if not rows:
        empty = np.zeros(shape)
        return SessionBars((), empty, empty, empty, empty, without)
    r = (np.cumsum(present) - 1)[owner[keep]]
    c = offset[keep]
    chosen = np.flatnonzero(keep)
    close = np.full(shape, np.nan)
    high, low, volume = close.copy(), close.copy(), np.zeros(shape)
    for grid, field in ((close, "close"), (high, "high"), (low, "low"), (volume, "volume")):
        values = np.array([float(getattr(b, field)) for b in flat], dtype=np.float64)
        grid[r, c] = values[chosen]
    have = ~np.isnan(close)
    latest = np.maximum.accumulate(np.where(have, np.arange(minutes), -1), axis=1)
    carried = close[np.arange(len(rows))[:, None], np.maximum(latest, 0)]
    first_close = close[np.arange(len(rows)), have.argmax(axis=1)][:, None]
    filled = np.where(latest < 0, first_close, carried)
    return SessionBars(
        tickers=rows,
        close=filled,
        volume=volume,
        high=np.where(have, high, filled),
        low=np.where(have, low, filled),
        without_bars=without,
    )


def daily_closes(
    bars: Mapping[str, Sequence[StockBar]],
    tickers: Sequence[str],
    before: date,
    sessions: int,
    fallback: np.ndarray,
) -> np.ndarray:
    """The last ``sessions`` daily closes before the New York date ``before``, oldest
    first, one row per ticker: from daily bars, or from minute bars (the last bar of each
    date is its close). A ticker with fewer repeats its oldest close in front (no move,
    so no trend); one with none repeats ``fallback[i]`` (its first price today)."""
    out = np.empty((len(tickers), sessions))
    for i, ticker in enumerate(tickers):
        by_date: dict[date, tuple[datetime, float]] = {}
        for bar in bars.get(ticker, ()):
            day = bar.time.astimezone(NEW_YORK).date()
            if day < before and (day not in by_date or bar.time > by_date[day][0]):
                by_date[day] = (bar.time, float(bar.close))
        closes = [by_date[d][1] for d in sorted(by_date)][-sessions:]
        if not closes:
            closes = [float(fallback[i])]
        out[i, : sessions - len(closes)] = closes[0]
        out[i, sessions - len(closes) :] = closes
    return out
