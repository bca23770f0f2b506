"""A realistic, deterministic option chain for one underlying at one instant.

Good enough to make the selection rules earn their keep: listed expirations as US
exchanges list them, strikes on real increments, a skewed vol surface with a short-dated
term premium, spreads that widen away from the money and into expiry, volume and open
interest that fade in the wings, and the data faults real feeds have (quotes without
Greeks, stale quotes, empty bids).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from strikeflow.domain.enums import Right
from strikeflow.domain.expiry import trading_date, years_to_expiry
from strikeflow.domain.models import Greeks, OptionContract
from strikeflow.domain.occ import format_occ
from strikeflow.domain.pricing import BsGreeks, bs_greeks, bs_price, to_broker_greeks


@dataclass(frozen=True, slots=True)
class UnderlyingProfile:
    """How one underlying trades: its level, its vol, its listing and its liquidity.

    ``half_spread`` is the at-the-money half spread as a fraction of the option's value;
    ``shares_per_day`` sets the stock's minute volumes in the emulator's market.
    """

    symbol: str
    spot: float
    vol: float
    daily_expirations: bool
    strike_step: float
    open_interest_scale: int
    half_spread: float
    dividend_yield: float = 0.0
    shares_per_day: int = 30_000_000


PROFILES = {
    p.symbol: p
    for p in (
        UnderlyingProfile("SPY", 598.0, 0.14, True, 1.0, 40_000, 0.005, 0.012, 60_000_000),
        UnderlyingProfile("QQQ", 515.0, 0.18, True, 1.0, 25_000, 0.006, 0.006, 40_000_000),
        UnderlyingProfile("AAPL", 229.0, 0.24, False, 2.5, 12_000, 0.012, 0.005, 50_000_000),
        UnderlyingProfile("MSFT", 418.0, 0.22, False, 2.5, 8_000, 0.015, 0.008, 20_000_000),
        UnderlyingProfile("NVDA", 181.0, 0.48, False, 1.0, 20_000, 0.010, 0.0, 200_000_000),
        UnderlyingProfile("TSLA", 346.0, 0.58, False, 2.5, 15_000, 0.012, 0.0, 90_000_000),
    )
}

MISSING_GREEKS_RATE = 0.05
GREEK_DECIMALS = 4  # IV and Greeks as a venue quotes them
STALE_QUOTE_RATE = 0.02
HORIZON_DAYS = 60
WEEKLY_HORIZON_DAYS = 45

# Adjusted contracts: after a split or a merger the old series keep trading under a new
# root (NVDA1) and deliver other than 100 shares, listed beside the standard ones.
ADJUSTED_UNDERLYINGS = ("NVDA",)
ADJUSTED_MULTIPLIERS = (10, 50, 150)
ADJUSTED_STRIKE_EVERY = 10  # one listed strike in ten carries an adjusted series


def adjusted_root(underlying: str) -> str:
    """The root an adjusted series trades under: the underlying's with a digit."""
    return f"{underlying}1"


def adjusted_series(
    profile: UnderlyingProfile, strike: np.ndarray, seed: int
) -> tuple[np.ndarray, int]:
    """(rows of the standard listing that an adjusted series repeats, its multiplier).

    Deterministic by seed, and the same strikes every day: one strike in
    ``ADJUSTED_STRIKE_EVERY`` on the strike grid, call and put alike.
    """
    rng = np.random.default_rng([seed, *profile.symbol.encode(), 5])
    multiplier = int(rng.choice(ADJUSTED_MULTIPLIERS))
    offset = int(rng.integers(ADJUSTED_STRIKE_EVERY))
    steps = np.rint(strike / profile.strike_step).astype(np.int64)
    rows = np.flatnonzero(steps % ADJUSTED_STRIKE_EVERY == offset)
    return rows, multiplier


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


@dataclass(frozen=True, slots=True)
class ChainPrices:
    """One chain's model values, arrays aligned with the strikes priced.

    ``z`` is log-moneyness against the forward in standard deviations; it drives the
    skew, the spreads and the liquidity. Greeks are in broker units.
    """

    z: np.ndarray
    iv: np.ndarray
    fair: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    greeks: BsGreeks


