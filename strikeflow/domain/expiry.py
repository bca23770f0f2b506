"""Calendar arithmetic for expiries: days to expiry in New York, and time to the closing bell.

Listed equity options stop trading at 16:00 America/New_York on their expiration date,
so that instant, not midnight UTC, is when their time value reaches zero.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from strikeflow.domain.year_fraction import year_fraction

NEW_YORK = ZoneInfo("America/New_York")
MARKET_CLOSE = time(16, 0)


def require_aware(now: datetime, name: str = "now") -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {now!r}")
    return now


def trading_date(now: datetime) -> date:
    """The calendar date in New York: DTE counts from it, whatever the server's zone."""
    return require_aware(now).astimezone(NEW_YORK).date()


def expiry_instant(expiration: date) -> datetime:
    return datetime.combine(expiration, MARKET_CLOSE, tzinfo=NEW_YORK)


def days_to_expiry(expirations: np.ndarray, now: datetime) -> np.ndarray:
    """Whole calendar days from today (New York) to each expiration (datetime64[D])."""
    today = np.datetime64(trading_date(now), "D")
    return (expirations - today).astype(np.int64)


def years_to_expiry(expirations: np.ndarray, now: datetime) -> np.ndarray:
    """Years (365-day) from ``now`` to each expiration's close; negative once expired."""
    unique, inverse = np.unique(expirations, return_inverse=True)
    now_ts = require_aware(now).timestamp()
    closes = np.fromiter(
        (expiry_instant(d.item()).timestamp() for d in unique), dtype=np.float64, count=len(unique)
    )
    return year_fraction(closes - now_ts)[inverse.reshape(-1)]
