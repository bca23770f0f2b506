"""The MarketData port over Alpaca's market data and contracts endpoints.

An option chain is two listings merged by symbol: contracts (``/v2/options/contracts``,
open interest and size; alpaca-py fetches one page, so every page is walked here), kept
per process and in the fleet's shared cache for the day (``listings``), and snapshots
(``/v1beta1/options/snapshots/{underlying}``, quotes, IV, Greeks and the daily bar's
volume; alpaca-py walks those pages itself, 1,000 a page), asked for each chain with the
right, window and strike band as filters. Both arrive as raw JSON (``raw_data`` clients,
see ``parsing``). IV and Greeks come as the venue sent them, None where it sent none:
the selection backs out of the mid only those it needs (the chosen contract's, the
candidates' delta for a delta target), and records which are the model's.

Every stock request names its feed (``stock_feed``, IEX unless configured): without one,
Alpaca answers historical bars from SIP, whose latest 15 minutes the free plan may not
query, so a scan asking bars up to the current minute would be refused.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from typing import Any

from alpaca.data.enums import DataFeed, OptionsFeed
from alpaca.data.requests import (
    OptionChainRequest,
    OptionSnapshotRequest,
    StockBarsRequest,
    StockLatestQuoteRequest,
)
from alpaca.trading.requests import GetOptionContractsRequest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.broker_adapters.alpaca.errors import translated
from strikeflow.broker_adapters.alpaca.http import AlpacaClients
from strikeflow.broker_adapters.alpaca.listings import (
    ListedContract,
    ListingCache,
    expiry_groups,
    in_band,
)
from strikeflow.broker_adapters.alpaca.parsing import malformed
from strikeflow.domain.enums import BarTimeframe, Right
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.market import (
    ExpiryWindow,
    MarketClock,
    OptionQuote,
    StockBar,
    StockQuote,
    StrikeBand,
)
from strikeflow.domain.models import OptionContract
from strikeflow.services.ports import SharedCache

SNAPSHOT_BATCH = 100  # symbols per /v1beta1/options/snapshots request (URL length)
SNAPSHOT_PAGE = 1_000  # snapshots per page of a chain, as alpaca-py asks for them
# Pages of one chain asked for at once, for the few chains a worker process runs at once.
PAGE_THREADS = 8

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _reading_pool() -> ThreadPoolExecutor:
    """This process's threads for a chain's pages, made on first use in each process
    (a worker forked from its parent starts its own: threads do not survive a fork)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(PAGE_THREADS, "chain-page"))
        return _pool[1]


MAX_CONTRACT_PAGES = 1_000  # a venue that never ends its pages must not hang a worker


