"""A realistic, deterministic option chain for one underlying at one instant.

Good enough to make the selection rules earn their keep: listed expirations as US
exchanges list them, strikes on real increments, a skewed vol surface with a short-dated
term premium, spreads that widen away from the money and into expiry, volume and open
interest that fade in the wings, and the data faults real feeds have (quotes without
Greeks, stale quotes, empty bids).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np

from strikeflow.domain.expiry import trading_date, years_to_expiry
from strikeflow.domain.models import Greeks, OptionContract, Right
from strikeflow.domain.occ import format_occ
from strikeflow.domain.pricing import bs_greeks, bs_price, to_broker_greeks


@dataclass(frozen=True, slots=True)
class UnderlyingProfile:
    """How one underlying trades: its level, its vol, its listing and its liquidity.

    ``half_spread`` is the at-the-money half spread as a fraction of the option's value.
    """

    symbol: str
    spot: float
    vol: float
    daily_expirations: bool
    strike_step: float
    open_interest_scale: int
    half_spread: float
    dividend_yield: float = 0.0


PROFILES = {
    p.symbol: p
    for p in (
        UnderlyingProfile("SPY", 598.0, 0.14, True, 1.0, 40_000, 0.005, 0.012),
        UnderlyingProfile("QQQ", 515.0, 0.18, True, 1.0, 25_000, 0.006, 0.006),
        UnderlyingProfile("AAPL", 229.0, 0.24, False, 2.5, 12_000, 0.012, 0.005),
        UnderlyingProfile("MSFT", 418.0, 0.22, False, 2.5, 8_000, 0.015, 0.008),
        UnderlyingProfile("NVDA", 181.0, 0.48, False, 1.0, 20_000, 0.010),
        UnderlyingProfile("TSLA", 346.0, 0.58, False, 2.5, 15_000, 0.012),
    )
}

MISSING_GREEKS_RATE = 0.05
STALE_QUOTE_RATE = 0.02
HORIZON_DAYS = 60
WEEKLY_HORIZON_DAYS = 45


def listed_expirations(profile: UnderlyingProfile, today: date) -> list[date]:
    """Dailies for index ETFs; weekly Fridays, then monthly third Fridays, for stocks.

    Exchange holidays are not modelled here (the emulator's calendar owns them).
    """
    days = (today + timedelta(days=n) for n in range(HORIZON_DAYS + 1))
    listed = []
    for day in days:
        if day.weekday() >= 5:
            continue
        ahead = (day - today).days
        friday = day.weekday() == 4
        monthly = friday and 15 <= day.day <= 21
        if profile.daily_expirations or (friday and ahead <= WEEKLY_HORIZON_DAYS) or monthly:
            listed.append(day)
    return listed


def option_tick(price: np.ndarray) -> np.ndarray:
    """Minimum price increment: $0.01 under $3, $0.05 from $3 (penny pilot aside)."""
    return np.where(price < 3.0, 0.01, 0.05)


def generate_chain(
    underlying: str,
    now: datetime,
    seed: int,
    *,
    spot: float | None = None,
    rate: float = 0.04,
) -> list[OptionContract]:
    """Every listed call and put on ``underlying`` as quoted at ``now``."""
    profile = PROFILES[underlying]
    spot = profile.spot if spot is None else spot
    rng = np.random.default_rng([seed, *underlying.encode()])
    expiry, strike, is_call = _listing(profile, spot, now)
    years = np.maximum(years_to_expiry(np.array(expiry, dtype="datetime64[D]"), now), 1e-6)
    right = np.where(is_call, "C", "P")
    q = profile.dividend_yield
    forward = spot * np.exp((rate - q) * years)
    z = np.log(strike / forward) / (profile.vol * np.sqrt(years))
    atm = profile.vol * (1 + 0.25 * np.exp(-years * 365 / 7))
    iv = np.clip(atm * (1 - 0.10 * z + 0.02 * z**2), 0.5 * atm, 3 * atm)

    fair = bs_price(spot, strike, years, rate, q, iv, right)
    greeks = to_broker_greeks(bs_greeks(spot, strike, years, rate, q, iv, right))
    tick = option_tick(fair)
    widening = (1 + np.abs(z)) * (1 + np.exp(-years * 365))
    half = np.maximum(fair * profile.half_spread * widening, tick / 2)
    bid = np.maximum(np.floor((fair - half) / tick) * tick, 0.0)
    ask = np.maximum(np.ceil((fair + half) / tick) * tick, bid + 0.01)

    near = np.exp(-years * 365 / 12)
    oi = profile.open_interest_scale * np.exp(-(z**2) / 3) * (0.3 + near)
    oi = np.floor(oi * rng.lognormal(0.0, 0.7, oi.size)).astype(np.int64)
    turnover = (0.05 + 1.5 * near) * np.exp(-(z**2) / 4)
    volume = np.floor(oi * turnover * rng.lognormal(0.0, 0.8, oi.size)).astype(np.int64)
    volume[rng.random(oi.size) < 0.03] = 0

    missing = rng.random(oi.size) < MISSING_GREEKS_RATE
    age = np.where(
        rng.random(oi.size) < STALE_QUOTE_RATE,
        rng.uniform(120, 900, oi.size),
        rng.uniform(0, 5, oi.size),
    )
    last = np.round(np.maximum(fair * (1 + rng.normal(0, 0.02, oi.size)), 0.01), 2)

    contracts = []
    for i in range(oi.size):
        k = Decimal(str(round(float(strike[i]), 3)))
        r = Right(right[i])
        contracts.append(
            OptionContract(
                symbol=format_occ(underlying, expiry[i], r, k),
                underlying=underlying,
                expiration=expiry[i],
                right=r,
                strike=k,
                bid=_money(bid[i]),
                ask=_money(ask[i]),
                last=_money(last[i]) if volume[i] > 0 else None,
                volume=int(volume[i]),
                open_interest=int(oi[i]),
                implied_vol=None if missing[i] else round(float(iv[i]), 4),
                greeks=None if missing[i] else Greeks(*(round(float(g[i]), 4) for g in greeks)),
                quote_time=now - timedelta(seconds=float(age[i])),
            )
        )
    return contracts


def _listing(
    profile: UnderlyingProfile, spot: float, now: datetime
) -> tuple[list[date], np.ndarray, np.ndarray]:
    """(expiration, strike, is_call) for every listed contract, in a band around spot."""
    expiry: list[date] = []
    strikes: list[float] = []
    calls: list[bool] = []
    today = trading_date(now)
    for day in listed_expirations(profile, today):
        years = max((day - today).days, 1) / 365
        width = spot * min(0.20, max(0.04, 2.5 * profile.vol * math.sqrt(years)))
        step = profile.strike_step
        low = math.ceil((spot - width) / step) * step
        grid = np.arange(low, spot + width + step / 2, step)
        for k in grid:
            for call in (True, False):
                expiry.append(day)
                strikes.append(float(k))
                calls.append(call)
    return expiry, np.array(strikes), np.array(calls)


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")
