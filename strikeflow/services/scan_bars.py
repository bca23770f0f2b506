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
    "SESSION_MINUTES",
    "MinuteGrid",
    "SessionBars",
    "daily_closes",
    "daily_lookback",
    "session_arrays",
    "session_open",
]

REGULAR_OPEN = time(9, 30)  # every session opens then; early closes only end sooner
ONE_MINUTE = timedelta(minutes=1)
SESSION_MINUTES = 390  # 09:30 to 16:00; a grid widens for a bar past it


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
    grid = MinuteGrid(tickers, first, minutes)
    grid.add(bars)
    return grid.session(last)


class MinuteGrid:
    """Bars placed on a (tickers, minutes from ``first``) grid as they arrive: a bar
    arriving again for the same minute (corrected, or complete where it was forming)
    replaces the first. ``session`` reads the grid up to a minute as ``session_arrays``
    describes; the grid widens when a bar lands past it."""

    def __init__(self, tickers: Sequence[str], first: datetime, minutes: int) -> None:
        self.tickers, self.first = tuple(tickers), first
        self._row = {t: i for i, t in enumerate(self.tickers)}
        shape = (len(self.tickers), max(minutes, 0))
        self.close = np.full(shape, np.nan)
        self.high, self.low, self.volume = self.close.copy(), self.close.copy(), np.zeros(shape)

    def add(self, bars: Mapping[str, Sequence[StockBar]]) -> None:
        lists = [(self._row[t], bs) for t, bs in bars.items() if t in self._row and bs]
        flat = [b for _, bs in lists for b in bs]
        if not flat:
            return
        # one pass per field over every bar: ~6x faster than a Python loop doing it all
        stamp = np.array([b.time.timestamp() for b in flat], dtype=np.float64)
        offset = np.floor((stamp - self.first.timestamp()) / 60.0).astype(np.intp)
        owner = np.repeat([row for row, _ in lists], [len(bs) for _, bs in lists])
        keep = offset >= 0
        if not keep.any():
            return
        self._widen(int(offset[keep].max()) + 1)
        r, c, chosen = owner[keep], offset[keep], np.flatnonzero(keep)
        for grid, field in (
            (self.close, "close"),
            (self.high, "high"),
            (self.low, "low"),
            (self.volume, "volume"),
        ):
            values = np.array([float(getattr(b, field)) for b in flat], dtype=np.float64)
            grid[r, c] = values[chosen]

    def _widen(self, minutes: int) -> None:
        more = minutes - self.close.shape[1]
        if more <= 0:
            return
        pad = ((0, 0), (0, more))
        self.close = np.pad(self.close, pad, constant_values=np.nan)
        self.high = np.pad(self.high, pad, constant_values=np.nan)
        self.low = np.pad(self.low, pad, constant_values=np.nan)
        self.volume = np.pad(self.volume, pad)

    def session(self, last: datetime) -> SessionBars:
        """The grid from ``first`` to ``last`` (inclusive), as ``session_arrays`` does."""
        minutes = max(int((last - self.first) // ONE_MINUTE) + 1, 0)
        self._widen(minutes)
        close, high, low = (g[:, :minutes] for g in (self.close, self.high, self.low))
        present = ~np.isnan(close).all(axis=1) if minutes else np.zeros(len(self.tickers), bool)
        rows = tuple(t for t, ok in zip(self.tickers, present, strict=True) if ok)
        without = tuple(t for t, ok in zip(self.tickers, present, strict=True) if not ok)
        if not rows:
            empty = np.zeros((0, minutes))
            return SessionBars((), empty, empty, empty, empty, without)
        close, high, low = close[present], high[present], low[present]
        volume = np.where(np.isnan(close), 0.0, self.volume[present, :minutes])
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
