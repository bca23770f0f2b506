"""What the emulator's venue and routes ask of a market: the surface both the seeded
synthetic ``Market`` and the ``RecordedMarket`` (a store of recorded data, replayed)
offer, so either can stand behind the same HTTP app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from strikeflow.sim.market_data import Bar, ContractInfo, OptionSnapshot, Quote, Trade

if TYPE_CHECKING:
    from strikeflow.sim.market import ChainQuery


class MarketModel(Protocol):
    symbols: tuple[str, ...]

    @property
    def last_day(self) -> date: ...

    def covers(self, t: datetime) -> bool: ...

    def spot(self, symbol: str, t: datetime) -> float: ...

    def stock_quote(self, symbol: str, t: datetime) -> Quote: ...

    def latest_trade(self, symbol: str, t: datetime) -> Trade: ...

    def bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]: ...

    def daily_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]: ...

    def option_bars(self, symbol: str, start: datetime, end: datetime) -> list[Bar]: ...

    def contracts(self, underlying: str, t: datetime) -> list[ContractInfo]: ...

    def contracts_where(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]: ...

    def expired_contracts(
        self, underlying: str, t: datetime, query: ChainQuery | None = None
    ) -> list[ContractInfo]: ...

    def option_snapshots(
        self, underlying: str, t: datetime, symbols: Iterable[str] | None = None
    ) -> dict[str, OptionSnapshot]: ...

    def option_snapshot(self, symbol: str, t: datetime) -> OptionSnapshot | None: ...

    def snapshots_of(self, symbols: Iterable[str], t: datetime) -> dict[str, OptionSnapshot]: ...

    def quote(self, symbol: str, t: datetime) -> Quote | None: ...

    def settlement_price(self, underlying: str, expiration: date) -> float: ...


def snapshots_by_underlying(
    market: MarketModel,
    symbols: Iterable[str],
    t: datetime,
    underlying_of: Callable[[str], str | None],
) -> dict[str, OptionSnapshot]:
    """``market``'s snapshots of the named contracts (those ``underlying_of`` places on no
    underlying left out), asked for once per underlying: a request that names several
    contracts of one chain has them priced together."""
    by_underlying: dict[str, list[str]] = {}
    for symbol in symbols:
        underlying = underlying_of(symbol)
        if underlying is not None:
            by_underlying.setdefault(underlying, []).append(symbol)
    found: dict[str, OptionSnapshot] = {}
    for underlying, named in by_underlying.items():
        found.update(market.option_snapshots(underlying, t, named))
    return found
