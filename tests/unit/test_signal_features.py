"""Signal features on hand-computed bars: each expected number is worked out in a comment."""

from __future__ import annotations

import numpy as np
import pytest

from strikeflow.domain.errors import InvalidMarketData
from strikeflow.signals.features import (
    FEATURE_NAMES,
    Bars,
    compute_features,
    price_momentum,
    rsi,
    trend_consistency,
    trend_return,
    volume_ratio,
    vwap_distance,
)

# --- volume_ratio ---------------------------------------------------------------------------


def test_volume_ratio_is_the_last_bar_over_the_mean_of_the_previous_n():
    volume = np.array([10.0, 20.0, 30.0, 120.0])
    # lookback 3: mean(10, 20, 30) = 20 -> 120 / 20 = 6.0
    assert volume_ratio(volume, 3) == pytest.approx(6.0)
    # lookback 2: mean(20, 30) = 25 -> 120 / 25 = 4.8 (the oldest bar is not in the window)
    assert volume_ratio(volume, 2) == pytest.approx(4.8)


def test_volume_ratio_works_on_a_batch_row_by_row():
    volume = np.array([[10.0, 20.0, 30.0, 120.0], [5.0, 5.0, 5.0, 5.0], [4.0, 8.0, 0.0, 2.0]])
    # rows: 120/20 = 6; 5/5 = 1; 2 / mean(4, 8, 0) = 2/4 = 0.5
    np.testing.assert_allclose(volume_ratio(volume, 3), [6.0, 1.0, 0.5])


def test_volume_ratio_with_too_few_bars_is_zero_never_a_surge():
    # lookback 4 needs 5 bars; 4 given
    assert volume_ratio(np.array([10.0, 20.0, 30.0, 120.0]), 4) == 0.0
    assert volume_ratio(np.array([[1.0], [2.0]]), 1).tolist() == [0.0, 0.0]


def test_volume_ratio_without_baseline_volume_is_zero_not_inf():
    with np.errstate(all="raise"):
        ratio = volume_ratio(np.array([[0.0, 0.0, 0.0, 50.0], [0.0, 0.0, 0.0, 0.0]]), 3)
    assert ratio.tolist() == [0.0, 0.0]


# --- price_momentum -------------------------------------------------------------------------


def test_momentum_is_the_return_over_the_last_m_minutes():
    close = np.array([100.0, 101.0, 102.0, 103.0, 104.04])
    # 4 minutes: 104.04 / 100 - 1 = 0.0404
    assert price_momentum(close, 4) == pytest.approx(0.0404)
    # 1 minute: 104.04 / 103 - 1 = 1.04 / 103 = 0.0100970873...
    assert price_momentum(close, 1) == pytest.approx(1.04 / 103)
    # a fall: 99 / 110 - 1 = -0.1
    assert price_momentum(np.array([110.0, 99.0]), 1) == pytest.approx(-0.1)


def test_momentum_with_too_few_bars_is_zero():
    assert price_momentum(np.array([100.0, 101.0, 102.0]), 3) == 0.0


# --- vwap_distance --------------------------------------------------------------------------


def test_vwap_distance_on_closes():
    close = np.array([10.0, 11.0, 12.0])
    volume = np.array([100.0, 200.0, 100.0])
    # vwap = (10*100 + 11*200 + 12*100) / 400 = 4400 / 400 = 11 -> 12 / 11 - 1 = 1/11
    assert vwap_distance(close, volume) == pytest.approx(1 / 11)


def test_vwap_distance_uses_the_typical_price_when_high_and_low_are_given():
    close = np.array([10.0, 11.0, 12.0])
    volume = np.array([100.0, 200.0, 100.0])
    high, low = np.array([12.0, 12.0, 13.0]), np.array([9.0, 10.0, 11.0])
    # typical = (31/3, 33/3 = 11, 36/3 = 12); vwap = (3100/3 + 2200 + 1200) / 400 = 133/12
    # distance = 12 / (133/12) - 1 = 144/133 - 1 = 11/133
    assert vwap_distance(close, volume, high, low) == pytest.approx(11 / 133)


def test_vwap_distance_below_vwap_is_negative_and_zero_volume_is_zero():
    close = np.array([[12.0, 10.0], [12.0, 10.0]])
    volume = np.array([[300.0, 100.0], [0.0, 0.0]])
    # row 0: vwap = (3600 + 1000) / 400 = 11.5 -> 10 / 11.5 - 1 = -3/23; row 1: nothing traded
    np.testing.assert_allclose(vwap_distance(close, volume), [-3 / 23, 0.0])


# --- rsi ------------------------------------------------------------------------------------


def test_rsi_follows_wilder_smoothing():
    close = np.array([10.0, 11.0, 10.5, 11.5, 11.0])
    # period 2, changes +1, -0.5, +1, -0.5
    # seed: gain (1 + 0)/2 = 0.5, loss (0 + 0.5)/2 = 0.25
    # +1:   gain (0.5*1 + 1)/2 = 0.75,   loss (0.25*1 + 0)/2 = 0.125
    # -0.5: gain (0.75 + 0)/2 = 0.375,   loss (0.125 + 0.5)/2 = 0.3125
    # RSI = 100 * 0.375 / (0.375 + 0.3125) = 100 * 6/11 = 54.5454...
    assert rsi(close, 2) == pytest.approx(600 / 11)
    # with only the seed (3 bars): 100 * 0.5 / 0.75 = 66.666...
    assert rsi(close[:3], 2) == pytest.approx(200 / 3)


