"""A market replayed from a store of recorded data (``recorded_store``), with the surface
of the synthetic ``Market`` (``market_model.MarketModel``), so the emulator's venue and
routes serve it unchanged.

What it answers, and what it refuses to make up:

- **Stocks.** At ``t`` the price is the close of the last recorded one-minute bar that
  had *ended* by ``t`` (a bar stamped 10:31 is known from 10:32: nothing is read from
  the future). The quote is that close on both sides, a zero spread, sized by the bar's
  volume and stamped with the bar's end: bars carry no bid or ask, and a spread would be
  invented. The latest trade is the same close. Before the store's first bar, the first
  bar's open, stamped at that bar's start.
- **Options.** The chain is the contracts present in the store for the underlying (from
  their OCC symbols) whose expiry has not passed. Quotes come only from recorded quotes:
  the last one at or before ``t`` on the same trading day. A contract without one has
  no quote in its snapshot (Alpaca then omits ``latestQuote``), and every such
  contract-minute a client was shown is counted (``missing_quotes``). The latest trade is
  the last recorded option bar ended by ``t`` (its close and volume). Greeks and IV,
  which bars and quotes do not carry, are backed out with the domain's Black-Scholes from
  the quote's mid, else the last trade; None when neither gives a price the model can
  invert. Open interest is the recorded listing's (``options/contracts``), 0 without it.
- **Expiry.** The settlement price is the close of the last recorded bar of the
  expiration day, so the venue settles contracts that expire inside the window.
- **The calendar.** Trading days without a stock bar in the store are listed in
  ``missing_days``; nothing is made for them (prices hold at the last close).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np

from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.expiry import NEW_YORK, expiry_instant, require_aware
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.pricing import bs_greeks, implied_vol, to_broker_greeks
from strikeflow.domain.year_fraction import year_fraction
from strikeflow.sim import calendar
from strikeflow.sim.market import RATE, ChainQuery, UnknownSymbol
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
from strikeflow.sim.recorded_store import Series, Store, read_store
from strikeflow.sim.venue_orders import asset_id

MINUTE_S = 60.0
_OPENED: dict[Path, RecordedMarket] = {}
_OPENED_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Chain:
    """One underlying's recorded contracts, arrays aligned (``ChainQuery.mask`` reads
    ``expiry``, ``right`` and ``strike``)."""

    contracts: list[ContractInfo]
    index: dict[str, int]
    expiry: np.ndarray  # datetime64[D]
    closes_s: np.ndarray  # each expiration's close, epoch seconds
    strike: np.ndarray
    right: np.ndarray  # "C" | "P"


def _instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _day_of(seconds: float) -> date:
    return _instant(seconds).astimezone(NEW_YORK).date()


class RecordedMarket:
    """A store's recorded prices, served as the emulator's market. Thread-safe: the
    arrays are read-only after loading and the counters hold a lock."""

    def __init__(self, store: Store) -> None:
        self.store = store
        manifest = store.manifest
        self.symbols = manifest.symbols
        self._stocks = store.stock_bars
        self._option_bars = {u: (s, s.slices()) for u, s in store.option_bars.items()}
        self._quotes = {u: (s, s.slices()) for u, s in store.option_quotes.items()}
        self._chains = {u: self._chain(u) for u in self.symbols}
        self._by_symbol = {
            c.symbol: u for u, chain in self._chains.items() for c in chain.contracts
        }
        # By the hour, not the bar: a year of minutes is a few thousand hours to convert.
        hours = {int(h) for s in self._stocks.values() for h in np.unique(s.t // 3600)}
        recorded = {_day_of(h * 3600.0) for h in hours}
        days = calendar.trading_days(manifest.start, manifest.end)
        self.missing_days: tuple[date, ...] = tuple(d for d in days if d not in recorded)
        self._lock = threading.Lock()
        self._unquoted: set[tuple[str, int]] = set()
        self._shown: set[tuple[str, int]] = set()

    @classmethod
    def open(cls, root: Path) -> RecordedMarket:
        """The store at ``root``, read once per process: an emulator built on it and the
        command that reports on the replay afterwards share one market and its counts."""
        key = Path(root).resolve()
        with _OPENED_LOCK:
            market = _OPENED.get(key)
            if market is None:
                market = _OPENED[key] = cls(read_store(key))
        return market

    # -- the replay's own figures --------------------------------------------------------

    @property
    def missing_quotes(self) -> int:
        """Contract-minutes a client was shown a contract that had no recorded quote."""
        with self._lock:
            return len(self._unquoted)

    @property
    def shown_contract_minutes(self) -> int:
        with self._lock:
            return len(self._shown)

    # -- the window ----------------------------------------------------------------------

    @property
    def last_day(self) -> date:
        return self.store.manifest.end

    def covers(self, t: datetime) -> bool:
        return require_aware(t, "t").astimezone(NEW_YORK).date() <= self.last_day

    # -- stocks --------------------------------------------------------------------------

    def _series(self, symbol: str) -> Series:
        series = self._stocks.get(symbol)
        if series is None:
            raise UnknownSymbol(f"unknown symbol {symbol!r}")
        return series

    def _last_ended(self, series: Series, t: datetime, lo: int = 0, hi: int | None = None) -> int:
        """The row of the last bar in [lo, hi) that had ended by ``t``; lo - 1 if none."""
        hi = series.t.size if hi is None else hi
        cut = require_aware(t, "t").timestamp() - MINUTE_S
        return int(np.searchsorted(series.t[lo:hi], cut, side="right")) + lo - 1

    def spot(self, symbol: str, t: datetime) -> float:
        """The latest trade's price: the last ended bar's close (the first bar's open
        before any ended)."""
        return self.latest_trade(symbol, t).price

    def stock_quote(self, symbol: str, t: datetime) -> Quote:
        trade = self.latest_trade(symbol, t)
        return Quote(trade.t, trade.price, trade.price, trade.size, trade.size)

    def latest_trade(self, symbol: str, t: datetime) -> Trade:
        series = self._series(symbol)
        if not len(series):
            raise UnknownSymbol(f"no bars recorded for {symbol!r}")
        i = self._last_ended(series, t)
        if i < 0:
            first = series.columns
            return Trade(_instant(series.t[0]), float(first["open"][0]), 0)
        return Trade(
            _instant(series.t[i] + MINUTE_S),
            float(series.columns["close"][i]),
            int(series.columns["volume"][i]),
        )

    def bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Recorded one-minute bars with ``start <= t`` and ``t + 1 min <= end``."""
        return _bars(self._series(symbol), 0, None, start, end)

    def daily_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        """Daily bars stamped (New York midnight) within [start, end], each of its
        recorded minutes completed by ``end``."""
        first = datetime.combine(start.astimezone(NEW_YORK).date(), time(0), NEW_YORK)
        days = daily_bars_of(self.bars(symbol, first, end))
        return [b for b in days if start <= b.t <= end]

    # -- options -------------------------------------------------------------------------

    def _chain(self, underlying: str) -> _Chain:
        names: set[str] = set()
        for table in (self.store.option_bars, self.store.option_quotes):
            series = table.get(underlying)
            if series is not None:
                names.update(series.slices())
        interest = self.store.open_interest.get(underlying, {})
        contracts = []
        for name in sorted(names):
            try:
                occ = parse_occ(name)
            except InvalidOccSymbol:
                continue
            if occ.root.rstrip("0123456789") != underlying:
                continue
            contracts.append(
                ContractInfo(
                    id=asset_id(name),
                    symbol=name,
                    underlying=underlying,
                    root=occ.root,
                    expiration=occ.expiration,
                    right="call" if occ.right.value == "C" else "put",
                    strike=float(occ.strike),
                    open_interest=int(interest.get(name, 0)),
                    close_price=None,
                )
            )
        return _Chain(
            contracts=contracts,
            index={c.symbol: i for i, c in enumerate(contracts)},
            expiry=np.array([c.expiration for c in contracts], dtype="datetime64[D]"),
            closes_s=np.array(
                [expiry_instant(c.expiration).timestamp() for c in contracts], dtype=np.float64
            ),
            strike=np.array([c.strike for c in contracts], dtype=np.float64),
            right=np.array([c.right[0].upper() for c in contracts], dtype="<U1"),
        )

    def _chain_of(self, underlying: str) -> _Chain:
        chain = self._chains.get(underlying)
        if chain is None:
            raise UnknownSymbol(f"unknown symbol {underlying!r}")
        return chain

    def contracts(self, underlying: str, t: datetime) -> list[ContractInfo]:
        return self.contracts_where(underlying, t)

    def contracts_where(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]:
        chain = self._chain_of(underlying)
        chosen = chain.closes_s > require_aware(t, "t").timestamp()
        if query is not None:
            chosen &= query.mask(chain)  # type: ignore[arg-type]
        return [chain.contracts[i] for i in np.flatnonzero(chosen)]

    def expired_contracts(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]:
        """The recorded contracts whose expiry had passed by ``t`` (Alpaca's inactive)."""
        chain = self._chain_of(underlying)
        chosen = chain.closes_s <= require_aware(t, "t").timestamp()
        if query is not None:
            chosen &= query.mask(chain)  # type: ignore[arg-type]
        return [chain.contracts[i] for i in np.flatnonzero(chosen)]

    def option_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]:
        underlying = self._by_symbol.get(symbol)
        if underlying is None or underlying not in self._option_bars:
            return []
        series, rows = self._option_bars[underlying]
        lo, hi = rows.get(symbol, (0, 0))
        return _bars(series, lo, hi, start, end)

    def option_snapshots(
        self, underlying: str, t: datetime, symbols: Iterable[str] | None = None
    ) -> dict[str, OptionSnapshot]:
        chain = self._chain_of(underlying)
        live = chain.closes_s > require_aware(t, "t").timestamp()
        if symbols is None:
            wanted = np.flatnonzero(live).tolist()
        else:
            rows = [chain.index[s] for s in dict.fromkeys(symbols) if s in chain.index]
            wanted = [i for i in rows if live[i]]
        if not wanted:
            return {}
        minute = int(t.timestamp() // MINUTE_S)
        seen = []
        for i in wanted:
            symbol = chain.contracts[i].symbol
            quote = self._recorded_quote(underlying, symbol, t)
            seen.append((i, quote, *self._trades(underlying, symbol, t)))
        with self._lock:
            for i, quote, *_ in seen:
                self._shown.add((chain.contracts[i].symbol, minute))
                if quote is None:
                    self._unquoted.add((chain.contracts[i].symbol, minute))
        prices = np.array([_price(quote, trade) for _, quote, trade, _, _ in seen], np.float64)
        rows = np.array([i for i, *_ in seen], np.int64)
        greeks, ivs = _greeks(prices, self.spot(underlying, t), chain, rows, t)
        out = {}
        for j, (i, quote, trade, minute_bar, daily_bar) in enumerate(seen):
            symbol = chain.contracts[i].symbol
            out[symbol] = OptionSnapshot(
                symbol, quote, trade, greeks[j], ivs[j], minute_bar, daily_bar, None
            )
        return out

    def option_snapshot(self, symbol: str, t: datetime) -> OptionSnapshot | None:
        return self.snapshots_of((symbol,), t).get(symbol)

    def snapshots_of(self, symbols: Iterable[str], t: datetime) -> dict[str, OptionSnapshot]:
        """The snapshots of the named contracts the store holds, per underlying at once."""
        return snapshots_by_underlying(self, symbols, t, self._by_symbol.get)

    def quote(self, symbol: str, t: datetime) -> Quote | None:
        """A stock's quote, or an option's recorded one. None without one: the venue then
        refuses a new order in the contract as unknown and fills no open one."""
        if symbol in self._stocks:
            return self.stock_quote(symbol, t)
        underlying = self._by_symbol.get(symbol)
        if underlying is None:
            return None
        return self._recorded_quote(underlying, symbol, t)

    def settlement_price(self, underlying: str, expiration: date) -> float:
        """The close of the expiration day's last recorded bar (the official close)."""
        return round(self.spot(underlying, expiry_instant(expiration)), 2)

    # -- internals -----------------------------------------------------------------------

    def _recorded_quote(self, underlying: str, symbol: str, t: datetime) -> Quote | None:
        found = self._quotes.get(underlying)
        if found is None:
            return None
        series, rows = found
        lo, hi = rows.get(symbol, (0, 0))
        if lo == hi:
            return None
        at = t.timestamp()
        j = int(np.searchsorted(series.t[lo:hi], at, side="right")) + lo - 1
        if j < lo or _day_of(series.t[j]) != _day_of(at):
            return None
        c = series.columns
        return Quote(
            _instant(series.t[j]),
            float(c["bid_price"][j]),
            float(c["ask_price"][j]),
            int(c["bid_size"][j]),
            int(c["ask_size"][j]),
        )

    def _trades(
        self, underlying: str, symbol: str, t: datetime
    ) -> tuple[Trade | None, Bar | None, Bar | None]:
        """The last bar ended by ``t`` as the latest trade and minute bar, and the day's
        bars to ``t`` as the daily bar (stamped midnight New York, as Alpaca stamps it)."""
        found = self._option_bars.get(underlying)
        if found is None:
            return None, None, None
        series, rows = found
        lo, hi = rows.get(symbol, (0, 0))
        i = self._last_ended(series, t, lo, hi)
        if i < lo:
            return None, None, None
        minute_bar = _bar(series, i)
        trade = Trade(minute_bar.t + timedelta(minutes=1), minute_bar.c, minute_bar.v)
        day = _day_of(series.t[i])
        midnight = datetime.combine(day, datetime.min.time(), NEW_YORK)
        first = int(np.searchsorted(series.t[lo:hi], midnight.timestamp(), side="left")) + lo
        c = series.columns
        span = slice(first, i + 1)
        volume = int(c["volume"][span].sum())
        vwap = float(np.average(c["vwap"][span], weights=c["volume"][span])) if volume else 0.0
        daily = Bar(
            midnight, float(c["open"][first]), float(c["high"][span].max()),
            float(c["low"][span].min()), float(c["close"][i]), volume,
            int(c["trade_count"][span].sum()), round(vwap, 4),
        )  # fmt: skip
        return trade, minute_bar, daily


def _bar(series: Series, i: int) -> Bar:
    c = series.columns
    return Bar(
        _instant(series.t[i]), float(c["open"][i]), float(c["high"][i]), float(c["low"][i]),
        float(c["close"][i]), int(c["volume"][i]), int(c["trade_count"][i]), float(c["vwap"][i]),
    )  # fmt: skip


def _bars(series: Series, lo: int, hi: int | None, start: datetime, end: datetime) -> list[Bar]:
    hi = series.t.size if hi is None else hi
    times = series.t[lo:hi]
    first = int(np.searchsorted(times, start.timestamp(), side="left")) + lo
    last = int(np.searchsorted(times, end.timestamp() - MINUTE_S, side="right")) + lo
    return [_bar(series, i) for i in range(first, last)]


def _price(quote: Quote | None, trade: Trade | None) -> float:
    """What the model's IV is backed out of: the quote's mid, else the last trade; NaN
    for neither."""
    if quote is not None and quote.bid > 0 and quote.ask >= quote.bid:
        return (quote.bid + quote.ask) / 2
    return trade.price if trade is not None else float("nan")


def _greeks(
    prices: np.ndarray, spot: float, chain: _Chain, rows: np.ndarray, t: datetime
) -> tuple[list[GreeksValues | None], list[float | None]]:
    """IV and Greeks (broker units) of the chain's ``rows`` backed out of ``prices``, one
    vectorized inversion for them all; None where there is no price or the model cannot
    invert it (below intrinsic value, say)."""
    n = rows.size
    if not n or not spot > 0:
        return [None] * n, [None] * n
    years = np.maximum(year_fraction(chain.closes_s[rows] - t.timestamp()), 1e-6)
    strike, right = chain.strike[rows], chain.right[rows]
    usable = np.isfinite(prices) & (prices > 0)
    iv = np.full(n, np.nan)
    if usable.any():
        iv[usable] = implied_vol(
            prices[usable], spot, strike[usable], years[usable], RATE, 0.0, right[usable]
        )
    valid = np.isfinite(iv) & (iv > 0)
    g = to_broker_greeks(bs_greeks(spot, strike, years, RATE, 0.0, np.where(valid, iv, 0.2), right))
    columns = [np.asarray(x, np.float64) * np.ones(n) for x in g]
    finite = valid & np.logical_and.reduce([np.isfinite(c) for c in columns[:4]])
    ivs = [float(v) if ok else None for v, ok in zip(iv.tolist(), valid.tolist(), strict=True)]
    greeks = [
        GreeksValues(*(float(c[j]) for c in columns)) if finite[j] else None for j in range(n)
    ]
    return greeks, ivs
