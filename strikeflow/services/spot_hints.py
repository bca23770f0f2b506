"""The last spot the fleet saw per ticker, kept in the shared cache.

A chain's strike band is drawn around spot, and spot arrives with the stock quote; a
chain asked for at the same time as that quote must be drawn around a spot known
before it. Every fetch_chain leaves the spot it read here, and every scan the closes of
its last bars, so the next chain of a ticker, on any worker, finds a spot seconds or
minutes old (``chain_reads``). A hint only decides how wide a band to ask for: a hint
that is wrong costs the round trip it meant to save, never a different selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from strikeflow.services.ports import SharedCache

PREFIX = "spot:"
# A hint older than this (on the chain's clock) is not used: the band it would draw is
# likely to miss, and a miss asks the venue twice.
HINT_MAX_AGE_S = 900.0
# How long the cache keeps one (wall-clock seconds; the age check above decides).
HINT_KEEP_S = 3600.0


def remembered_spot(cache: SharedCache | None, ticker: str, now: datetime) -> Decimal | None:
    """The last spot left for ``ticker``, if one is there and at most HINT_MAX_AGE_S old."""
    if cache is None:
        return None
    stored = cache.get(PREFIX + ticker)
    if not stored:
        return None
    price, _, at = stored.partition("|")
    try:
        spot, seen = Decimal(price), datetime.fromisoformat(at)
    except (InvalidOperation, ValueError):
        return None  # not ours, or damaged: no hint
    age = (now - seen).total_seconds()
    if not (spot.is_finite() and spot > 0) or not 0 <= age <= HINT_MAX_AGE_S:
        return None
    return spot


def remember_spots(cache: SharedCache | None, spots: Mapping[str, Decimal], at: datetime) -> None:
    """Leave each ticker's spot, seen at ``at``, for the next chain on any worker."""
    if cache is None or not spots:
        return
    stamp = at.isoformat()
    cache.put_many(
        {PREFIX + ticker: f"{spot}|{stamp}" for ticker, spot in spots.items()}, HINT_KEEP_S
    )


__all__ = ["HINT_MAX_AGE_S", "remember_spots", "remembered_spot"]
