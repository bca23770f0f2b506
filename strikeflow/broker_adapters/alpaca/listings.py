"""The day's option listings, kept per worker process.

Alpaca lists contracts once a day (open interest too is a daily figure), so a chain's
listing is fetched once per (underlying, expiry window, right) and reused until it is
``ttl_s`` old; only the quotes are asked for on every chain. The key holds the window's
dates, so a new trading day asks again by itself. A strike band is applied to the cached
listing, never part of the key: spot moves all day, the listing does not.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from operator import attrgetter

from strikeflow.domain.enums import Right
from strikeflow.domain.market import StrikeBand

ListingKey = tuple[str, date, date, Right | None]


@dataclass(frozen=True, slots=True)
class ListedContract:
    """What the contracts endpoint adds to a quote: open interest and the multiplier."""

    symbol: str
    underlying: str
    expiration: date
    right: Right
    strike: Decimal
    open_interest: int
    multiplier: int


def in_band(listed: Sequence[ListedContract], band: StrikeBand) -> list[ListedContract]:
    return band.pick(listed, expiration=attrgetter("expiration"), strike=attrgetter("strike"))


class ListingCache:
    """At most ``max_entries`` listings, each reused for ``ttl_s`` (0: never reused)."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError("ttl_s must be >= 0 and max_entries >= 1")
        self._ttl, self._max, self._clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[ListingKey, tuple[float, tuple[ListedContract, ...]]]
        self._entries = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, key: ListingKey, fetch: Callable[[], Sequence[ListedContract]]
    ) -> tuple[ListedContract, ...]:
        """The cached listing for ``key``, or ``fetch()``'s (stored only if it succeeds)."""
        now = self._clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                self._entries.move_to_end(key)
                return hit[1]
        listing = tuple(fetch())  # outside the lock: a slow venue must not block readers
        if self._ttl > 0:
            with self._lock:
                self._entries[key] = (now, listing)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return listing

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
