"""The NYSE calendar by rule, and the emulator's clock (real or simulated).

Holidays are computed, not tabulated, so the emulator knows any year it is run in: the
market must be shut on Good Friday 2031 as surely as on Good Friday 2024, or /v2/clock
lies and the scans trade a closed market. The one-off closures NYSE declares (national
days of mourning, storms) cannot be derived; the recent ones are listed.
"""

from __future__ import annotations

import math
import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from strikeflow.domain.expiry import MARKET_CLOSE, NEW_YORK, require_aware

OPEN = time(9, 30)
CLOSE = MARKET_CLOSE
EARLY_CLOSE = time(13, 0)

# Unscheduled full-day closures (they follow no rule): Ford, Sandy, G. H. W. Bush, Carter.
SPECIAL_CLOSURES = frozenset(
    {date(2007, 1, 2), date(2012, 10, 29), date(2012, 10, 30), date(2018, 12, 5), date(2025, 1, 9)}
)
_SEARCH_DAYS = 14  # longer than any run of closed days NYSE has had in a century


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian computus)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_shift = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_shift) // 451
    month, day = divmod(h + weekday_shift - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return end - timedelta(days=(end.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """Saturday holidays are kept on the Friday before, Sunday ones on the Monday after."""
    return day + timedelta(days={5: -1, 6: 1}.get(day.weekday(), 0))


@lru_cache(maxsize=256)
def holidays(year: int) -> frozenset[date]:
    """NYSE full-day closures in ``year``, as observed."""
    days = {
        _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        easter(year) - timedelta(days=2),  # Good Friday
        _last_weekday(year, 5, 0),  # Memorial Day
        _observed(date(year, 7, 4)),
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving
        _observed(date(year, 12, 25)),
    }
    new_year = date(year, 1, 1)
    # A Saturday New Year's Day is not observed: NYSE keeps 31 December, a year-end, open.
    if new_year.weekday() != 5:
        days.add(_observed(new_year))
    if year >= 2022:
        days.add(_observed(date(year, 6, 19)))  # Juneteenth
    days |= {d for d in SPECIAL_CLOSURES if d.year == year}
    return frozenset(days)


@lru_cache(maxsize=256)
def early_closes(year: int) -> frozenset[date]:
    """13:00 closes: the eve of Independence Day, Black Friday, Christmas Eve, when open."""
    candidates = (
        date(year, 7, 3),
        _nth_weekday(year, 11, 3, 4) + timedelta(days=1),
        date(year, 12, 24),
    )
    return frozenset(d for d in candidates if is_trading_day(d))


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


@lru_cache(maxsize=8192)
def session(day: date) -> tuple[datetime, datetime] | None:
    """(open, close) in New York on ``day``, or None when the exchange is shut."""
    if not is_trading_day(day):
        return None
    close = EARLY_CLOSE if day in early_closes(day.year) else CLOSE
    return datetime.combine(day, OPEN, NEW_YORK), datetime.combine(day, close, NEW_YORK)


def is_open(t: datetime) -> bool:
    hours = session(require_aware(t, "t").astimezone(NEW_YORK).date())
    return hours is not None and hours[0] <= t < hours[1]


def _next_session_edge(t: datetime, edge: int) -> datetime:
    day = require_aware(t, "t").astimezone(NEW_YORK).date()
    for offset in range(_SEARCH_DAYS):
        hours = session(day + timedelta(days=offset))
        if hours is not None and hours[edge] > t:
            return hours[edge]
    raise RuntimeError(f"no session within {_SEARCH_DAYS} days of {t.isoformat()}")


def next_open(t: datetime) -> datetime:
    """The first opening bell after ``t``: tomorrow's while open, as /v2/clock says."""
    return _next_session_edge(t, 0)


def next_close(t: datetime) -> datetime:
    """The first closing bell after ``t``: today's while open, else the next session's."""
    return _next_session_edge(t, 1)


def trading_from(t: datetime) -> datetime:
    """``t`` while the market is open, else the next opening bell: when an order sent at
    ``t`` (not in extended hours) can first trade."""
    return t if is_open(t) else next_open(t)


def previous_close(t: datetime) -> datetime | None:
    """The last closing bell at or before ``t`` (None if none in the search window)."""
    day = require_aware(t, "t").astimezone(NEW_YORK).date()
    for offset in range(_SEARCH_DAYS):
        hours = session(day - timedelta(days=offset))
        if hours is not None and hours[1] <= t:
            return hours[1]
    return None


def last_trading_day_on_or_before(day: date) -> date:
    """Where an expiration that falls on a holiday moves: the session before it."""
    for offset in range(_SEARCH_DAYS):
        if is_trading_day(candidate := day - timedelta(days=offset)):
            return candidate
    raise RuntimeError(f"no trading day within {_SEARCH_DAYS} days before {day}")


def trading_days(start: date, end: date) -> list[date]:
    """Trading days from ``start`` to ``end``, both included (/v2/calendar's range)."""
    count = (end - start).days + 1
    return [d for d in (start + timedelta(days=n) for n in range(count)) if is_trading_day(d)]


def first_trading_days(start: date, count: int) -> list[date]:
    """The first ``count`` trading days from ``start`` on (a backtest's days)."""
    days, day = [], start
    while len(days) < count:
        if is_trading_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


class SimClock:
    """The emulator's now: the wall clock, or simulated time that only moves forward.

    Simulated time starts at a given instant and moves when told to; it never goes back,
    because orders, fills and expiries already recorded would then lie in the future. It
    is shared by the server's request threads, hence the lock.
    """

    def __init__(self, mode: str = "real", start: datetime | None = None) -> None:
        if mode not in ("real", "sim"):
            raise ValueError(f"clock mode must be 'real' or 'sim', got {mode!r}")
        if mode == "sim" and start is None:
            raise ValueError("a simulated clock needs a start instant")
        if mode == "real" and start is not None:
            raise ValueError("a real clock takes no start instant")
        self._mode = mode
        self._now = require_aware(start, "start").astimezone(UTC) if start else None
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        return self._mode

    def now(self) -> datetime:
        if self._now is None:
            return datetime.now(UTC)
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward by ``seconds`` (>= 0); return the new now."""
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError(f"seconds must be a number, got {seconds!r}")
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the clock only moves forward: seconds must be >= 0, got {seconds}")
        with self._lock:
            self._require_sim()
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, instant: datetime) -> datetime:
        """Jump simulated time to ``instant``, which must not be earlier than now."""
        instant = require_aware(instant, "instant").astimezone(UTC)
        with self._lock:
            self._require_sim()
            if instant < self._now:
                raise ValueError(
                    f"the clock only moves forward: {instant.isoformat()} is before "
                    f"{self._now.isoformat()}"
                )
            self._now = instant
            return self._now

    def _require_sim(self) -> None:
        if self._now is None:
            raise ValueError("the clock is real: only a simulated clock can be moved")