def test_rsi_extremes_and_flat_prices():
    up, down, flat = [1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [5.0, 5.0, 5.0, 5.0]
    # no losses -> 100; no gains -> 0; no moves at all -> 50 by definition
    np.testing.assert_allclose(rsi(np.array([up, down, flat]), 2), [100.0, 0.0, 50.0])


def test_rsi_with_too_few_bars_is_50():
    assert rsi(np.array([1.0, 2.0, 3.0]), 3) == 50.0


def test_rsi_matches_a_plain_loop_on_a_batch():
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, size=(6, 120)), axis=1))
    expected = [_loop_rsi(row, 14) for row in close]
    np.testing.assert_allclose(rsi(close, 14), expected, rtol=1e-10)


def _loop_rsi(close, period):
    change = np.diff(close)
    gain, loss = np.maximum(change, 0).tolist(), np.maximum(-change, 0).tolist()
    avg_gain, avg_loss = sum(gain[:period]) / period, sum(loss[:period]) / period
    for g, lo in zip(gain[period:], loss[period:], strict=True):
        avg_gain = (avg_gain * (period - 1) + g) / period
        avg_loss = (avg_loss * (period - 1) + lo) / period
    return 100 - 100 / (1 + avg_gain / avg_loss)


# --- multi-day trend ------------------------------------------------------------------------


def test_trend_over_the_last_days():
    daily = np.array([100.0, 102.0, 101.0, 104.0, 106.0, 110.0])
    # 5 days: 110 / 100 - 1 = 0.10; changes +2, -1, +3, +2, +4 -> 4 of 5 went up = 0.8
    assert trend_return(daily, 5) == pytest.approx(0.10)
    assert trend_consistency(daily, 5) == pytest.approx(0.8)
    # 3 days: 110 / 101 - 1; changes +3, +2, +4 -> all along = 1.0
    assert trend_return(daily, 3) == pytest.approx(110 / 101 - 1)
    assert trend_consistency(daily, 3) == 1.0


def test_a_falling_trend_counts_the_down_days():
    daily = np.array([[50.0, 48.0, 49.0, 45.0]])
    # -5 / 50 = -0.1; changes -2, +1, -4 -> 2 of 3 along the fall
    assert trend_return(daily, 3).tolist() == pytest.approx([-0.1])
    assert trend_consistency(daily, 3).tolist() == pytest.approx([2 / 3])


def test_no_trend_when_flat_or_too_short():
    assert trend_consistency(np.array([10.0, 11.0, 10.0]), 2) == 0.0  # back where it began
    assert trend_return(np.array([10.0, 11.0]), 2) == 0.0
    assert trend_consistency(np.array([10.0, 11.0]), 2) == 0.0


# --- Bars and compute_features --------------------------------------------------------------


def test_compute_features_turns_one_ticker_into_a_batch_of_one():
    bars = Bars(close=[10.0, 11.0, 12.0], volume=[100.0, 200.0, 100.0])
    f = compute_features(bars, volume_lookback=2, momentum_minutes=2, rsi_period=2)
    assert len(f) == 1
    row = f.row(0)
    assert set(row) == set(FEATURE_NAMES)
    # vr 100 / mean(100, 200) = 2/3; momentum 12/10 - 1 = 0.2; all up -> rsi 100; no daily
    assert row == pytest.approx(
        {
            "volume_ratio": 2 / 3,
            "momentum": 0.2,
            "vwap_distance": 1 / 11,
            "rsi": 100.0,
            "trend_return": 0.0,
            "trend_consistency": 0.0,
        }
    )
    assert all(type(v) is float for v in row.values())


def test_features_are_nan_free_on_thin_and_flat_bars():
    close = np.array([[5.0] * 30, np.linspace(10, 11, 30), [7.0] * 30])
    volume = np.zeros((3, 30))
    volume[1] = 1_000.0
    bars = Bars(close=close, volume=volume, daily_close=np.full((3, 3), 20.0))
    with np.errstate(all="raise"):
        f = compute_features(bars, trend_days=5)
    for name in FEATURE_NAMES:
        assert np.isfinite(getattr(f, name)).all(), name
    assert f.rsi[0] == 50.0
    assert f.volume_ratio[0] == 0.0
    assert f.vwap_distance[0] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"close": [1.0, float("nan")], "volume": [1.0, 1.0]}, "close holds NaN"),
        ({"close": [1.0, 0.0], "volume": [1.0, 1.0]}, "close must be > 0"),
        ({"close": [1.0, 2.0], "volume": [1.0, -1.0]}, "volume must be >= 0"),
        ({"close": [1.0, 2.0], "volume": [1.0]}, "volume has shape"),
        ({"close": [1.0, 2.0], "volume": [1.0, 1.0], "high": [2.0, 2.0]}, "both high and low"),
        ({"close": [], "volume": []}, "at least one bar"),
        ({"close": [[[1.0]]], "volume": [[[1.0]]]}, "tickers, minutes"),
        ({"close": [[1.0], [2.0]], "volume": [[1.0], [1.0]], "daily_close": [[1.0]]}, "daily"),
    ],
)
def test_bars_refuse_what_cannot_be_a_market(kwargs, message):
    with pytest.raises(InvalidMarketData, match=message):
        Bars(**kwargs)


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
def test_window_lengths_must_be_positive_ints(bad):
    with pytest.raises(ValueError, match="must be an int"):
        volume_ratio(np.ones(5), bad)
