"""Historical market data from Alpaca, as plain rows for a store of recorded data.

``strikeflow data fetch`` records a window of the market through this: one-minute stock
bars (``StockHistoricalDataClient.get_stock_bars``), the option contracts listed in the
window, active and expired (``TradingClient.get_option_contracts``), and their one-minute
bars (``OptionHistoricalDataClient.get_option_bars``, symbols in batches). alpaca-py
pages the bars itself; the contracts are paged here. Every call goes through the
adapter's hardened, governed clients (``http.build_clients``), so the fetch spends the
same rate budget as the fleet, and its failures become the domain's errors.

Alpaca serves no historical option quotes (only the latest one, and trades and bars),
so nothing here reads them: a store's quotes, if any, come from elsewhere.

Rows are dicts with alpaca-py's ``Bar`` field names (``timestamp`` an aware datetime),
the shape ``sim.recorded_store`` writes; this layer does not import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from alpaca.data.requests import OptionBarsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.enums import AssetStatus
from alpaca.trading.requests import GetOptionContractsRequest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.broker_adapters.alpaca.errors import translated
from strikeflow.broker_adapters.alpaca.http import AlpacaClients
from strikeflow.broker_adapters.alpaca.parsing import malformed
from strikeflow.domain.errors import BrokerUnavailable

BAR_SPAN = timedelta(days=28)  # a request's window: a month of minutes is one page or two
OPTION_BATCH = 100  # contracts per option bars request
MAX_CONTRACT_PAGES = 1_000
Row = dict[str, Any]


def spans(start: datetime, end: datetime, width: timedelta = BAR_SPAN) -> Iterator[tuple]:
    """[start, end) cut into consecutive windows at most ``width`` wide."""
    at = start
    while at < end:
        yield at, min(at + width, end)
        at += width


class AlpacaHistory:
    """Reads of past market data. Build with ``bootstrap.market_history(settings)``."""

    def __init__(self, clients: AlpacaClients, config: AlpacaConfig) -> None:
        self._clients, self._config = clients, config

    @property
    def stock_feed(self) -> str:
        return self._config.stock_feed

    def close(self) -> None:
        self._clients.close()

    def stock_bars(self, symbol: str, start: datetime, end: datetime) -> list[Row]:
        """The stock's one-minute bars in [start, end), oldest first."""
        rows: list[Row] = []
        for first, last in spans(start, end):
            with translated("stock bars", self._config.secrets):
                barset = self._clients.stocks.get_stock_bars(
                    StockBarsRequest(
                        symbol_or_symbols=[symbol],
                        timeframe=TimeFrame.Minute,
                        start=first,
                        end=last,
                        feed=self._config.stock_feed,
                    )
                )
            for bar in barset.data.get(symbol, []):
                rows.append(
                    {
                        "timestamp": bar.timestamp,
                        "open": bar.open,
                        "high": bar.high,
                        "low": bar.low,
                        "close": bar.close,
                        "volume": int(bar.volume),
                        "trade_count": None if bar.trade_count is None else int(bar.trade_count),
                        "vwap": bar.vwap,
                    }
                )
        return rows

    def option_contracts(self, underlying: str, first: date, last: date) -> dict[str, int]:
        """The contracts on ``underlying`` expiring in [first, last], whether still active
        or expired (Alpaca's ``inactive``), each with its open interest."""
        listed: dict[str, int] = {}
        for status in (AssetStatus.ACTIVE, AssetStatus.INACTIVE):
            token: str | None = None
            for _ in range(MAX_CONTRACT_PAGES):
                with translated("option contracts", self._config.secrets), malformed("contracts"):
                    page = self._clients.listings.get_option_contracts(
                        GetOptionContractsRequest(
                            underlying_symbols=[underlying],
                            status=status,
                            expiration_date_gte=first,
                            expiration_date_lte=last,
                            limit=self._config.contracts_page_size,
                            page_token=token,
                        )
                    )
                    for entry in page.get("option_contracts") or ():
                        contract = parsing.listed_contract(entry)
                        listed[contract.symbol] = contract.open_interest
                    token = page.get("next_page_token")
                if not token:
                    break
            else:
                raise BrokerUnavailable(
                    "option contracts", f"more than {MAX_CONTRACT_PAGES} pages for {underlying}"
                )
        return listed

    def option_bars(self, symbols: Sequence[str], start: datetime, end: datetime) -> list[Row]:
        """One-minute bars of ``symbols`` (at most ``OPTION_BATCH``) in [start, end), each
        row with its contract's OCC ``symbol``; minutes without trades have none."""
        rows: list[Row] = []
        for first, last in spans(start, end):
            with translated("option bars", self._config.secrets), malformed("option bars"):
                raw = self._clients.options.get_option_bars(
                    OptionBarsRequest(
                        symbol_or_symbols=list(symbols),
                        timeframe=TimeFrame.Minute,
                        start=first,
                        end=last,
                    )
                )
                for symbol, bars in (raw or {}).items():
                    rows.extend(_option_row(symbol, bar) for bar in bars or ())
        return rows


def _option_row(symbol: str, bar: dict[str, Any]) -> Row:
    return {
        "symbol": symbol,
        "timestamp": parsing.timestamp(bar["t"]),
        "open": float(bar["o"]),
        "high": float(bar["h"]),
        "low": float(bar["l"]),
        "close": float(bar["c"]),
        "volume": int(bar["v"]),
        "trade_count": None if bar.get("n") is None else int(bar["n"]),
        "vwap": None if bar.get("vw") is None else float(bar["vw"]),
    }
