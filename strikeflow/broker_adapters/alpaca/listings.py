"""The day's option listings, kept per worker process and shared by the fleet.

Alpaca lists contracts once a day (open interest too is a daily figure), so a chain's
listing is fetched once per (underlying, expiry window, right) and reused until it is
``ttl_s`` old; only the quotes are asked for on every chain. The key holds the window's
dates, so a new trading day asks again by itself. A strike band is applied to the cached
listing, never part of the key: spot moves all day, the listing does not.

Two levels: this process's memory, then the fleet's shared cache (``SharedCache``,
Redis), where the first worker to list a chain leaves it for the others, named by the
venue it came from. A shared copy that cannot be read is a miss, never an error.
"""

from __future__ import annotations

import json
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
from strikeflow.services.ports import SharedCache

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


def encoded(listing: Sequence[ListedContract]) -> str:
    """A listing as compact JSON, for the shared cache."""
    return json.dumps(
        [
            [
                c.symbol,
                c.underlying,
                c.expiration.isoformat(),
                c.right.value,
                str(c.strike),
                c.open_interest,
                c.multiplier,
            ]
            for c in listing
        ],
        separators=(",", ":"),
    )


def decoded(text: str) -> tuple[ListedContract, ...] | None:
    """``encoded``'s listing back; None for text that is not one."""
    try:
        return tuple(
            ListedContract(
                symbol=symbol,
                underlying=underlying,
                expiration=date.fromisoformat(expiration),
                right=Right(right),
                strike=Decimal(strike),
                open_interest=int(open_interest),
                multiplier=int(multiplier),
            )
            for symbol, underlying, expiration, right, strike, open_interest, multiplier in (
                json.loads(text)
            )
        )
    except (ValueError, TypeError, ArithmeticError):
        return None


def expiry_groups(listed: Sequence[ListedContract], per_group: int) -> list[tuple[date, date]]:
    """The listed expirations, in order, cut into runs of at most ``per_group`` contracts
    each (an expiration with more stands alone): one snapshot request per run is one page,
    and the runs can be asked for at once instead of page after page."""
    counts: dict[date, int] = {}
    for contract in listed:
        counts[contract.expiration] = counts.get(contract.expiration, 0) + 1
    groups: list[tuple[date, date]] = []
    first: date | None = None
    last: date | None = None
    held = 0
    for day in sorted(counts):
        if first is not None and last is not None and held + counts[day] > per_group:
            groups.append((first, last))
            first, held = None, 0
        first = day if first is None else first
        last, held = day, held + counts[day]
    if first is not None and last is not None:
        groups.append((first, last))
    return groups


def in_band(listed: Sequence[ListedContract], band: StrikeBand) -> list[ListedContract]:
    return band.pick(listed, expiration=attrgetter("expiration"), strike=attrgetter("strike"))


class ListingCache:
    """At most ``max_entries`` listings, each reused for ``ttl_s`` (0: never reused);
    with ``share(cache, venue)``, also left in and taken from the fleet's cache."""

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
        self._shared: SharedCache | None = None
        self._venue = ""

    def share(self, cache: SharedCache, venue: str) -> None:
        """Keep listings in ``cache`` too, under ``venue``'s name (another venue's
        listing is never taken for this one's)."""
        self._shared, self._venue = cache, venue

    def _shared_key(self, key: ListingKey) -> str:
        underlying, first, last, right = key
        side = "any" if right is None else right.value
        return f"listing:{self._venue}:{underlying}:{first}:{last}:{side}"

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
        shared = self._from_shared(key)
        listing = shared if shared is not None else tuple(fetch())  # outside the lock
        if shared is None and self._shared is not None and self._ttl > 0:
            self._shared.put(self._shared_key(key), encoded(listing), self._ttl)
        if self._ttl > 0:
            with self._lock:
                self._entries[key] = (now, listing)
                self._entries.move_to_end(key)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return listing

    def _from_shared(self, key: ListingKey) -> tuple[ListedContract, ...] | None:
        if self._shared is None or self._ttl <= 0:
            return None
        text = self._shared.get(self._shared_key(key))
        return None if text is None else decoded(text)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
