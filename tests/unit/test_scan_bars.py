"""The port's bars onto the engine's minute grid, and past sessions' closes, on bars
with holes, pre-market and a minute still forming."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.market import StockBar
from strikeflow.services.scan_bars import (
    SESSION_MINUTES,
    MinuteGrid,
    daily_closes,
    daily_lookback,
    session_arrays,
    session_open,
)

OPEN = datetime(2026, 11, 19, 9, 30, tzinfo=NEW_YORK)
ONE = timedelta(minutes=1)


def bar(ticker, at, close, volume=100, high=None, low=None):
    d = Decimal(str(close))
    hi = Decimal(str(high if high is not None else close))
    lo = Decimal(str(low if low is not None else close))
    return StockBar(ticker, at.astimezone(UTC), d, hi, lo, d, volume)


def test_the_session_opens_at_0930_new_york_whatever_the_zone_given():
    assert session_open(datetime(2026, 11, 19, 15, 45, tzinfo=UTC)) == OPEN
    summer = session_open(datetime(2026, 7, 6, 14, 0, tzinfo=UTC))
    assert summer.astimezone(UTC).hour == 13  # EDT


def test_holes_carry_the_last_close_with_no_volume_and_the_start_carries_the_first_bar():
    bars = {
        "AAA": [bar("AAA", OPEN, 10.0, 5), bar("AAA", OPEN + 3 * ONE, 13.0, 7, 13.5, 12.5)],
        "BBB": [bar("BBB", OPEN + 2 * ONE, 20.0, 9)],  # first trade at 09:32
    }
    grid = session_arrays(bars, ["AAA", "BBB"], OPEN, OPEN + 3 * ONE)
    assert grid.tickers == ("AAA", "BBB")
    np.testing.assert_array_equal(grid.close, [[10, 10, 10, 13], [20, 20, 20, 20]])
    np.testing.assert_array_equal(grid.volume, [[5, 0, 0, 7], [0, 0, 9, 0]])
    np.testing.assert_array_equal(grid.high[0], [10, 10, 10, 13.5])
    np.testing.assert_array_equal(grid.low[0], [10, 10, 10, 12.5])


def test_bars_outside_the_range_are_left_out_and_tickers_without_any_listed():
    bars = {
        "AAA": [
            bar("AAA", OPEN - 5 * ONE, 99.0),  # pre-market
            bar("AAA", OPEN, 10.0),
            bar("AAA", OPEN + ONE, 11.0),
            bar("AAA", OPEN + 2 * ONE, 50.0),  # the minute still forming
        ],
        "PRE": [bar("PRE", OPEN - ONE, 5.0)],
    }
    grid = session_arrays(bars, ["AAA", "PRE", "NONE"], OPEN, OPEN + ONE)
    assert grid.tickers == ("AAA",)
    assert grid.without_bars == ("PRE", "NONE")
    np.testing.assert_array_equal(grid.close, [[10, 11]])


def test_no_bars_at_all_is_an_empty_grid():
    grid = session_arrays({}, ["AAA"], OPEN, OPEN + ONE)
    assert grid.tickers == ()
    assert grid.close.shape == (0, 2)


def test_daily_closes_are_the_last_bar_of_each_past_date_padded_in_front():
    days = [datetime(2026, 11, d, 15, 59, tzinfo=NEW_YORK) for d in (16, 17, 18)]
    bars = {
        "AAA": [
            b
            for i, d in enumerate(days)
            for b in (bar("AAA", d - ONE, 1.0), bar("AAA", d, 10.0 + i))
        ]
        + [bar("AAA", OPEN, 99.0)],  # today: not a past close
        "BBB": [bar("BBB", days[-1], 7.0)],
    }
    fallback = np.array([1.0, 2.0, 3.0])
    out = daily_closes(bars, ["AAA", "BBB", "CCC"], date(2026, 11, 19), 4, fallback)
    np.testing.assert_array_equal(out, [[10, 10, 11, 12], [7, 7, 7, 7], [3, 3, 3, 3]])


def test_the_lookback_covers_weekends_and_a_holiday():
    assert daily_lookback(5) >= timedelta(days=9)  # 6 sessions over a weekend and a holiday
    assert daily_lookback(1) >= timedelta(days=5)


@given(
    present=st.lists(
        st.tuples(st.sampled_from(["AAA", "BBB", "CCC"]), st.integers(-3, 30)),
        max_size=60,
        unique=True,
    ),
    cuts=st.lists(st.integers(0, 30), max_size=4),
    last=st.integers(0, 30),
)
def test_a_grid_filled_in_pieces_reads_as_the_whole_session_read_at_once(present, cuts, last):
    """Bars added a window at a time, each window asking again the two minutes before
    it (``SessionBarsSoFar``), give the arrays of the whole session read at once."""
    tickers = ["AAA", "BBB", "CCC"]
    bars = {t: [] for t in tickers}
    for ticker, minute in sorted(present, key=lambda p: p[1]):
        bars[ticker].append(bar(ticker, OPEN + minute * ONE, 10 + minute, 5 + minute))
    end = OPEN + last * ONE
    whole = session_arrays(bars, tickers, OPEN, end)
    grid = MinuteGrid(tickers, OPEN, SESSION_MINUTES)
    start = OPEN - 5 * ONE
    for cut in [*sorted(cuts), last + 1]:
        until = OPEN + cut * ONE
        grid.add({t: [b for b in bs if start <= b.time < until] for t, bs in bars.items()})
        start = max(OPEN - 5 * ONE, until - 2 * ONE)
    pieces = grid.session(end)
    assert pieces.tickers == whole.tickers
    assert pieces.without_bars == whole.without_bars
    for field in ("close", "volume", "high", "low"):
        np.testing.assert_array_equal(getattr(pieces, field), getattr(whole, field))
