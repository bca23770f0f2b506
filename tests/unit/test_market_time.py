"""``now`` on the venue's clock (STRIKEFLOW_CLOCK=market), including while the venue is down."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from strikeflow.broker_adapters.market_time import MarketTime
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.domain.market import MarketClock
from tests.integration.emulator import poll

VENUE_NOW = datetime(2037, 11, 16, 15, 45, tzinfo=UTC)


class VenueClock:
    """The one MarketData call MarketTime makes; ``down`` makes it fail as the adapter does."""

    def __init__(self) -> None:
        self.now, self.down, self.reads = VENUE_NOW, False, 0

    def clock(self) -> MarketClock:
        self.reads += 1
        if self.down:
            raise BrokerUnavailable("clock", "connection refused")
        return MarketClock(self.now, True, self.now, self.now + timedelta(hours=5))


def test_now_is_the_venues_time_read_at_most_once_per_ttl():
    venue = VenueClock()
    now = MarketTime(venue, ttl_s=60)
    assert now() == VENUE_NOW
    venue.now += timedelta(hours=1)
    assert now() == VENUE_NOW
    assert venue.reads == 1


def test_with_the_venue_down_now_carries_on_from_the_last_reading():
    venue = VenueClock()
    ticks = iter([100.0, 105.0])
    now = MarketTime(venue, ttl_s=1, monotonic=lambda: next(ticks))
    assert now() == VENUE_NOW
    venue.down = True
    assert now() == VENUE_NOW + timedelta(seconds=5)  # not the wall clock, not an error


def test_with_the_venue_down_from_the_start_now_is_the_wall_clock():
    venue = VenueClock()
    venue.down = True
    before = datetime.now(UTC)
    assert before <= MarketTime(venue)() <= datetime.now(UTC)


def test_a_venue_back_up_is_read_again():
    venue = VenueClock()
    now = MarketTime(venue, ttl_s=0.0)
    venue.down = True
    now()
    venue.down = False
    venue.now += timedelta(minutes=3)
    assert now() == VENUE_NOW + timedelta(minutes=3)


def test_a_venue_that_is_down_is_asked_at_most_once_per_ttl():
    venue = VenueClock()
    ticks = iter([100.0, 105.0, 105.5, 106.0, 107.0])
    now = MarketTime(venue, ttl_s=1, monotonic=lambda: next(ticks), refresh_ahead=False)
    assert now() == VENUE_NOW
    venue.down = True
    assert now() == VENUE_NOW + timedelta(seconds=5)
    assert now() == VENUE_NOW + timedelta(seconds=5.5)  # extrapolated, not asked again
    assert now() == VENUE_NOW + timedelta(seconds=6)
    assert venue.reads == 2
    assert now() == VENUE_NOW + timedelta(seconds=7)  # the ttl has passed: asked again
    assert venue.reads == 3


class SlowVenueClock(VenueClock):
    """A venue whose clock answers only once ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = threading.Event()

    def clock(self) -> MarketClock:
        if self.reads:  # the first reading answers at once
            self.answer.wait(10)
        return super().clock()


def test_a_reading_past_half_its_ttl_is_renewed_while_the_caller_goes_on():
    venue = SlowVenueClock()
    ticks = iter([100.0, 100.6, 100.7, 100.8])
    now = MarketTime(venue, ttl_s=1, monotonic=lambda: next(ticks))
    assert now() == VENUE_NOW
    venue.now += timedelta(seconds=1)
    assert now() == VENUE_NOW  # past half the ttl: renewed beside, not waited for
    assert now() == VENUE_NOW  # one renewal at a time, the reading kept meanwhile
    venue.answer.set()
    poll(lambda: venue.reads, (2).__eq__, 5.0, "the renewal")
    poll(lambda: now._refreshing, False.__eq__, 5.0, "the renewal to land")
    assert now() == VENUE_NOW + timedelta(seconds=1)
    assert venue.reads == 2


def test_a_renewal_that_fails_carries_on_from_the_last_reading():
    venue = VenueClock()
    ticks = iter([100.0, 100.6, 100.8])
    now = MarketTime(venue, ttl_s=1, monotonic=lambda: next(ticks))
    assert now() == VENUE_NOW
    venue.down = True
    now()  # starts the renewal, which fails
    poll(lambda: now._refreshing, False.__eq__, 5.0, "the renewal to fail")
    assert venue.reads == 2
    assert now() == VENUE_NOW + timedelta(seconds=0.8)