class AlpacaMarketData:
    def __init__(self, clients: AlpacaClients, config: AlpacaConfig) -> None:
        self._clients = clients
        self._config = config
        self._feed = OptionsFeed(config.options_feed)
        self._stock_feed = DataFeed(config.stock_feed)
        self._listings = ListingCache(config.listing_ttl_s)

    def share_listings(self, cache: SharedCache) -> None:
        """Take listings from, and leave them in, the fleet's ``cache``, named by this
        venue: the listings come from the trading API (paper, live, or the URL set)."""
        config = self._config
        venue = config.trading_endpoint or ("paper" if config.paper else "live")
        self._listings.share(cache, venue)

    def option_chain(
        self,
        underlying: str,
        window: ExpiryWindow,
        strikes: StrikeBand | None = None,
        right: Right | None = None,
    ) -> list[OptionContract]:
        band = strikes or StrikeBand()
        key = (underlying, window.first, window.last, right)
        listing = self._listings.get(key, lambda: self._list_contracts(underlying, window, right))
        listed = in_band(listing, band)
        if not listed:
            return []
        low, high = band.low, band.high
        if band.per_side is not None:  # the strikes picked: fewer snapshots to send
            low, high = min(c.strike for c in listed), max(c.strike for c in listed)
        low_strike = None if low is None else float(low)
        high_strike = None if high is None else float(high)
        groups = expiry_groups(listed, SNAPSHOT_PAGE)
        if len(groups) == 1:
            snapshots = self._chain_page(underlying, right, groups[0], low_strike, high_strike)
        else:  # more than a page: a request per group of expiries, all at once
            pending = [
                _reading_pool().submit(
                    self._chain_page, underlying, right, group, low_strike, high_strike
                )
                for group in groups
            ]
            snapshots = {}
            for asked in pending:
                snapshots.update(asked.result())
        contracts = []
        with translated("option chain snapshots", self._config.secrets):
            for meta in listed:  # in listing order: the same chain gives the same list
                snapshot = snapshots.get(meta.symbol)
                quote = None if snapshot is None else parsing.option_quote(meta.symbol, snapshot)
                if quote is not None:
                    contracts.append(parsing.option_contract(meta, quote))
        return contracts

    def _chain_page(
        self,
        underlying: str,
        right: Right | None,
        expiries: tuple[date, date],
        low: float | None,
        high: float | None,
    ) -> Mapping[str, Any]:
        """The snapshots of one run of expiries within the strikes, as the venue sent them."""
        with translated("option chain snapshots", self._config.secrets):
            return self._clients.options.get_option_chain(
                OptionChainRequest(
                    underlying_symbol=underlying,
                    feed=self._feed,
                    type=None if right is None else parsing.RIGHT_TO_ALPACA[right],
                    expiration_date_gte=expiries[0],
                    expiration_date_lte=expiries[1],
                    strike_price_gte=low,
                    strike_price_lte=high,
                )
            )

    def _list_contracts(
        self, underlying: str, window: ExpiryWindow, right: Right | None
    ) -> list[ListedContract]:
        """Every page of the window's listing, all strikes (the cache applies the band)."""
        listed: list[ListedContract] = []
        token: str | None = None
        for _ in range(MAX_CONTRACT_PAGES):
            with translated("option contracts", self._config.secrets), malformed("contracts"):
                page = self._clients.listings.get_option_contracts(
                    GetOptionContractsRequest(
                        underlying_symbols=[underlying],
                        expiration_date_gte=window.first,
                        expiration_date_lte=window.last,
                        type=None if right is None else parsing.RIGHT_TO_ALPACA[right],
                        limit=self._config.contracts_page_size,
                        page_token=token,
                    )
                )
                entries = page.get("option_contracts") or ()
                listed.extend(parsing.listed_contract(c) for c in entries)
                token = page.get("next_page_token")
            if not token:
                return listed
        raise BrokerUnavailable(
            "option contracts", f"more than {MAX_CONTRACT_PAGES} pages for {underlying}"
        )

    def option_snapshots(self, symbols: Sequence[str]) -> Mapping[str, OptionQuote]:
        found: dict[str, OptionQuote] = {}
        unique = list(dict.fromkeys(symbols))
        for start in range(0, len(unique), SNAPSHOT_BATCH):
            batch = unique[start : start + SNAPSHOT_BATCH]
            with translated("option snapshots", self._config.secrets):
                snaps = self._clients.options.get_option_snapshot(
                    OptionSnapshotRequest(symbol_or_symbols=batch, feed=self._feed)
                )
                for symbol, snap in (snaps or {}).items():
                    quote = parsing.option_quote(symbol, snap)
                    if quote is not None:
                        found[symbol] = quote
        return found

    def stock_quote(self, symbol: str) -> StockQuote:
        quote = self.stock_quotes([symbol]).get(symbol)
        if quote is None:
            raise OrderRejected("stock quote", None, None, f"no quote for {symbol}")
        return quote

    def stock_quotes(self, symbols: Sequence[str]) -> Mapping[str, StockQuote]:
        if not symbols:
            return {}
        with translated("stock quote", self._config.secrets):
            quotes = self._clients.stocks.get_stock_latest_quote(
                StockLatestQuoteRequest(symbol_or_symbols=list(symbols), feed=self._stock_feed)
            )
            return {s: parsing.stock_quote(quotes[s]) for s in symbols if s in quotes}

    def stock_bars(
        self, symbols: Sequence[str], timeframe: BarTimeframe, start: datetime, end: datetime
    ) -> Mapping[str, list[StockBar]]:
        with translated("stock bars", self._config.secrets):
            barset = self._clients.stocks.get_stock_bars(
                StockBarsRequest(
                    symbol_or_symbols=list(symbols),
                    timeframe=parsing.TIMEFRAME_TO_ALPACA[BarTimeframe(timeframe)],
                    start=start,
                    end=end,
                    feed=self._stock_feed,
                )
            )
            return {s: [parsing.stock_bar(b) for b in barset.data.get(s, [])] for s in symbols}

    def clock(self) -> MarketClock:
        with translated("clock", self._config.secrets):
            return parsing.market_clock(self._clients.trading.get_clock())
