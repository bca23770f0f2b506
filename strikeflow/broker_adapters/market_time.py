"""What "now" is (``STRIKEFLOW_CLOCK``): the venue's clock, or this host's."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from strikeflow.domain.errors import BrokerError
from strikeflow.services.ports import MarketData


class MarketTime:
    """``now`` from the venue's clock (the emulator's simulated time), from a reading at
    most ``ttl_s`` old; the wall clock when ``STRIKEFLOW_CLOCK=wall`` (production).

    A reading past half its ttl is renewed on a thread of its own while the caller goes
    on with it (``refresh_ahead``): a process that is busy never waits on the clock, only
    one idle for longer than the ttl does. When the venue cannot be read (it is down: the
    very case the fallback policy is for), ``now`` carries on from the last reading by the
    time elapsed since, or is the wall clock if there never was one: recording a
    simulated fill must not need the venue. ``monotonic`` measures the time elapsed
    (tests hand in their own ticks).
    """

    def __init__(
        self,
        market: MarketData,
        ttl_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_ahead: bool = True,
    ) -> None:
        self._market, self._ttl, self._monotonic = market, ttl_s, monotonic
        self._cached: tuple[float, datetime] | None = None  # the last good reading
        self._asked_at: float | None = None  # the last attempt, good or not
        self._failed = False  # whether the last attempt to finish failed
        self._refresh_ahead, self._refreshing = refresh_ahead, False
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            tick = self._monotonic()
            age = None if self._asked_at is None else tick - self._asked_at
            if age is None or age > self._ttl:
                self._asked_at = tick  # a venue that is down is asked again after the ttl too
                self._landed(tick, self._reading())
            elif self._refresh_ahead and age > self._ttl / 2 and not self._refreshing:
                self._asked_at, self._refreshing = tick, True
                threading.Thread(target=self._renew, args=(tick,), daemon=True).start()
            if self._cached is None:
                return wall_clock()
            read_at, venue_now = self._cached
            if not self._failed:
                return venue_now  # the venue's time as last read, until the next reading
            return venue_now + timedelta(seconds=tick - read_at)

    def _reading(self) -> datetime | None:
        try:
            return self._market.clock().timestamp
        except BrokerError:
            return None

    def _landed(self, tick: float, reading: datetime | None) -> None:
        """Keep an attempt's outcome (under the lock), unless a later one came first."""
        if self._cached is not None and self._cached[0] > tick:
            return
        self._failed = reading is None
        if reading is not None:
            self._cached = (tick, reading)

    def _renew(self, tick: float) -> None:
        """The reading renewed beside the callers (``refresh_ahead``)."""
        reading = self._reading()
        with self._lock:
            self._landed(tick, reading)
            self._refreshing = False


def wall_clock() -> datetime:
    return datetime.now(UTC)
