"""What "now" is (``STRIKEFLOW_CLOCK``): the venue's clock, or this host's."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from strikeflow.domain.errors import BrokerError
from strikeflow.services.ports import MarketData


class MarketTime:
    """``now`` from the venue's clock (the emulator's simulated time), read at most once
    a second; the wall clock when ``STRIKEFLOW_CLOCK=wall`` (production).

    When the venue cannot be read (it is down: the very case the fallback policy is for),
    ``now`` carries on from the last reading by the time elapsed since, or is the wall
    clock if there never was one: recording a simulated fill must not need the venue.
    ``monotonic`` measures the time elapsed (tests hand in their own ticks).
    """

    def __init__(
        self,
        market: MarketData,
        ttl_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._market, self._ttl, self._monotonic = market, ttl_s, monotonic
        self._cached: tuple[float, datetime] | None = None  # the last good reading
        self._asked_at: float | None = None  # the last attempt, good or not
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            tick = self._monotonic()
            if self._asked_at is None or tick - self._asked_at > self._ttl:
                self._asked_at = tick  # a venue that is down is asked again after the ttl too
                with contextlib.suppress(BrokerError):
                    self._cached = (tick, self._market.clock().timestamp)
            if self._cached is None:
                return wall_clock()
            read_at, venue_now = self._cached
            if read_at == self._asked_at:
                return venue_now
            return venue_now + timedelta(seconds=tick - read_at)


def wall_clock() -> datetime:
    return datetime.now(UTC)