def vol_surface(
    profile: UnderlyingProfile, spot: Any, strike: Any, years: Any, rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """(z, IV): log-moneyness against the forward in standard deviations, and the skewed
    IV with its short-dated term premium. Arrays broadcast (a chain, or a chain over a day)."""
    forward = spot * np.exp((rate - profile.dividend_yield) * years)
    z = np.log(strike / forward) / (profile.vol * np.sqrt(years))
    atm = profile.vol * (1 + 0.25 * np.exp(-years * 365 / 7))
    return z, np.clip(atm * (1 - 0.10 * z + 0.02 * z**2), 0.5 * atm, 3 * atm)


def fair_values(
    profile: UnderlyingProfile, spot: Any, strike: Any, years: Any, right: Any, rate: float
) -> np.ndarray:
    """The model's fair values alone (``price_chain``'s ``fair``), arrays broadcast: the
    price path of many contracts over many instants without their Greeks and quotes."""
    _, iv = vol_surface(profile, spot, strike, years, rate)
    return bs_price(spot, strike, years, rate, profile.dividend_yield, iv, right)


def price_chain(
    profile: UnderlyingProfile,
    spot: float,
    strike: np.ndarray,
    years: np.ndarray,
    right: np.ndarray,
    rate: float,
    hedged: np.ndarray | None = None,
) -> ChainPrices:
    """Vol surface, fair values, Greeks and a quoted market for every contract at once.

    The half spread is a share of the value, widened in the wings and into expiry. For
    the ``hedged`` rows only the time value is widened: their intrinsic value is quoted
    at the plain share, as a market maker hedging in the stock quotes a deep in-the-money
    contract. (Widening the whole value of a contract far in the money near expiry, where
    ``z`` runs to hundreds, would quote a bid of zero against an ask of many times its
    worth.) The emulator marks the strikes it carries beyond the day's band so.
    """
    q = profile.dividend_yield
    z, iv = vol_surface(profile, spot, strike, years, rate)
    fair = bs_price(spot, strike, years, rate, q, iv, right)
    greeks = to_broker_greeks(bs_greeks(spot, strike, years, rate, q, iv, right))
    tick = option_tick(fair)
    widening = (1 + np.abs(z)) * (1 + np.exp(-years * 365))
    half = np.maximum(fair * profile.half_spread * widening, tick / 2)
    if hedged is not None and hedged.any():
        intrinsic = np.maximum(np.where(right == "C", spot - strike, strike - spot), 0.0)
        value = np.minimum(intrinsic, fair)
        quoted = ((fair - value) * widening + value) * profile.half_spread
        half = np.where(hedged, np.maximum(quoted, tick / 2), half)
    bid = np.maximum(np.floor((fair - half) / tick) * tick, 0.0)
    ask = np.maximum(np.ceil((fair + half) / tick) * tick, bid + 0.01)
    return ChainPrices(z, iv, fair, bid, ask, greeks)


def liquidity(
    profile: UnderlyingProfile,
    z: np.ndarray,
    years: np.ndarray,
    oi_noise: np.ndarray,
    volume_noise: np.ndarray,
    held_z: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(open interest, day volume): both fade in the wings; volume also with time left.

    The noises are multiplicative (lognormal around 1), drawn by the caller so that the
    one-instant chain and the emulator's market can seed them their own way. With
    ``held_z``, open interest fades only as far as that many deviations out: a strike
    listed when the stock stood nearer keeps the positions opened then (open interest is
    a stock, volume a flow).
    """
    near = np.exp(-years * 365 / 12)
    fade = z if held_z is None else np.clip(z, -held_z, held_z)
    oi = profile.open_interest_scale * np.exp(-(fade**2) / 3) * (0.3 + near)
    oi = np.floor(oi * oi_noise).astype(np.int64)
    turnover = (0.05 + 1.5 * near) * np.exp(-(z**2) / 4)
    volume = np.floor(oi * turnover * volume_noise).astype(np.int64)
    return oi, volume


def strike_band(
    profile: UnderlyingProfile, spot: float, today: date, expirations: Sequence[date]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(expiration as datetime64[D], strike, is_call) for each listed contract, calls and
    puts interleaved, in a band around spot that widens with time to expiry."""
    days, strikes = [], []
    step = profile.strike_step
    for day in expirations:
        years = max((day - today).days, 1) / 365
        width = spot * min(0.20, max(0.04, 2.5 * profile.vol * math.sqrt(years)))
        low = math.ceil((spot - width) / step) * step
        grid = np.arange(low, spot + width + step / 2, step)
        days.append(np.full(grid.size, np.datetime64(day, "D")))
        strikes.append(grid)
    if not strikes:
        return np.array([], "datetime64[D]"), np.array([]), np.array([], bool)
    expiry = np.repeat(np.concatenate(days), 2)
    strike = np.repeat(np.concatenate(strikes), 2)
    is_call = np.tile([True, False], strike.size // 2)
    return expiry, strike, is_call


# Listed strikes as integer keys: an expiration's days since the epoch times STRIKE_SPAN,
# plus the strike in steps of the underlying's grid. A chain's strikes on one expiration
# are then a run of consecutive keys, and a day's listing a few (first, last) ranges.
STRIKE_SPAN = 1 << 32


def band_ranges(expiry: np.ndarray, strike: np.ndarray, step: float) -> np.ndarray:
    """A ``strike_band``'s strikes as (first key, last key) rows, one per run of
    consecutive keys (one per expiration): what a later day needs to know of a listing."""
    days = expiry[::2].astype(np.int64)  # calls and puts interleaved: one key a strike
    keys = days * STRIKE_SPAN + np.rint(strike[::2] / step).astype(np.int64)
    if not keys.size:
        return np.empty((0, 2), np.int64)
    breaks = np.flatnonzero(np.diff(keys) != 1) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks - 1, [keys.size - 1]))
    return np.stack((keys[starts], keys[ends]), axis=1)


def union_keys(ranges: np.ndarray) -> np.ndarray:
    """Every key of any of the (first, last) ``ranges``, sorted, each once."""
    if not ranges.size:
        return np.empty(0, np.int64)
    ranges = ranges[np.argsort(ranges[:, 0], kind="stable")]
    lo, reach = ranges[:, 0], np.maximum.accumulate(ranges[:, 1])
    fresh = np.concatenate(([True], lo[1:] > reach[:-1] + 1))
    starts = lo[fresh]
    ends = reach[np.concatenate((np.flatnonzero(fresh)[1:] - 1, [lo.size - 1]))]
    counts = ends - starts + 1
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + offsets


def keyed_band(keys: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keys back to ``strike_band``'s (expiration, strike, is_call), calls and puts
    interleaved."""
    expiry = np.repeat((keys // STRIKE_SPAN).astype("datetime64[D]"), 2)
    strike = np.repeat((keys % STRIKE_SPAN) * step, 2)
    return expiry, strike, np.tile([True, False], keys.size)


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
    today = trading_date(now)
    expiry_days, strike, is_call = strike_band(
        profile, spot, today, listed_expirations(profile, today)
    )
    expiry = expiry_days.tolist()
    years = np.maximum(years_to_expiry(expiry_days, now), 1e-6)
    right = np.where(is_call, "C", "P")
    prices = price_chain(profile, spot, strike, years, right, rate)
    n = strike.size
    oi, volume = liquidity(
        profile, prices.z, years, rng.lognormal(0.0, 0.7, n), rng.lognormal(0.0, 0.8, n)
    )
    volume[rng.random(n) < 0.03] = 0

    missing = rng.random(n) < MISSING_GREEKS_RATE
    age = np.where(
        rng.random(n) < STALE_QUOTE_RATE,
        rng.uniform(120, 900, n),
        rng.uniform(0, 5, n),
    )
    last = np.round(np.maximum(prices.fair * (1 + rng.normal(0, 0.02, n)), 0.01), 2)
    greeks, iv = prices.greeks, prices.iv

    contracts = []
    for i in range(n):
        k = Decimal(str(round(float(strike[i]), 3)))
        r = Right(right[i])
        contracts.append(
            OptionContract(
                symbol=format_occ(underlying, expiry[i], r, k),
                underlying=underlying,
                expiration=expiry[i],
                right=r,
                strike=k,
                bid=_money(prices.bid[i]),
                ask=_money(prices.ask[i]),
                last=_money(last[i]) if volume[i] > 0 else None,
                volume=int(volume[i]),
                open_interest=int(oi[i]),
                implied_vol=None if missing[i] else round(float(iv[i]), GREEK_DECIMALS),
                greeks=None
                if missing[i]
                else Greeks(*(round(float(g[i]), GREEK_DECIMALS) for g in greeks)),
                quote_time=now - timedelta(seconds=float(age[i])),
            )
        )
    return contracts


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")
