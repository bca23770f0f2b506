"""The emulator's NYSE calendar and clock: hand-checked against the exchange's own lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim import calendar
from strikeflow.sim.calendar import SimClock


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


# NYSE's published calendars, weekdays the exchange is shut.
HOLIDAYS_2026 = {
    date(2026, 1, 1),  # New Year's Day
    date(2026, 1, 19),  # Martin Luther King Jr. Day
    date(2026, 2, 16),  # Washington's Birthday
    date(2026, 4, 3),  # Good Friday
    date(2026, 5, 25),  # Memorial Day
    date(2026, 6, 19),  # Juneteenth (a Friday)
    date(2026, 7, 3),  # Independence Day, a Saturday, observed on the Friday
    date(2026, 9, 7),  # Labor Day
    date(2026, 11, 26),  # Thanksgiving
    date(2026, 12, 25),  # Christmas
}
HOLIDAYS_2027 = {
    date(2027, 1, 1),  # New Year's Day
    date(2027, 1, 18),  # Martin Luther King Jr. Day
    date(2027, 2, 15),  # Washington's Birthday
    date(2027, 3, 26),  # Good Friday
    date(2027, 5, 31),  # Memorial Day
    date(2027, 6, 18),  # Juneteenth, a Saturday, observed on the Friday
    date(2027, 7, 5),  # Independence Day, a Sunday, observed on the Monday
    date(2027, 9, 6),  # Labor Day
    date(2027, 11, 25),  # Thanksgiving
    date(2027, 12, 24),  # Christmas, a Saturday, observed on the Friday
}


def test_2026_and_2027_holidays_are_exactly_nyses():
    assert calendar.holidays(2026) == HOLIDAYS_2026
    assert calendar.holidays(2027) == HOLIDAYS_2027


def test_a_saturday_new_years_day_leaves_the_year_end_open():
    assert date(2028, 1, 1).weekday() == 5
    assert calendar.is_trading_day(date(2027, 12, 31))
    assert date(2027, 12, 31) not in calendar.holidays(2028)


def test_every_holiday_is_shut_and_weekends_are_shut():
    for day in HOLIDAYS_2026 | HOLIDAYS_2027:
        assert not calendar.is_trading_day(day)
        assert calendar.session(day) is None
        assert not calendar.is_open(
            datetime.combine(day, calendar.OPEN, NEW_YORK) + timedelta(hours=1)
        )
    assert calendar.session(date(2026, 3, 7)) is None  # a Saturday
    assert calendar.session(date(2026, 3, 8)) is None  # a Sunday
    assert calendar.is_trading_day(date(2026, 3, 6))


def test_early_closes_at_one_oclock():
    # 2026: 3 July is the observed holiday itself, so only Black Friday and Christmas Eve.
    assert calendar.early_closes(2026) == {date(2026, 11, 27), date(2026, 12, 24)}
    # 2027: 3 July is a Saturday and Christmas Eve the observed Christmas.
    assert calendar.early_closes(2027) == {date(2027, 11, 26)}
    assert calendar.early_closes(2025) == {date(2025, 7, 3), date(2025, 11, 28), date(2025, 12, 24)}
    opens, closes = calendar.session(date(2026, 11, 27))
    assert (opens, closes) == (ny(2026, 11, 27, 9, 30), ny(2026, 11, 27, 13, 0))
    assert calendar.is_open(ny(2026, 11, 27, 12, 59))
    assert not calendar.is_open(ny(2026, 11, 27, 13, 0))
    assert calendar.session(date(2026, 12, 23))[1] == ny(2026, 12, 23, 16, 0)


def test_is_open_at_the_edges():
    assert not calendar.is_open(ny(2026, 3, 4, 9, 29, 59))
    assert calendar.is_open(ny(2026, 3, 4, 9, 30))  # the opening bell is inside
    assert calendar.is_open(ny(2026, 3, 4, 15, 59, 59))
    assert not calendar.is_open(ny(2026, 3, 4, 16, 0))  # the closing bell is outside
    # The same instants in UTC (EST: New York is UTC-5 in March before the switch).
    assert calendar.is_open(datetime(2026, 3, 4, 14, 30, tzinfo=UTC))
    assert not calendar.is_open(datetime(2026, 3, 4, 14, 29, tzinfo=UTC))
    # After the switch to EDT the bell rings at 13:30 UTC.
    assert calendar.is_open(datetime(2026, 3, 9, 13, 30, tzinfo=UTC))
    assert not calendar.is_open(datetime(2026, 3, 9, 20, 0, tzinfo=UTC))
    assert not calendar.is_open(ny(2026, 3, 7, 11, 0))  # Saturday


def test_is_open_refuses_a_naive_instant():
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.is_open(datetime(2026, 3, 4, 10, 0))


def test_next_open_and_close_across_a_weekend():
    friday_evening = ny(2026, 3, 6, 17, 0)
    assert calendar.next_open(friday_evening) == ny(2026, 3, 9, 9, 30)
    assert calendar.next_close(friday_evening) == ny(2026, 3, 9, 16, 0)
    friday_noon = ny(2026, 3, 6, 12, 0)
    assert calendar.next_open(friday_noon) == ny(2026, 3, 9, 9, 30)  # tomorrow's, as Alpaca
    assert calendar.next_close(friday_noon) == ny(2026, 3, 6, 16, 0)
    assert calendar.next_open(ny(2026, 3, 6, 9, 0)) == ny(2026, 3, 6, 9, 30)
    # At the bells themselves the next one is strictly later.
    assert calendar.next_open(ny(2026, 3, 6, 9, 30)) == ny(2026, 3, 9, 9, 30)
    assert calendar.next_close(ny(2026, 3, 6, 16, 0)) == ny(2026, 3, 9, 16, 0)
    assert calendar.previous_close(ny(2026, 3, 9, 9, 0)) == ny(2026, 3, 6, 16, 0)
    assert calendar.previous_close(ny(2026, 3, 6, 16, 0)) == ny(2026, 3, 6, 16, 0)


def test_next_open_and_close_across_thanksgiving():
    wednesday_evening = ny(2026, 11, 25, 16, 30)
    assert calendar.next_open(wednesday_evening) == ny(2026, 11, 27, 9, 30)
    assert calendar.next_close(wednesday_evening) == ny(2026, 11, 27, 13, 0)  # early
    assert calendar.next_open(ny(2026, 11, 26, 10, 0)) == ny(2026, 11, 27, 9, 30)
    assert calendar.next_open(ny(2026, 11, 27, 14, 0)) == ny(2026, 11, 30, 9, 30)
    assert calendar.previous_close(ny(2026, 11, 27, 14, 0)) == ny(2026, 11, 27, 13, 0)
    assert calendar.previous_close(ny(2026, 11, 27, 9, 0)) == ny(2026, 11, 25, 16, 0)


def test_trading_days_in_a_month():
    november = calendar.trading_days(date(2026, 11, 1), date(2026, 11, 30))
    assert len(november) == 20  # 21 weekdays less Thanksgiving
    assert november[0] == date(2026, 11, 2)
    assert november[-1] == date(2026, 11, 30)
    assert date(2026, 11, 26) not in november
    april = calendar.trading_days(date(2026, 4, 1), date(2026, 4, 30))
    assert len(april) == 21  # 22 weekdays less Good Friday
    assert calendar.trading_days(date(2026, 4, 3), date(2026, 4, 3)) == []
    assert calendar.trading_days(date(2026, 4, 2), date(2026, 4, 2)) == [date(2026, 4, 2)]
    assert len(calendar.trading_days(date(2026, 1, 1), date(2026, 12, 31))) == 251


def test_last_trading_day_on_or_before_good_friday_and_weekends():
    assert calendar.last_trading_day_on_or_before(date(2026, 4, 3)) == date(2026, 4, 2)
    assert calendar.last_trading_day_on_or_before(date(2027, 3, 26)) == date(2027, 3, 25)
    assert calendar.last_trading_day_on_or_before(date(2026, 4, 5)) == date(2026, 4, 2)
    assert calendar.last_trading_day_on_or_before(date(2026, 4, 6)) == date(2026, 4, 6)
    # Juneteenth 2026 is June's third Friday: the monthly expiration moves to Thursday.
    assert calendar.last_trading_day_on_or_before(date(2026, 6, 19)) == date(2026, 6, 18)


def test_easter_of_known_years():
    assert calendar.easter(2024) == date(2024, 3, 31)
    assert calendar.easter(2026) == date(2026, 4, 5)
    assert calendar.easter(2027) == date(2027, 3, 28)
    assert calendar.easter(2038) == date(2038, 4, 25)  # the latest possible
    assert calendar.easter(2285) == date(2285, 3, 22)  # the earliest possible


# -- SimClock ---------------------------------------------------------------------------


def test_sim_clock_moves_forward_only():
    start = ny(2026, 3, 4, 10, 0)
    clock = SimClock("sim", start)
    assert clock.mode == "sim"
    assert clock.now() == start
    assert clock.now().tzinfo == UTC
    assert clock.advance(90) == start + timedelta(seconds=90)
    assert clock.advance(0) == start + timedelta(seconds=90)
    later = ny(2026, 3, 5, 9, 30)
    assert clock.set(later) == later
    assert clock.set(later) == later  # staying put is allowed
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set(later - timedelta(microseconds=1))
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.now() == later  # a refused move changes nothing


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), True, "60", None])
def test_sim_clock_refuses_odd_steps(seconds):
    clock = SimClock("sim", ny(2026, 3, 4, 10, 0))
    with pytest.raises(ValueError, match="seconds must be"):
        clock.advance(seconds)
    assert clock.now() == ny(2026, 3, 4, 10, 0)


def test_sim_clock_refuses_a_naive_instant():
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock("sim", datetime(2026, 3, 4, 10, 0))
    clock = SimClock("sim", ny(2026, 3, 4, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 3, 5, 10, 0))


def test_real_clock_cannot_be_moved_and_takes_no_start():
    clock = SimClock()
    assert clock.mode == "real"
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC)
    with pytest.raises(ValueError, match="real"):
        clock.advance(1)
    with pytest.raises(ValueError, match="real"):
        clock.set(datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(ValueError, match="no start"):
        SimClock("real", ny(2026, 3, 4, 10, 0))
    with pytest.raises(ValueError, match="needs a start"):
        SimClock("sim")
    with pytest.raises(ValueError, match="mode"):
        SimClock("fast", ny(2026, 3, 4, 10, 0))
