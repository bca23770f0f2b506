"""Market data as the domain sees it: quotes, bars, the clock, and what a chain query asks.

Venue-neutral value types; adapters translate their venue's payloads into these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from strikeflow.domain.errors import InvalidPolicy
from strikeflow.domain.models import Greeks

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StockQuote:
    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    time: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class StockBar:
    symbol: str
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    vwap: Decimal | None = None
    trades: int | None = None


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """The latest quote of one option contract, with the venue's IV, Greeks and the day's
    volume when sent."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    time: datetime
    last: Decimal | None = None
    implied_vol: float | None = None
    greeks: Greeks | None = None
    volume: int | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class ExpiryWindow:
    """Inclusive range of expiration dates a chain query asks for."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise InvalidPolicy(f"expiry window {self.first} .. {self.last} is empty")

    @classmethod
    def days_ahead(cls, today: date, min_days: int, max_days: int) -> ExpiryWindow:
        """From a DTE range (as ``selection.DteWindow`` holds) counted from ``today``."""
        return cls(today + timedelta(days=min_days), today + timedelta(days=max_days))


@dataclass(frozen=True, slots=True)
class StrikeBand:
    """Inclusive strike range; None leaves that side open.

    With ``per_side`` (and ``center``), only the ``per_side`` listed strikes nearest
    ``center`` on each side (at or below it, above it) of each expiration are wanted
    (within the range, if one is given): a strike target aimed at a price (ATM and n
    strikes OTM or ITM at spot, a percent target at spot x (1 +/- percent)) can use no
    other, and the venue's strike spacing, known from its listing only, decides how far
    away they lie. A fixed fraction of spot is far too wide for SPY's dollar strikes,
    and may hold no strike at all for a $12 stock's $5 ones.

    With ``center_high`` too, the band is aimed at a range of prices rather than one: the
    ``per_side`` strikes at or below ``center``, every strike above it up to
    ``center_high``, and the ``per_side`` above that. It holds what a band by count
    around any price within the range would pick (``spanning``): a chain can be asked
    for before spot is known, and cut to spot's band once it is (``covers``)."""

    low: Decimal | None = None
    high: Decimal | None = None
    per_side: int | None = None
    center: Decimal | None = None
    center_high: Decimal | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise InvalidPolicy(f"strike band {self.low} .. {self.high} is empty")
        if self.per_side is not None and (self.per_side < 1 or self.center is None):
            raise InvalidPolicy(
                f"strikes per side must be >= 1 around a price, got {self.per_side}"
                f" around {self.center}"
            )
        if self.center_high is not None and (
            self.per_side is None or self.center is None or self.center_high < self.center
        ):
            raise InvalidPolicy(
                f"a band by count up to {self.center_high} needs strikes per side and a"
                f" center at or below it, got {self.per_side} around {self.center}"
            )

    @classmethod
    def around(cls, spot: Decimal, fraction: Decimal) -> StrikeBand:
        """spot x (1 -/+ fraction): the strikes a selection can plausibly want."""
        return cls(spot * (1 - fraction), spot * (1 + fraction))

    @classmethod
    def nearest(cls, center: Decimal, per_side: int) -> StrikeBand:
        """The ``per_side`` listed strikes nearest ``center`` on each side, per expiration."""
        return cls(per_side=per_side, center=center)

    def contains(self, strike: Decimal) -> bool:
        """Within the range (``per_side`` aside: it depends on the other strikes)."""
        return (self.low is None or strike >= self.low) and (
            self.high is None or strike <= self.high
        )

    def pick(
        self, listed: Sequence[T], expiration: Callable[[T], date], strike: Callable[[T], Decimal]
    ) -> list[T]:
        """The items of ``listed`` this band wants, in their order."""
        inside = [item for item in listed if self.contains(strike(item))]
        if self.per_side is None:
            return inside
        (center, top), wanted = self._aim(), set()
        by_expiry: dict[date, set[Decimal]] = {}
        for item in inside:
            by_expiry.setdefault(expiration(item), set()).add(strike(item))
        for day, strikes in by_expiry.items():
            below = sorted((k for k in strikes if k <= center), reverse=True)[: self.per_side]
            between = [k for k in strikes if center < k <= top]
            above = sorted(k for k in strikes if k > top)[: self.per_side]
            wanted.update((day, k) for k in (*below, *between, *above))
        return [item for item in inside if (expiration(item), strike(item)) in wanted]

    def spanning(self, other: StrikeBand) -> StrikeBand:
        """The narrowest band of this kind that picks whatever either band picks, from
        any listing: two ranges joined, or two bands by count (the same count, the same
        range) aimed at the prices from the lower center to the higher top."""
        if (self.per_side is None) != (other.per_side is None):
            raise InvalidPolicy("a band by count and a range of strikes cannot be spanned")
        low = None if self.low is None or other.low is None else min(self.low, other.low)
        high = None if self.high is None or other.high is None else max(self.high, other.high)
        if self.per_side is None or other.per_side is None:
            return StrikeBand(low, high)
        (center, top), (other_center, other_top) = self._aim(), other._aim()
        return StrikeBand(
            low,
            high,
            per_side=max(self.per_side, other.per_side),
            center=min(center, other_center),
            center_high=max(top, other_top),
        )

    def covers(self, other: StrikeBand) -> bool:
        """Whether every strike ``other`` picks from a listing, this band picks from it
        too: ``other``'s contracts can be cut from this band's."""
        within = (self.low is None or (other.low is not None and other.low >= self.low)) and (
            self.high is None or (other.high is not None and other.high <= self.high)
        )
        if not within:
            return False
        if self.per_side is None:
            return True
        if other.per_side is None or other.per_side > self.per_side:
            return False
        (center, top), (other_center, other_top) = self._aim(), other._aim()
        return center <= other_center and other_top <= top

    def _aim(self) -> tuple[Decimal, Decimal]:
        """A band by count's lowest and highest aim (``__post_init__`` holds a center)."""
        if self.center is None:
            raise InvalidPolicy("a band by count needs a center")
        return self.center, self.center if self.center_high is None else self.center_high
