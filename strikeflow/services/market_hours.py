"""Whether the market is open, from as few clock reads as the session allows."""

from __future__ import annotations

import threading
from datetime import datetime

from strikeflow.domain.market import MarketClock
from strikeflow.services.ports import MarketData


class MarketHours:
    """The venue's clock (``MarketData.clock``), read again only once the session may
    have changed.

    A reading says whether the market is open and when it next opens and closes: until
    the first of those instants, the answer for any later ``now`` is the same, so an
    order dispatched between two session edges costs no round trip to the venue. A
    ``now`` before the reading (a clock set back) or past an edge reads the clock again.
    """

    def __init__(self, market: MarketData) -> None:
        self._market = market
        self._reading: MarketClock | None = None
        self._lock = threading.Lock()

    def at(self, now: datetime) -> MarketClock:
        """A reading that holds at ``now``: the cached one, or a fresh one."""
        with self._lock:
            reading = self._reading
            if reading is None or not _holds(reading, now):
                reading = self._reading = self._market.clock()
            return reading


def _holds(reading: MarketClock, now: datetime) -> bool:
    """Nothing changed between the reading and ``now``: no open, no close in between."""
    return reading.timestamp <= now < min(reading.next_open, reading.next_close)


__all__ = ["MarketHours"]
