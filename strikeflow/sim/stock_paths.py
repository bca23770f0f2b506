"""Deterministic stock price paths: a daily geometric Brownian motion, bridged minute by minute.

Each trading day is generated on its own, from its own seed, so any minute of any day can be
produced without replaying the days before it:

- Daily closes follow a GBM on the trading days around an anchor date, with a slowly changing
  drift (trend regimes of a couple of weeks, so multi-day trends exist). The close before the
  anchor day is the profile's spot.
- A day opens at the previous close times an overnight gap, and its minute path is a Brownian
  bridge from that open to the day's close, so days join up exactly.
- Each day may have volume surges: a few minutes of several times the usual volume during
  which the price runs 2-4 % in one direction, fading back over the rest of the session.
- Minute volumes follow the U shape of a real session (heavy open, quieter midday, busy close).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from strikeflow.sim import calendar
from strikeflow.sim.option_chain import UnderlyingProfile

TRADING_DAYS_PER_YEAR = 252
WINDOW_DAYS = 3 * 366  # calendar days simulated on each side of the anchor
GAP_SHARE = 0.2  # of the daily variance that falls overnight
DRIFT_SHARE = 0.09  # of the daily variance that the trend regimes carry
REGIME_DAYS = 10
SURGES_PER_DAY = 1.0
SURGE_MINUTES = (5, 15)
SURGE_VOLUME = (4.0, 10.0)
SURGE_MOVE = (0.02, 0.04)


def symbol_key(symbol: str) -> int:
    return zlib.crc32(symbol.encode())


@dataclass(frozen=True, slots=True)
class DayPath:
    """One session's minute path: ``points[i]`` is the price at minute i's start."""

    day: date
    opens_at: datetime
    points: np.ndarray  # minutes + 1 prices, the last one the close
    high: np.ndarray
    low: np.ndarray
    volume: np.ndarray
    trades: np.ndarray
    vwap: np.ndarray

    @property
    def minutes(self) -> int:
        return self.volume.size


class DailyWalk:
    """The daily closes of one underlying on every trading day of the simulated window."""

    def __init__(self, seed: int, symbol: str, profile: UnderlyingProfile, anchor: date) -> None:
        first, last = anchor - timedelta(days=WINDOW_DAYS), anchor + timedelta(days=WINDOW_DAYS)
        self.days = calendar.trading_days(first, last)
        self.index = {d: i for i, d in enumerate(self.days)}
        rng = np.random.default_rng([seed, symbol_key(symbol), 1])
        n = len(self.days)
        daily_sd = profile.vol / np.sqrt(TRADING_DAYS_PER_YEAR)
        # The shares add up: a day's log return has variance daily_sd**2, so daily closes
        # realise the profile's vol (the drifts stay a little correlated, as trends are).
        regimes = rng.normal(0.0, daily_sd * np.sqrt(DRIFT_SHARE), n // REGIME_DAYS + 1)
        drift = np.repeat(regimes, REGIME_DAYS)[:n]
        self.gap = rng.normal(0.0, daily_sd * np.sqrt(GAP_SHARE), n)
        session_sd = daily_sd * np.sqrt(1 - GAP_SHARE - DRIFT_SHARE)
        self.session_move = drift + rng.normal(0.0, session_sd, n)
        log_close = np.cumsum(self.gap + self.session_move)
        self._day_array = np.array(self.days, dtype="datetime64[D]")
        pivot = np.searchsorted(self._day_array, np.datetime64(anchor))
        before = log_close[pivot - 1] if pivot > 0 else 0.0
        self.log_close = log_close - before + np.log(profile.spot)
        self.seed, self.symbol, self.profile = seed, symbol, profile
        self.daily_sd = daily_sd

    def covers(self, day: date) -> bool:
        return self.days[0] < day <= self.days[-1]

    def position(self, day: date) -> int:
        """The index of ``day`` if it trades, else of the last trading day before it."""
        if not self.covers(day):
            raise ValueError(
                f"{day} is outside the simulated market ({self.days[0]} to {self.days[-1]})"
            )
        return int(np.searchsorted(self._day_array, np.datetime64(day), "right")) - 1

    def close(self, k: int) -> float:
        return float(np.exp(self.log_close[k]))

    def day_path(self, k: int) -> DayPath:
        day = self.days[k]
        opens_at, closes_at = calendar.session(day)
        n = int((closes_at - opens_at).total_seconds() // 60)
        rng = np.random.default_rng([self.seed, symbol_key(self.symbol), 2, day.toordinal()])
        minute_sd = self.daily_sd * np.sqrt((1 - GAP_SHARE) / n)
        shocks = rng.normal(0.0, minute_sd, n)
        steps = shocks - shocks.mean() + self.session_move[k] / n  # the bridge
        surge = np.ones(n)
        for _ in range(rng.poisson(SURGES_PER_DAY)):
            length = int(rng.integers(*SURGE_MINUTES, endpoint=True))
            start = int(rng.integers(10, max(11, n - length - 60)))
            move = rng.choice([-1.0, 1.0]) * rng.uniform(*SURGE_MOVE)
            steps[start : start + length] += move / length
            steps[start + length :] -= move / (n - start - length)  # it fades by the close
            surge[start : start + length] *= rng.uniform(*SURGE_VOLUME)
        log_open = self.log_close[k - 1] + self.gap[k] if k > 0 else self.log_close[k]
        points = np.exp(log_open + np.concatenate(([0.0], np.cumsum(steps))))
        o, c = points[:-1], points[1:]
        wick = np.abs(rng.normal(0.0, minute_sd * 0.6, (2, n))) * o
        high, low = np.maximum(o, c) + wick[0], np.minimum(o, c) - wick[1]
        x = (np.arange(n) + 0.5) / n
        shape = 1 + 2.5 * np.exp(-x / 0.05) + 1.5 * np.exp(-(1 - x) / 0.07)
        volume = self.profile.shares_per_day * shape / shape.sum()
        volume = np.floor(volume * rng.lognormal(0.0, 0.35, n) * surge).astype(np.int64)
        trades = np.maximum(volume // rng.integers(60, 160, n), 1)
        vwap = (o + c + high + low) / 4
        return DayPath(day, opens_at, points, high, low, volume, trades, vwap)
