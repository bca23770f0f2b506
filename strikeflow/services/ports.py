"""The ports: what services need from the outside world, as Protocols.

Services depend on these and on the domain only; adapters (Alpaca, the in-process
simulated broker, fakes in tests) implement them. Failures surface as domain errors:
``BrokerUnavailable`` (transient, retry with the same client_order_id) or
``OrderRejected`` (permanent, carrying the broker's code and message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from strikeflow.domain.market import (
    BarTimeframe,
    ExpiryWindow,
    MarketClock,
    OptionQuote,
    StockBar,
    StockQuote,
    StrikeBand,
)
from strikeflow.domain.models import OptionContract, Right
from strikeflow.domain.orders import AccountSnapshot, BrokerOrder, OrderIntent, PositionSnapshot


@runtime_checkable
class MarketData(Protocol):
    def option_chain(
        self,
        underlying: str,
        window: ExpiryWindow,
        strikes: StrikeBand | None = None,
        right: Right | None = None,
    ) -> list[OptionContract]:
        """Every listed contract in the window and band (all pages), with its latest quote;
        IV and Greeks computed from the mid where the venue sent none. Contracts with
        no quote at all are left out."""
        ...

    def option_snapshots(self, symbols: Sequence[str]) -> Mapping[str, OptionQuote]:
        """Latest quotes by symbol; unknown symbols are absent from the result."""
        ...

    def stock_quote(self, symbol: str) -> StockQuote: ...

    def stock_bars(
        self, symbols: Sequence[str], timeframe: BarTimeframe, start: datetime, end: datetime
    ) -> Mapping[str, list[StockBar]]: ...

    def clock(self) -> MarketClock: ...


@runtime_checkable
class Broker(Protocol):
    def account(self) -> AccountSnapshot: ...

    def submit(self, intent: OrderIntent) -> BrokerOrder:
        """Place ``intent`` at most once, however often it is called: a second call with
        the same client_order_id returns the order the first one placed."""
        ...

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def positions(self) -> list[PositionSnapshot]: ...

    def close_position(self, symbol: str, qty: Decimal | None = None) -> BrokerOrder:
        """Sell (or buy back) ``qty`` of the holding, all of it when None."""
        ...

    def cancel(self, order_id: str) -> None: ...
