"""The emulator's market: stock quotes, trades and minute bars, option listings and snapshots.

Deterministic for a seed: the same seed gives the same prices at the same instants, whatever
was asked before. Stocks follow ``stock_paths``; options are priced off the stock with the
domain's Black-Scholes (through ``option_chain.price_chain``).

Listings are fixed for a session: strikes are laid out around the previous close, as
exchanges list them overnight, and open interest and the day's volume are drawn once per
session. A strike listed on an earlier session stays listed until it expires, as exchanges
add strikes when the stock moves but never remove one early: each listing is the day's band
followed by the earlier sessions' unexpired strikes outside it (with their own noise, so the
band's values do not depend on them), found from the kept strike ranges of the sessions of
the listing horizon; their deep in-the-money quotes are a hedger's (``price_chain``).

Quotes, Greeks and IV move with the stock through the day. Some snapshots lack Greeks and
IV, and a few quotes are stale, as Alpaca's feed does. A contract that traded carries the
bars of its latest minute, its day and the day before (``_session_bars``). Outside the
session (after 16:00, before the open, on a weekend or a holiday) the latest quote is the
last one of the previous session, stamped with its close, as Alpaca's latest-quote and
snapshot endpoints answer: no quote is made while the market is shut. Underlyings in
``adjusted`` also list adjusted contracts (root NVDA1, a multiplier other than 100) beside
some of their standard strikes, as a chain does after a split or a merger; each is quoted as
its standard twin, since clients are meant to recognise and leave them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.expiry import NEW_YORK, expiry_instant, require_aware
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.year_fraction import year_fraction
from strikeflow.sim import calendar
from strikeflow.sim.market_data import (
    Bar,
    ContractInfo,
    GreeksValues,
    OptionSnapshot,
    Quote,
    Trade,
    daily_bars_of,
)
from strikeflow.sim.market_model import snapshots_by_underlying
from strikeflow.sim.option_chain import (
    ADJUSTED_UNDERLYINGS,
    HORIZON_DAYS,
    MISSING_GREEKS_RATE,
    PROFILES,
    STALE_QUOTE_RATE,
    STRIKE_SPAN,
    UnderlyingProfile,
    adjusted_root,
    adjusted_series,
    band_ranges,
    fair_values,
    keyed_band,
    liquidity,
    listed_expirations,
    price_chain,
    strike_band,
    union_keys,
)
from strikeflow.sim.stock_paths import DailyWalk, DayPath, symbol_key
from strikeflow.sim.venue_orders import asset_id

RATE = 0.04
TICKER = re.compile(r"[A-Z]{1,5}")
MINUTE = timedelta(minutes=1)
BAR_STEP = timedelta(minutes=5)  # an option's daily bar samples its trade price this often
PRINT_SIZE = 5  # contracts per print: an option bar's trade count is its volume over this
CACHE_LIMIT = 256
RANGES_LIMIT = 4096  # sessions' strike ranges kept (a few hundred bytes each)
# A strike carried from an earlier session keeps the open interest of one this many
# deviations out (``liquidity``'s held_z): it was nearer the money when it was listed.
CARRIED_HELD_Z = 3.0


class UnknownSymbol(ValueError):
    """A ticker the market does not simulate."""


def synthetic_profile(symbol: str) -> UnderlyingProfile:
    """A plausible profile for a ticker without a hand-written one (derived from its name)."""
    rng = np.random.default_rng(symbol_key(symbol))
    spot = float(np.round(np.exp(rng.uniform(np.log(20), np.log(400))), 2))
    step = 1.0 if spot < 150 else 2.5 if spot < 400 else 5.0
    return UnderlyingProfile(
        symbol, spot, float(rng.uniform(0.2, 0.6)), False, step, 3_000, 0.02, 0.0, 5_000_000
    )


@dataclass(frozen=True, slots=True)
class Listing:
    """One session's listed contracts on one underlying, arrays aligned."""

    session: tuple[datetime, datetime]
    contracts: list[ContractInfo]
    index: dict[str, int]
    expiry: np.ndarray  # datetime64[D]
    # Each contract's expiration close (epoch seconds), kept so that every request's
    # liveness test and time to expiry is one array operation over the chain.
    closes_s: np.ndarray
    strike: np.ndarray
    right: np.ndarray  # "C" | "P"
    volume: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    no_greeks: np.ndarray
    stale_s: np.ndarray  # seconds a quote lags (0 for fresh ones)
    trade_lag_s: np.ndarray
    trade_noise: np.ndarray
    # Listed on an earlier session and outside this one's band: far from the money, so
    # quoted with ``price_chain``'s hedged spread.
    carried: np.ndarray


