"""Features of 1-minute bars: pure, vectorized numpy, one ticker or a whole watchlist at once.

Every function takes arrays whose last axis is time, oldest first: shape ``(minutes,)``
for one ticker or ``(tickers, minutes)`` for a scan, and returns one value per ticker (a
0-d array, or shape ``(tickers,)``). Nothing loops over tickers.

A feature that cannot be measured (too few bars, no volume) returns its *neutral* value,
never NaN or inf, so one thin ticker cannot poison a batch of 500:

- ``volume_ratio`` 0.0 (never a surge), ``price_momentum`` 0.0, ``vwap_distance`` 0.0,
- ``rsi`` 50.0 (also for flat prices: no gains and no losses),
- ``trend_return`` 0.0 and ``trend_consistency`` 0.0 (never a sustained trend).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strikeflow.domain.errors import InvalidMarketData

__all__ = [
    "FEATURE_NAMES",
    "Bars",
    "Features",
    "compute_features",
    "price_momentum",
    "rsi",
    "trend_consistency",
    "trend_return",
    "volume_ratio",
    "vwap_distance",
]

FEATURE_NAMES = (
    "volume_ratio",
    "momentum",
    "vwap_distance",
    "rsi",
    "trend_return",
    "trend_consistency",
)


@dataclass(frozen=True, slots=True)
class Bars:
    """A session of 1-minute bars, oldest first, for one ticker or a batch of tickers.

    ``close``, ``volume`` (and ``high``/``low`` if given) share one shape, ``(minutes,)`` or
    ``(tickers, minutes)``. ``daily_close`` holds the closes of the previous sessions,
    oldest first, shape ``(days,)`` or ``(tickers, days)``; without it there is no trend.
    Arrays are converted to float64; prices must be finite and > 0, volumes finite and >= 0.
    """

    close: np.ndarray
    volume: np.ndarray
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    daily_close: np.ndarray | None = None

    def __post_init__(self) -> None:
        close = _array("close", self.close, positive=True)
        if close.ndim not in (1, 2) or close.shape[-1] == 0:
            raise InvalidMarketData(
                f"bars: close must be (minutes,) or (tickers, minutes) with at least one bar,"
                f" got shape {close.shape}"
            )
        object.__setattr__(self, "close", close)
        for name in ("volume", "high", "low"):
            value = getattr(self, name)
            if value is None and name != "volume":
                continue
            arr = _array(name, value, positive=name != "volume")
            if arr.shape != close.shape:
                raise InvalidMarketData(
                    f"bars: {name} has shape {arr.shape}, close has {close.shape}"
                )
            object.__setattr__(self, name, arr)
        if (self.high is None) != (self.low is None):
            raise InvalidMarketData("bars: give both high and low, or neither")
        if self.daily_close is not None:
            daily = _array("daily_close", self.daily_close, positive=True)
            if daily.ndim != close.ndim or daily.shape[:-1] != close.shape[:-1]:
                raise InvalidMarketData(
                    f"bars: daily_close has shape {daily.shape}, close has {close.shape}"
                )
            object.__setattr__(self, "daily_close", daily)

    @property
    def minutes(self) -> int:
        return int(self.close.shape[-1])


@dataclass(frozen=True, slots=True)
class Features:
    """One value per ticker for each feature (arrays of shape ``(tickers,)``)."""

    volume_ratio: np.ndarray
    momentum: np.ndarray
    vwap_distance: np.ndarray
    rsi: np.ndarray
    trend_return: np.ndarray
    trend_consistency: np.ndarray

    def __len__(self) -> int:
        return int(self.momentum.shape[0])

    def row(self, i: int) -> dict[str, float]:
        """Ticker ``i``'s features as plain floats, for a record's JSON ``features``."""
        return {name: float(getattr(self, name)[i]) for name in FEATURE_NAMES}


def compute_features(
    bars: Bars,
    *,
    volume_lookback: int = 20,
    momentum_minutes: int = 5,
    rsi_period: int = 14,
    trend_days: int = 5,
) -> Features:
    """Every feature for every ticker in ``bars``; a single ticker becomes a batch of one."""
    close = np.atleast_2d(bars.close)
    high = None if bars.high is None else np.atleast_2d(bars.high)
    low = None if bars.low is None else np.atleast_2d(bars.low)
    volume = np.atleast_2d(bars.volume)
    if bars.daily_close is None:
        zeros = np.zeros(close.shape[0])
        trend, consistency = zeros, zeros
    else:
        daily = np.atleast_2d(bars.daily_close)
        trend = trend_return(daily, trend_days)
        consistency = trend_consistency(daily, trend_days)
    return Features(
        volume_ratio=volume_ratio(volume, volume_lookback),
        momentum=price_momentum(close, momentum_minutes),
        vwap_distance=vwap_distance(close, volume, high, low),
        rsi=rsi(close, rsi_period),
        trend_return=trend,
        trend_consistency=consistency,
    )


def volume_ratio(volume: np.ndarray, lookback: int = 20) -> np.ndarray:
    """The last bar's volume over the mean volume of the ``lookback`` bars before it.

    0.0 with fewer than ``lookback + 1`` bars or when those bars traded nothing.
    """
    _positive_int("lookback", lookback)
    volume = np.asarray(volume, dtype=np.float64)
    if volume.shape[-1] < lookback + 1:
        return np.zeros(volume.shape[:-1])
    baseline = volume[..., -lookback - 1 : -1].mean(axis=-1)
    return _ratio(volume[..., -1], baseline)


def price_momentum(close: np.ndarray, minutes: int = 5) -> np.ndarray:
    """The simple return over the last ``minutes`` bars: ``close[-1] / close[-1-minutes] - 1``.

    0.0 with ``minutes`` bars or fewer (no reference price).
    """
    _positive_int("minutes", minutes)
    close = np.asarray(close, dtype=np.float64)
    if close.shape[-1] < minutes + 1:
        return np.zeros(close.shape[:-1])
    reference = close[..., -1 - minutes]
    return np.where(reference > 0, _ratio(close[..., -1], reference) - 1.0, 0.0)


def vwap_distance(
    close: np.ndarray,
    volume: np.ndarray,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
) -> np.ndarray:
    """How far the last close is above (+) or below (-) the session VWAP, as a fraction.

    VWAP weighs each bar's typical price ``(high + low + close) / 3`` (the close alone
    without high/low) by its volume, over every bar given. 0.0 when nothing traded.
    """
    close = np.asarray(close, dtype=np.float64)
    volume = np.asarray(volume, dtype=np.float64)
    typical = close if high is None or low is None else (high + low + close) / 3.0
    traded = volume.sum(axis=-1)
    vwap = _ratio((typical * volume).sum(axis=-1), traded)
    return np.where(vwap > 0, _ratio(close[..., -1], vwap) - 1.0, 0.0)


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI at the last bar, in [0, 100].

    The first average gain (loss) is the plain mean of the first ``period`` changes; each
    later change ``x`` updates it as ``avg = (avg * (period - 1) + x) / period``. Computed
    in closed form (one weighted sum), not a loop. RSI = 100 * gain / (gain + loss), which
    is 100 - 100 / (1 + RS) without the division by a zero loss. 50.0 with fewer than
    ``period + 1`` bars or when prices did not move.
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 2:
        raise ValueError(f"period must be an int >= 2, got {period!r}")
    close = np.asarray(close, dtype=np.float64)
    if close.shape[-1] < period + 1:
        return np.full(close.shape[:-1], 50.0)
    change = np.diff(close, axis=-1)
    gain, loss = np.maximum(change, 0.0), np.maximum(-change, 0.0)
    later = change.shape[-1] - period
    keep = (period - 1) / period
    # avg_T = keep**later * seed + sum_j (1/period) * keep**(later-1-j) * x_j
    weights = keep ** np.arange(later - 1, -1, -1, dtype=np.float64) / period
    decay = keep**later
    avg_gain = decay * gain[..., :period].mean(axis=-1) + gain[..., period:] @ weights
    avg_loss = decay * loss[..., :period].mean(axis=-1) + loss[..., period:] @ weights
    moved = avg_gain + avg_loss
    return np.where(moved > 0, 100.0 * _ratio(avg_gain, moved), 50.0)


def trend_return(daily_close: np.ndarray, days: int = 5) -> np.ndarray:
    """The return over the last ``days`` daily closes (0.0 with ``days`` closes or fewer)."""
    return price_momentum(daily_close, days)


def trend_consistency(daily_close: np.ndarray, days: int = 5) -> np.ndarray:
    """The share of the last ``days`` daily changes that moved the way the trend did.

    1.0 is a trend every day went along with; 0.0 with no trend (or too few closes).
    """
    _positive_int("days", days)
    daily = np.asarray(daily_close, dtype=np.float64)
    if daily.shape[-1] < days + 1:
        return np.zeros(daily.shape[:-1])
    window = daily[..., -days - 1 :]
    direction = np.sign(window[..., -1] - window[..., 0])
    along = np.sign(np.diff(window, axis=-1)) == direction[..., None]
    return np.where(direction != 0, along.mean(axis=-1), 0.0)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 0.0 where den is 0 (no NaN, no inf, no warning)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _array(name: str, value: object, positive: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InvalidMarketData(f"bars: {name} holds NaN or inf")
    if positive and not (arr > 0).all():
        raise InvalidMarketData(f"bars: every {name} must be > 0")
    if not positive and not (arr >= 0).all():
        raise InvalidMarketData(f"bars: every {name} must be >= 0")
    return arr
