"""The venue's day figures: a position's lastday_price and intraday P&L, the account's
last_equity, as venue_day defines them (docs/emulator.md), worked out by hand.

AAPL is bought Wednesday at 100.10 (10 shares) and marked at the close at 110 (the mid of
109.90/110.10); Thursday 10 more are bought at 120.10 and the mid moves to 125.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue import Venue
from strikeflow.sim.venue_day import day_start

STOCK = "AAPL"
CALL = "AAPL261218C00190000"
WEDNESDAY = datetime(2026, 11, 18, 10, 0, tzinfo=NEW_YORK)
WEDNESDAY_CLOSE = datetime(2026, 11, 18, 16, 0, tzinfo=NEW_YORK)
THURSDAY = datetime(2026, 11, 19, 10, 0, tzinfo=NEW_YORK)


class TimedQuotes:
    """Quotes that change at set instants: the quote at ``t`` is the last one set at or
    before ``t`` (None before the first)."""

    def __init__(self) -> None:
        self.marks: dict[str, list[tuple[datetime, float, float]]] = {}

    def set(self, symbol: str, at: datetime, bid: float, ask: float) -> None:
        self.marks.setdefault(symbol, []).append((at, bid, ask))
        self.marks[symbol].sort()

    def quote(self, symbol: str, t: datetime) -> Quote | None:
        known = [m for m in self.marks.get(symbol, []) if m[0] <= t]
        if not known:
            return None
        _, bid, ask = known[-1]
        return Quote(t=t, bid=bid, ask=ask, bid_size=1, ask_size=1)

    def settlement_price(self, underlying: str, expiration: date) -> float:
        raise AssertionError("nothing expires here")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def quotes() -> TimedQuotes:
    q = TimedQuotes()
    q.set(STOCK, WEDNESDAY, 99.90, 100.10)
    q.set(STOCK, WEDNESDAY_CLOSE, 109.90, 110.10)
    q.set(STOCK, THURSDAY, 119.90, 120.10)
    q.set(STOCK, THURSDAY + timedelta(minutes=30), 124.90, 125.10)
    q.set(CALL, WEDNESDAY, 2.00, 2.20)
    return q


def buy(venue: Venue, clock: Clock, symbol: str, qty: int, side: str = "buy") -> None:
    venue.submit(symbol, qty, side, "market", "day")
    clock.now += timedelta(seconds=1)
    venue.process()


def opened_wednesday(quotes: TimedQuotes) -> tuple[Venue, Clock]:
    clock = Clock(WEDNESDAY)
    venue = Venue(quotes, cash=10_000, fill_delay_s=1.0, clock=clock, partial_fill_rate=0.0)
    buy(venue, clock, STOCK, 10)  # 1 001 paid: cash 8 999
    clock.now = THURSDAY
    return venue, clock


def test_the_day_starts_at_the_last_close_before_the_date():
    assert day_start(THURSDAY) == WEDNESDAY_CLOSE
    assert day_start(datetime(2026, 11, 19, 18, 0, tzinfo=NEW_YORK)) == WEDNESDAY_CLOSE
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=NEW_YORK)
    assert day_start(saturday) == datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)


def test_a_carried_position_counts_the_day_from_the_previous_close(quotes):
    venue, clock = opened_wednesday(quotes)
    clock.now = THURSDAY + timedelta(minutes=30)
    p = venue.position(STOCK)
    assert p.lastday_price == Decimal(110)
    assert p.current_price == Decimal(125)
    assert p.unrealized_intraday_pl == Decimal(150)  # 10 x (125 - 110)
    assert p.unrealized_intraday_plpc == Decimal("0.136363636")  # 150 / 1 100
    assert p.change_today == Decimal("0.136363636")  # (125 - 110) / 110
    assert p.unrealized_pl == Decimal("249")  # 1 250 - 1 001
    assert p.asset_marginable is True


def test_units_bought_today_count_from_their_price_and_sells_take_carried_ones_first(quotes):
    venue, clock = opened_wednesday(quotes)
    buy(venue, clock, STOCK, 10)  # at 120.10, Thursday
    clock.now = THURSDAY + timedelta(minutes=30)
    p = venue.position(STOCK)
    # basis of the day: 10 carried at 110 + 10 bought at 120.10 = 2 301; worth 2 500
    assert p.unrealized_intraday_pl == Decimal(199)
    assert p.unrealized_intraday_plpc == Decimal("0.086484137")
    buy(venue, clock, STOCK, 15, side="sell")  # the 10 carried go first, then 5 of today's
    p = venue.position(STOCK)
    assert p.qty == Decimal(5)
    assert p.unrealized_intraday_pl == Decimal("24.5")  # 5 x (125 - 120.10)


def test_a_position_opened_today_has_the_same_intraday_and_total_pl(quotes):
    clock = Clock(THURSDAY)
    venue = Venue(quotes, cash=10_000, fill_delay_s=1.0, clock=clock, partial_fill_rate=0.0)
    buy(venue, clock, STOCK, 10)
    clock.now = THURSDAY + timedelta(minutes=30)
    p = venue.position(STOCK)
    assert p.unrealized_intraday_pl == p.unrealized_pl == Decimal("49")  # 10 x (125 - 120.10)
    assert p.lastday_price == Decimal(110)


def test_an_option_is_not_marginable(quotes):
    venue, clock = opened_wednesday(quotes)
    buy(venue, clock, CALL, 1)
    option = venue.position(CALL)
    assert option.asset_marginable is False
    assert option.lastday_price == Decimal("2.1")  # its mid at Wednesday's close
    assert option.change_today == Decimal(0)


def test_last_equity_is_the_equity_at_the_previous_close(quotes):
    venue, clock = opened_wednesday(quotes)
    buy(venue, clock, STOCK, 10)  # today's trades do not change it
    account = venue.account()
    assert account.last_equity == Decimal(10_099)  # cash 8 999 + 10 x 110
    assert account.balance_asof == date(2026, 11, 18)
    assert account.position_market_value == account.long_market_value
    assert account.effective_buying_power == account.buying_power


def test_an_account_opened_today_had_its_cash_at_the_last_close(quotes):
    clock = Clock(THURSDAY)
    venue = Venue(quotes, cash=10_000, fill_delay_s=1.0, clock=clock, partial_fill_rate=0.0)
    buy(venue, clock, STOCK, 10)
    assert venue.account().last_equity == Decimal(10_000)