@dataclass(frozen=True, slots=True)
class ChainQuery:
    """Alpaca's chain filters (all optional, bounds inclusive)."""

    right: str | None = None  # "call" | "put"
    expiration: date | None = None
    expiration_gte: date | None = None
    expiration_lte: date | None = None
    strike_gte: float | None = None
    strike_lte: float | None = None

    def mask(self, listing: Listing) -> np.ndarray:
        keep = np.ones(listing.strike.size, bool)
        if self.right:
            keep &= listing.right == self.right[0].upper()
        for bound, test in (
            (self.expiration, np.equal),
            (self.expiration_gte, np.greater_equal),
            (self.expiration_lte, np.less_equal),
        ):
            if bound is not None:
                keep &= test(listing.expiry, np.datetime64(bound, "D"))
        if self.strike_gte is not None:
            keep &= listing.strike >= self.strike_gte
        if self.strike_lte is not None:
            keep &= listing.strike <= self.strike_lte
        return keep


class Market:
    """Every simulated price, for the symbols given. Thread-safe (its caches hold a lock)."""

    def __init__(
        self,
        seed: int,
        symbols: list[str],
        start: datetime,
        *,
        adjusted: Iterable[str] = ADJUSTED_UNDERLYINGS,
    ) -> None:
        anchor = require_aware(start, "start").astimezone(NEW_YORK).date()
        if isinstance(symbols, str):  # else "AAPL" would be the tickers A, P and L
            raise ValueError(f"symbols must be a list of tickers, got the string {symbols!r}")
        bad = [s for s in symbols if not isinstance(s, str) or not TICKER.fullmatch(s)]
        if bad or not symbols:
            raise ValueError(f"symbols must be 1-5 capital letters, got {bad or symbols!r}")
        self.seed = seed
        self.symbols = tuple(dict.fromkeys(symbols))
        self._profiles = {s: PROFILES.get(s) or synthetic_profile(s) for s in self.symbols}
        self._walks = {s: DailyWalk(seed, s, p, anchor) for s, p in self._profiles.items()}
        self._adjusted = frozenset(adjusted) & set(self.symbols)
        self._lock = threading.Lock()
        self._days: dict[tuple[str, int], DayPath] = {}
        self._listings: dict[tuple[str, int], Listing] = {}
        self._ranges: dict[tuple[str, int], np.ndarray] = {}
        self._chains: dict[tuple[str, datetime], dict[str, OptionSnapshot]] = {}
        self._previous: dict[tuple[str, datetime], dict[str, Bar | None]] = {}
        self._grids: dict[tuple[str, datetime], np.ndarray] = {}

    @property
    def last_day(self) -> date:
        """The last trading day the simulated window covers (the clock must stop there)."""
        return min(walk.days[-1] for walk in self._walks.values())

    def covers(self, t: datetime) -> bool:
        return require_aware(t, "t").astimezone(NEW_YORK).date() <= self.last_day

    # -- stocks -----------------------------------------------------------------------

    def spot(self, symbol: str, t: datetime) -> float:
        """The stock's price at ``t``: the minute path in session, the last close outside it."""
        walk = self._walk(symbol)
        local = require_aware(t, "t").astimezone(NEW_YORK)
        k = walk.position(local.date())
        if walk.days[k] != local.date():
            return walk.close(k)
        path = self._day(symbol, k)
        elapsed = (t - path.opens_at).total_seconds() / 60
        if elapsed < 0:
            return walk.close(k - 1)
        if elapsed >= path.minutes:
            return walk.close(k)
        i = int(elapsed)
        low, high = path.points[i], path.points[i + 1]
        return float(low * (high / low) ** (elapsed - i))

    def stock_quote(self, symbol: str, t: datetime) -> Quote:
        """The latest quote at ``t``: made at ``t`` in session, else the previous
        session's last one, stamped with its close (``quoted_at``)."""
        at = quoted_at(t)
        mid = self.spot(symbol, at)
        half = max(0.005, mid * 0.0001)
        bid = np.floor((mid - half) * 100) / 100
        ask = max(np.ceil((mid + half) * 100) / 100, bid + 0.01)
        sizes = self._noise(symbol, 3, int(at.timestamp() // 60)).integers(1, 12, 2) * 100
        return Quote(at, round(float(bid), 2), round(float(ask), 2), int(sizes[0]), int(sizes[1]))

    def latest_trade(self, symbol: str, t: datetime) -> Trade:
        last = calendar.previous_close(t) if not calendar.is_open(t) else t
        at = last or t
        return Trade(at, round(self.spot(symbol, at), 2), 100)

    def bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Completed one-minute bars with ``start <= t`` and ``t + 1 min <= end``."""
        walk = self._walk(symbol)
        first = require_aware(start, "start").astimezone(NEW_YORK).date()
        last = require_aware(end, "end").astimezone(NEW_YORK).date()
        bars: list[Bar] = []
        for day in calendar.trading_days(first, last):
            if not walk.covers(day):
                continue
            path = self._day(symbol, walk.index[day])
            lo = max(0, int(np.ceil((start - path.opens_at).total_seconds() / 60)))
            hi = min(path.minutes, int((end - path.opens_at).total_seconds() // 60))
            for i in range(lo, hi):
                bars.append(_bar(path, i))
        return bars

    def daily_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Daily bars stamped (New York midnight) within [start, end], each of its
        session's minutes completed by ``end`` (a session in progress: so far)."""
        walk = self._walk(symbol)
        first = require_aware(start, "start").astimezone(NEW_YORK).date()
        last = require_aware(end, "end").astimezone(NEW_YORK).date()
        out: list[Bar] = []
        for day in calendar.trading_days(first, last):
            stamp = datetime.combine(day, time(0), NEW_YORK)
            if not walk.covers(day) or not start <= stamp <= end:
                continue
            path = self._day(symbol, walk.index[day])
            hi = min(path.minutes, int((end - path.opens_at).total_seconds() // 60))
            if hi <= 0:
                continue
            minutes = [_bar(path, i) for i in range(hi)]
            out.extend(daily_bars_of(minutes))
        return out

    # -- options ----------------------------------------------------------------------

    def contracts(self, underlying: str, t: datetime) -> list[ContractInfo]:
        """Contracts listed on ``underlying`` and not yet expired at ``t``."""
        listing = self._listing(underlying, t)
        live = self._live(listing, t)
        return [listing.contracts[i] for i in np.flatnonzero(live)]

    def contracts_where(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]:
        """The live contracts that ``query`` selects, in listing order, filtered as arrays
        (a chain has thousands of contracts and every page of a request asks again)."""
        listing = self._listing(underlying, t)
        chosen = self._live(listing, t)
        if query is not None:
            chosen &= query.mask(listing)
        return [listing.contracts[i] for i in np.flatnonzero(chosen)]

    def expired_contracts(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]:
        """Contracts on ``underlying`` that had expired by ``t``, as Alpaca lists them with
        ``status=inactive``: each expiration day's session listed the contracts expiring
        that day, so those are taken from it. Without a lower bound on the expiration, the
        last ``HORIZON_DAYS`` are searched."""
        walk = self._walk(underlying)
        now = require_aware(t, "t").timestamp()
        today = t.astimezone(NEW_YORK).date()
        query = query or ChainQuery()
        first = query.expiration_gte or query.expiration or today - timedelta(days=HORIZON_DAYS)
        last = min(query.expiration_lte or query.expiration or today, today)
        found: list[ContractInfo] = []
        for day in calendar.trading_days(first, last):
            if not walk.covers(day) or expiry_instant(day).timestamp() > now:
                continue
            listing = self._listing(underlying, calendar.session(day)[0])
            chosen = (listing.expiry == np.datetime64(day, "D")) & query.mask(listing)
            found.extend(listing.contracts[i] for i in np.flatnonzero(chosen))
        return found

    def option_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """One-minute bars of a contract, completed within [start, end]: on each session
        that listed it, the model's trade price (fair value times the contract's trade
        noise, as its latest trade) at each minute's start and end, and the session's
        seeded volume traded evenly through its minutes (minutes without volume left
        out, as Alpaca leaves them out)."""
        try:
            occ = parse_occ(symbol)
        except InvalidOccSymbol:
            return []
        underlying = occ.root.rstrip("0123456789")
        walk = self._walks.get(underlying)
        if walk is None:
            return []
        first = require_aware(start, "start").astimezone(NEW_YORK).date()
        last = min(require_aware(end, "end").astimezone(NEW_YORK).date(), occ.expiration)
        bars: list[Bar] = []
        for day in calendar.trading_days(first, last):
            if not walk.covers(day):
                continue
            path = self._day(underlying, walk.index[day])
            listing = self._listing(underlying, path.opens_at)
            row = listing.index.get(symbol)
            if row is None:
                continue
            lo = max(0, int(np.ceil((start - path.opens_at).total_seconds() / 60)))
            hi = min(path.minutes, int((end - path.opens_at).total_seconds() // 60))
            if lo >= hi:
                continue
            bars.extend(self._contract_minutes(underlying, listing, row, path, lo, hi))
        return bars

    def _contract_minutes(
        self, underlying: str, listing: Listing, row: int, path: DayPath, lo: int, hi: int
    ) -> list[Bar]:
        minutes = np.arange(lo, hi + 1)
        stamps = path.opens_at.timestamp() + minutes * 60.0
        years = np.maximum(year_fraction(listing.closes_s[row] - stamps), 1e-6)
        fair = fair_values(
            self._profiles[underlying], path.points[minutes], listing.strike[row], years,
            listing.right[row], RATE,
        )  # fmt: skip
        prices = np.round(np.maximum(fair * (1 + listing.trade_noise[row]), 0.01), 2)
        total = int(listing.volume[row])
        shares = (total * (minutes + 1)) // path.minutes - (total * minutes) // path.minutes
        out = []
        for j in range(hi - lo):
            volume = int(shares[j])
            if volume <= 0:
                continue
            o, c = float(prices[j]), float(prices[j + 1])
            at = path.opens_at + int(minutes[j]) * MINUTE
            trades = max(1, -(-volume // PRINT_SIZE))
            out.append(Bar(at, o, max(o, c), min(o, c), c, volume, trades, round((o + c) / 2, 4)))
        return out

    def option_snapshots(
        self, underlying: str, t: datetime, symbols: Iterable[str] | None = None
    ) -> dict[str, OptionSnapshot]:
        """The snapshots at ``t`` of the live contracts named in ``symbols`` (those not
        listed or expired left out), or of every live one, by OCC symbol.

        Priced on demand and kept per instant: a listing has thousands of contracts (SPY
        ~9,600, ~90 ms to price them all) and a request wants tens. Each contract's price
        is a function of its own row alone, so pricing a few gives what pricing all does.
        Outside the session they are priced, and stamped, at the previous close
        (``quoted_at``); which contracts are live is still judged at ``t``.
        """
        listing = self._listing(underlying, t)
        live = self._live(listing, t)
        at = quoted_at(t)
        if symbols is None:
            wanted = np.flatnonzero(live)
        else:
            rows = [listing.index[s] for s in dict.fromkeys(symbols) if s in listing.index]
            wanted = np.array([i for i in rows if live[i]], dtype=np.int64)
        # Kept per request instant, not per pricing instant: after the close, the next
        # session's listing (its own sizes, lags, staleness) is priced at the same close.
        key = (underlying, t)
        with self._lock:
            priced = self._chains.get(key)
            if priced is None:
                priced = _bounded(self._chains)[key] = {}
            missing = [i for i in wanted.tolist() if listing.contracts[i].symbol not in priced]
        if missing:
            fresh = self._price_snapshots(underlying, listing, at, np.array(missing, np.int64))
            with self._lock:
                priced.update(fresh)
        return {listing.contracts[i].symbol: priced[listing.contracts[i].symbol] for i in wanted}

    def option_snapshot(self, symbol: str, t: datetime) -> OptionSnapshot | None:
        """The snapshot of one contract, or None when it is not listed."""
        return self.snapshots_of((symbol,), t).get(symbol)

    def snapshots_of(self, symbols: Iterable[str], t: datetime) -> dict[str, OptionSnapshot]:
        """The snapshots of the named contracts, whatever their underlyings, the ones not
        listed left out: priced together per underlying, as one request names several."""
        return snapshots_by_underlying(self, symbols, t, self._underlying_of)

    def _underlying_of(self, symbol: str) -> str | None:
        try:
            root = parse_occ(symbol).root
        except InvalidOccSymbol:
            return None
        root = root.rstrip("0123456789")  # an adjusted root (NVDA1) lists on its underlying
        return root if root in self._walks else None

    def quote(self, symbol: str, t: datetime) -> Quote | None:
        """A stock's or an option's quote at ``t``; None for a symbol not traded here."""
        if symbol in self._walks:
            return self.stock_quote(symbol, t)
        snapshot = self.option_snapshot(symbol, t)
        return None if snapshot is None else snapshot.quote

    def settlement_price(self, underlying: str, expiration: date) -> float:
        """The official close on the expiration date, in cents, as the OCC settles against."""
        return round(self.spot(underlying, expiry_instant(expiration)), 2)

    # -- internals --------------------------------------------------------------------

    def _walk(self, symbol: str) -> DailyWalk:
        walk = self._walks.get(symbol)
        if walk is None:
            raise UnknownSymbol(f"unknown symbol {symbol!r}")
        return walk

    def _day(self, symbol: str, k: int) -> DayPath:
        key = (symbol, k)
        with self._lock:
            path = self._days.get(key)
        if path is None:
            path = self._walks[symbol].day_path(k)
            with self._lock:
                _bounded(self._days)[key] = path
        return path

    def _noise(self, symbol: str, stream: int, n: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, symbol_key(symbol), stream, n])

    def _listing(self, underlying: str, t: datetime) -> Listing:
        walk = self._walk(underlying)
        k = walk.position(require_aware(t, "t").astimezone(NEW_YORK).date())
        with self._lock:
            listing = self._listings.get((underlying, k))
        if listing is None:
            listing = self._list(underlying, walk, k)
            with self._lock:
                _bounded(self._listings)[(underlying, k)] = listing
        return listing

    def _list(self, underlying: str, walk: DailyWalk, k: int) -> Listing:
        """The session's listing: the day's band around the previous close, then the
        contracts listed on an earlier day, not yet expired and outside the band (an
        exchange never delists a strike before its expiry), each part with its own noise."""
        profile, day = self._profiles[underlying], walk.days[k]
        spot = walk.close(k - 1)
        expiry, strike, is_call = self._band(underlying, walk, k)
        band = self._rows(underlying, spot, day, expiry, strike, is_call, carried=False)
        ranges = band_ranges(expiry, strike, profile.strike_step)
        with self._lock:
            _bounded(self._ranges, RANGES_LIMIT)[(underlying, k)] = ranges
        keys = self._carried(underlying, walk, k, ranges)
        if not keys.size:
            contracts, arrays = band
        else:
            carried = keyed_band(keys, profile.strike_step)
            extra = self._rows(underlying, spot, day, *carried, carried=True)
            contracts = band[0] + extra[0]
            arrays = {name: np.concatenate((band[1][name], extra[1][name])) for name in band[1]}
        return Listing(
            session=calendar.session(day),
            contracts=contracts,
            index={c.symbol: j for j, c in enumerate(contracts)},
            **arrays,
        )

    def _band(
        self, underlying: str, walk: DailyWalk, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The strikes listed fresh for session ``k``: a band around the previous close
        on every expiration listed that day."""
        profile, day = self._profiles[underlying], walk.days[k]
        expirations = sorted(
            {calendar.last_trading_day_on_or_before(d) for d in listed_expirations(profile, day)}
        )
        return strike_band(profile, walk.close(k - 1), day, [d for d in expirations if d >= day])

    def _carried(self, underlying: str, walk: DailyWalk, k: int, band: np.ndarray) -> np.ndarray:
        """The keys (``option_chain.band_ranges``) of the strikes listed on a session
        before ``k`` that expire on or after its day and are not in its ``band`` ranges.

        Only the sessions of the last ``HORIZON_DAYS`` can have listed them (nothing is
        listed further out); each one's ranges are kept, so a new day costs one band."""
        day = walk.days[k]
        earlier = []
        j = k - 1
        while j >= 1 and (day - walk.days[j]).days <= HORIZON_DAYS:
            key = (underlying, j)
            with self._lock:
                ranges = self._ranges.get(key)
            if ranges is None:
                expiry, strike, _ = self._band(underlying, walk, j)
                ranges = band_ranges(expiry, strike, self._profiles[underlying].strike_step)
                with self._lock:
                    _bounded(self._ranges, RANGES_LIMIT)[key] = ranges
            earlier.append(ranges)
            j -= 1
        if not earlier:
            return np.empty(0, np.int64)
        ranges = np.concatenate(earlier)
        alive = ranges[:, 0] // STRIKE_SPAN >= np.datetime64(day, "D").astype(np.int64)
        listed = union_keys(ranges[alive])
        return np.setdiff1d(listed, union_keys(band), assume_unique=True)

    def _rows(
        self,
        underlying: str,
        spot: float,
        day: date,
        expiry: np.ndarray,
        strike: np.ndarray,
        is_call: np.ndarray,
        *,
        carried: bool,
    ) -> tuple[list[ContractInfo], dict[str, np.ndarray]]:
        """The contracts of one part of a session's listing (the day's band, or the strikes
        ``carried`` from earlier sessions) and their aligned arrays (the ``Listing``
        fields), priced at the session's open off ``spot``, with the part's own noise for
        the day: the adjusted series follow their part's standard rows."""
        profile = self._profiles[underlying]
        right = np.where(is_call, "C", "P")
        days = expiry.tolist()
        close_of = {d: expiry_instant(d).timestamp() for d in set(days)}
        closes_s = np.array([close_of[d] for d in days], dtype=np.float64)
        opened = calendar.session(day)[0]
        years = np.maximum(year_fraction(closes_s - opened.timestamp()), 1e-6)
        prices = price_chain(profile, spot, strike, years, right, RATE)
        rng = self._noise(underlying, 6 if carried else 4, day.toordinal())
        n = strike.size
        oi, volume = liquidity(
            profile, prices.z, years, rng.lognormal(0.0, 0.7, n), rng.lognormal(0.0, 0.8, n),
            CARRIED_HELD_Z if carried else None,
        )  # fmt: skip
        volume[rng.random(n) < 0.03] = 0
        depth = np.maximum(1, oi // 200)
        rows, roots, multipliers = np.arange(n), [underlying] * n, [100] * n
        if underlying in self._adjusted:
            twins, multiplier = adjusted_series(profile, strike, self.seed)
            rows = np.concatenate([rows, twins])
            roots += [adjusted_root(underlying)] * twins.size
            multipliers += [multiplier] * twins.size
        contracts = []
        # Plain Python values: the loop runs once per contract, ten thousand on SPY.
        rights, strikes, interest = right.tolist(), strike.tolist(), oi.tolist()
        fair = prices.fair.tolist()
        for j, i in enumerate(rows.tolist()):
            symbol = f"{roots[j]}{days[i]:%y%m%d}{rights[i]}{round(strikes[i] * 1000):08d}"
            contracts.append(
                ContractInfo(
                    id=asset_id(symbol),
                    symbol=symbol,
                    underlying=underlying,
                    root=roots[j],
                    expiration=days[i],
                    right="call" if rights[i] == "C" else "put",
                    strike=strikes[i],
                    open_interest=interest[i],
                    close_price=round(fair[i], 2),
                    multiplier=multipliers[j],
                )
            )
        stale = rng.random(n) < STALE_QUOTE_RATE
        return contracts, {
            "expiry": expiry[rows],
            "closes_s": closes_s[rows],
            "strike": strike[rows],
            "right": right[rows],
            "volume": volume[rows],
            "bid_size": rng.integers(1, depth + 1)[rows],
            "ask_size": rng.integers(1, depth + 1)[rows],
            "no_greeks": (rng.random(n) < MISSING_GREEKS_RATE)[rows],
            "stale_s": np.where(stale, rng.uniform(120, 900, n), 0.0)[rows],
            "trade_lag_s": rng.exponential(300.0, n)[rows],
            "trade_noise": rng.normal(0.0, 0.02, n)[rows],
            "carried": np.full(rows.size, carried),
        }

    def _live(self, listing: Listing, t: datetime) -> np.ndarray:
        return listing.closes_s > t.timestamp()

    def _price_snapshots(
        self, underlying: str, listing: Listing, t: datetime, live: np.ndarray
    ) -> dict[str, OptionSnapshot]:
        """Snapshots of the listing's rows ``live`` (indices of live contracts) at ``t``."""
        years = year_fraction(listing.closes_s[live] - t.timestamp())
        profile = self._profiles[underlying]
        spot = self.spot(underlying, t)
        p = price_chain(
            profile, spot, listing.strike[live], years, listing.right[live], RATE,
            listing.carried[live],
        )  # fmt: skip
        g = p.greeks
        opens, closes = listing.session
        share = min(max((t - opens) / (closes - opens), 0.0), 1.0)
        traded = np.floor(listing.volume[live] * share).astype(np.int64)
        bid, ask = np.round(p.bid, 2), np.round(p.ask, 2)
        last = np.round(np.maximum(p.fair * (1 + listing.trade_noise[live]), 0.01), 2)
        last_trade_at = min(t, closes)
        today = self._session_bars(underlying, listing, live, t)
        symbols = [listing.contracts[i].symbol for i in live.tolist()]
        before = self._previous_bars(underlying, listing, symbols)
        out = {}
        for j, i in enumerate(live.tolist()):
            info = listing.contracts[i]
            quoted_at = t - timedelta(seconds=float(listing.stale_s[i]))
            quote = Quote(
                quoted_at,
                float(bid[j]),
                float(ask[j]),
                int(listing.bid_size[i]),
                int(listing.ask_size[i]),
            )
            trade = None
            if traded[j] > 0:
                lag = timedelta(seconds=float(listing.trade_lag_s[i]))
                traded_at = max(opens, last_trade_at - lag)
                trade = Trade(traded_at, float(last[j]), int(min(traded[j], 10)))
            minute_bar = None
            if trade is not None:
                minute = trade.t.replace(second=0, microsecond=0)
                minute_bar = Bar(minute, trade.price, trade.price, trade.price, trade.price,
                                 trade.size, 1, trade.price)  # fmt: skip
            greeks, iv = None, None
            if not listing.no_greeks[i]:
                greeks = GreeksValues(
                    float(g.delta[j]),
                    float(g.gamma[j]),
                    float(g.theta[j]),
                    float(g.vega[j]),
                    float(g.rho[j]),
                )
                iv = float(p.iv[j])
            out[info.symbol] = OptionSnapshot(
                info.symbol, quote, trade, greeks, iv,
                minute_bar, today.get(i), before.get(info.symbol),
            )  # fmt: skip
        return out

    def _session_bars(
        self, underlying: str, listing: Listing, rows: np.ndarray, until: datetime
    ) -> dict[int, Bar]:
        """The daily bar of each of the listing's ``rows`` that traded in its session up to
        ``until``, by row.

        The volume is the snapshot's (the seeded day volume, traded evenly through the
        session); the prices are the model's trade price (fair value times the contract's
        seeded trade noise, as its latest trade) sampled every ``BAR_STEP`` from the open
        and at ``until``: open the first, close the last (the latest trade's price), high,
        low and VWAP over them; the trade count assumes ``PRINT_SIZE`` contracts a print.
        """
        opens, closes = listing.session
        end = min(max(until, opens), closes)
        share = (end - opens) / (closes - opens)
        volume = np.floor(listing.volume[rows] * share).astype(np.int64)
        rows, volume = rows[volume > 0], volume[volume > 0]
        if not rows.size:
            return {}
        instants = [opens + j * BAR_STEP for j in range(int((end - opens) / BAR_STEP) + 1)]
        spots = self._grid_spots(underlying, opens, len(instants))
        if instants[-1] < end:
            instants.append(end)
            spots = np.append(spots, self.spot(underlying, end))
        stamps = np.array([moment.timestamp() for moment in instants])
        years = np.maximum(year_fraction(listing.closes_s[rows][:, None] - stamps), 1e-6)
        fair = fair_values(
            self._profiles[underlying], spots, listing.strike[rows][:, None], years,
            listing.right[rows][:, None], RATE,
        )  # fmt: skip
        noise = 1 + listing.trade_noise[rows][:, None]
        prices = np.round(np.maximum(fair * noise, 0.01), 2)
        day = opens.astimezone(NEW_YORK).date()
        stamp = datetime.combine(day, time(0), NEW_YORK)
        columns = zip(
            rows.tolist(), prices[:, 0].tolist(), prices.max(1).tolist(),
            prices.min(1).tolist(), prices[:, -1].tolist(), volume.tolist(),
            np.maximum(1, -(-volume // PRINT_SIZE)).tolist(),
            np.round(prices.mean(1), 4).tolist(), strict=True,
        )  # fmt: skip
        return {i: Bar(stamp, o, h, low, c, v, n, vw) for i, o, h, low, c, v, n, vw in columns}

    def _grid_spots(self, underlying: str, opens: datetime, n: int) -> np.ndarray:
        """The spot at the first ``n`` instants ``opens + j * BAR_STEP`` of a session, kept
        per session and extended as the day goes on: every snapshot's daily bar samples
        the same instants, and a price at a past instant never changes."""
        key = (underlying, opens)
        with self._lock:
            known = self._grids.get(key)
        have = 0 if known is None else known.size
        if have >= n:
            return known[:n]  # type: ignore[index]
        more = [self.spot(underlying, opens + j * BAR_STEP) for j in range(have, n)]
        grown = np.array(more) if known is None else np.concatenate((known, more))
        with self._lock:
            _bounded(self._grids)[key] = grown
        return grown

    def _previous_bars(
        self, underlying: str, listing: Listing, symbols: list[str]
    ) -> dict[str, Bar]:
        """The daily bars of ``symbols`` in the session before the listing's, by symbol:
        of the contracts listed then and traded in it. Kept per session, as a finished
        session's bars never change."""
        before = calendar.previous_close(listing.session[0])
        walk = self._walk(underlying)
        if before is None or not walk.covers(before.astimezone(NEW_YORK).date()):
            return {}
        key = (underlying, before)
        with self._lock:
            known = self._previous.get(key)
            if known is None:
                known = _bounded(self._previous)[key] = {}
            missing = [s for s in symbols if s not in known]
        if missing:
            earlier = self._listing(underlying, before)
            found = [(s, earlier.index[s]) for s in missing if s in earlier.index]
            rows = np.array([i for _, i in found], np.int64)
            bars = self._session_bars(underlying, earlier, rows, before) if found else {}
            fresh = dict.fromkeys(missing) | {s: bars[i] for s, i in found if i in bars}
            with self._lock:
                known.update(fresh)
        return {s: bar for s in symbols if (bar := known[s]) is not None}


def quoted_at(t: datetime) -> datetime:
    """When the latest quote at ``t`` was made: ``t`` while the market is open, else the
    close of the last session before it (Alpaca's latest quote after the close is the
    close's, hours old: a client's freshness check is meant to see that)."""
    if calendar.is_open(t):
        return t
    return calendar.previous_close(t) or t


def _bar(path: DayPath, i: int) -> Bar:
    o, c = round(float(path.points[i]), 2), round(float(path.points[i + 1]), 2)
    high = max(round(float(path.high[i]), 2), o, c)
    low = min(round(float(path.low[i]), 2), o, c)
    vwap = min(max(round(float(path.vwap[i]), 4), low), high)
    t = path.opens_at + i * MINUTE
    return Bar(t, o, high, low, c, int(path.volume[i]), int(path.trades[i]), vwap)


def _bounded(cache: dict, limit: int = CACHE_LIMIT) -> dict:
    if len(cache) >= limit:
        cache.clear()
    return cache
