"""The ports: what services need from the outside world, as Protocols.

Services depend on these and on the domain only; adapters (Alpaca, the in-process
simulated broker, fakes in tests) implement them. Failures surface as domain errors:
``BrokerUnavailable`` (transient, retry with the same client_order_id) or
``OrderRejected`` (permanent, carrying the broker's code and message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, runtime_checkable

from strikeflow.domain.claims import ClaimRefused
from strikeflow.domain.enums import BarTimeframe, ExecutionStatus, RecommendationStatus, Right
from strikeflow.domain.errors import BrokerError
from strikeflow.domain.final_word import FinalWord
from strikeflow.domain.market import (
    ExpiryWindow,
    MarketClock,
    OptionQuote,
    StockBar,
    StockQuote,
    StrikeBand,
)
from strikeflow.domain.models import OptionContract
from strikeflow.domain.orders import AccountSnapshot, BrokerOrder, OrderIntent, PositionSnapshot
from strikeflow.domain.position_book import OpenLot
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.risk import OpenExposure
from strikeflow.domain.venue_activity import VenueActivity


@runtime_checkable
class MarketData(Protocol):
    def option_chain(
        self,
        underlying: str,
        window: ExpiryWindow,
        strikes: StrikeBand | None = None,
        right: Right | None = None,
    ) -> list[OptionContract]:
        """Every listed contract in the window that the band picks (``StrikeBand.pick``:
        its range, and with ``per_side`` only the strikes nearest spot; all pages), with
        its latest quote, IV and Greeks as the venue sent them (None where it sent none:
        the selection backs out those it needs). Contracts with no quote are left out."""
        ...

    def option_snapshots(self, symbols: Sequence[str]) -> Mapping[str, OptionQuote]:
        """Latest quotes by symbol; unknown symbols are absent from the result."""
        ...

    def stock_quote(self, symbol: str) -> StockQuote: ...

    def stock_quotes(self, symbols: Sequence[str]) -> Mapping[str, StockQuote]:
        """Latest quotes by symbol, asked for in one request; unknown symbols are absent."""
        ...

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


@runtime_checkable
class OrderListing(Protocol):
    """A broker that lists its recent orders in one call (Alpaca's ``GET /v2/orders``):
    reconciliation asks once for every unfinished execution instead of once each."""

    def recent_orders(self, after: datetime, limit: int = 500) -> list[BrokerOrder]:
        """Orders open or closed submitted after ``after``, newest first, at most
        ``limit``; orders it cannot read are left out."""
        ...


@runtime_checkable
class OrderCancelling(Protocol):
    """A broker that cancels an order by its venue id (Alpaca's ``DELETE
    /v2/orders/{id}``): stale entries are canceled rather than left resting."""

    def cancel_order(self, order_id: str) -> BrokerOrder:
        """Ask the venue to cancel ``order_id``; the order as the venue then reports it
        (canceled, still ``pending_cancel``, or filled first). ``OrderRejected`` when
        the venue refuses (an order already closed)."""
        ...


@runtime_checkable
class OrderReplacing(Protocol):
    """A broker that replaces an open order (Alpaca's ``PATCH /v2/orders/{id}``): a
    worked order walks its limit by replacing itself, so that no two orders ever rest
    for one entry."""

    def replace_order(
        self, order_id: str, qty: Decimal, limit_price: Decimal, client_order_id: str
    ) -> BrokerOrder:
        """The venue's NEW order (under ``client_order_id``, for ``qty`` in all: it carries
        what the old one filled and works the rest); the old one ends ``replaced``.
        ``OrderNotReplaceable`` when the order is no longer open (filled or canceled
        meanwhile): read it, do not retry. A replace that already landed under
        ``client_order_id`` is that order."""
        ...


@runtime_checkable
class WorkingStore(Protocol):
    """What working an order writes on its entry's execution row, beside the dispatch
    store's writes (``db.working_store``)."""

    def record_work_step(
        self,
        client_order_id: str,
        step: Mapping[str, Any],
        broker_order_id: str | None = None,
        limit_price: Decimal | None = None,
        replaces: int | None = None,
    ) -> bool:
        """Add ``step`` (price, time, client_order_id, outcome) to the row's
        ``explain_json["work"]``. With ``replaces``, the row follows the replacement too:
        the latest venue order id, limit (as premium, until a fill), client_order_id and
        replace count, only forward (a count not above the stored one writes nothing:
        False). True if written."""
        ...

    def record_work_figures(self, client_order_id: str, figures: Mapping[str, Any]) -> None:
        """What the fill kept against the far side and paid against the mid
        (``improvement``, ``improvement_of_half_spread``, ``slippage_vs_mid``, money
        but the share), in their columns and in the work's explanation."""
        ...


@runtime_checkable
class VenueActivities(Protocol):
    """A broker that lists its account activities (Alpaca's ``GET /v2/account/activities``):
    what the venue closed or delivered on its own (expiry, exercise, liquidation)."""

    def account_activities(
        self, after: datetime | None, types: Sequence[str]
    ) -> list[VenueActivity]:
        """Activities of ``types`` strictly after ``after`` (None: as far back as the
        venue lists), oldest first, every page; one the adapter cannot read is left out."""
        ...


class OrderGuard(NamedTuple):
    """What submit_order checks before sending, read at once: the recommendation's status
    (None if unknown), the order its sizing step decided (``sized_order``, None if none),
    and the execution already recorded under the client_order_id (None if none)."""

    status: RecommendationStatus | None
    decision: dict[str, str] | None
    recorded: Execution | None


@runtime_checkable
class DispatchStore(Protocol):
    """What the dispatch steps need from the database. Every write is idempotent."""

    def get_recommendation(self, recommendation_id: str) -> Recommendation | None: ...

    def set_status(
        self,
        recommendation_id: str,
        status: RecommendationStatus,
        reason: str | None = None,
        explain: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move to ``status`` unless that is behind the stored state (``domain.lifecycle``:
        never out of a terminal one); True if this call changed it.
        ``explain`` (JSON) keeps why, in full, next to the one-line ``reason``."""
        ...

    def record_selection(self, recommendation_id: str, report: Mapping[str, Any]) -> None:
        """Keep select_contract's report (JSON) on the recommendation, replacing any."""
        ...

    def record_outcome(
        self, execution: Execution, status: RecommendationStatus, reason: str | None = None
    ) -> tuple[Execution, bool]:
        """Store ``execution`` unless its client_order_id is stored, and the
        recommendation's ``set_status``, atomically; (the stored row, whether new)."""
        ...

    def execution_by_client_order_id(self, client_order_id: str) -> Execution | None: ...

    def record_decision(
        self, recommendation_id: str, decision: Mapping[str, str]
    ) -> bool | ClaimRefused:
        """Keep the order a sizing step decided (``dispatch_steps.decision_of``) on the
        recommendation, replacing any, while it is in flight (pending or dispatched);
        True if kept. A close (``decision["closes"]`` names its entry) is a claim,
        admitted atomically only if it fits in what the entry holds beside what the
        other closes claim (``domain.claims``); else a ClaimRefused (falsy) saying why."""
        ...

    def order_guard(self, recommendation_id: str, client_order_id: str) -> OrderGuard:
        """What submit_order checks before sending, in one read (``OrderGuard``)."""
        ...

    def unfinished_executions(self, limit: int = 500) -> list[Execution]:
        """Orders without a final state from the venue, oldest first."""
        ...

    def record_fill(
        self,
        client_order_id: str,
        status: ExecutionStatus,
        filled_qty: Decimal | None = None,
        filled_avg_price: Decimal | None = None,
        filled_at: datetime | None = None,
        broker_order_id: str | None = None,
    ) -> Execution:
        """Record the venue's report unless it is behind the stored row (an earlier
        state, or fewer fills: ``domain.lifecycle``); the row as stored after the call,
        unchanged when the report was stale."""
        ...

    def settle_recommendation(self, recommendation_id: str, word: FinalWord) -> bool:
        """The venue's final word on the recommendation's order (``domain.final_word.
        settled``): executed or fell_back may become unfilled, the one overwrite of a
        terminal state. True if this call changed it."""
        ...

    def note_cancel(self, client_order_id: str, cause: str, at: datetime) -> bool:
        """Keep, with the order, that a cancel was asked for and why (the first ask's)."""
        ...

    def risk_state(self, now: datetime) -> tuple[OpenExposure, Decimal]:
        """What the risk check reads, at once: the entries still held at ``now`` (their
        count and cost by ticker), and the net realized loss on the New York trading day
        of ``now``, positive for a loss."""
        ...


@runtime_checkable
class KillSwitch(Protocol):
    def is_on(self) -> bool:
        """True when every chain must stop before submit_order."""
        ...


@runtime_checkable
class ScanLock(Protocol):
    """Claims a key once (Redis SET NX with a ttl in production): a minute is scanned once."""

    def claim(self, key: str, ttl_s: float) -> bool:
        """True for the one caller that took ``key``; False while anyone holds it."""
        ...

    def release(self, key: str) -> None:
        """Give a claim back, so a scan that failed before it finished can run again."""
        ...


@runtime_checkable
class SignalCooldown(Protocol):
    """When each cooldown key (ticker and action) was last recorded, on the scan's clock."""

    def last_recorded(self, keys: Sequence[str]) -> Mapping[str, datetime]:
        """The stored instants; keys never recorded (or expired) are absent."""
        ...

    def record(self, stamps: Mapping[str, datetime]) -> None: ...


@runtime_checkable
class SharedCache(Protocol):
    """Small text values the fleet shares for a while: the last spot seen per ticker,
    the day's contract listings. Redis for a fleet, this process's memory otherwise.

    Best effort by contract: a store that is down or slow reads as empty and forgets
    what it is given, never failing the step that asked (each value only saves a venue
    round trip, and the venue is asked instead)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str, ttl_s: float) -> None: ...

    def put_many(self, values: Mapping[str, str], ttl_s: float) -> None: ...


@runtime_checkable
class ParkedSteps(Protocol):
    """Steps waiting on simulated time (STRIKEFLOW_WORK_TIMER=parked): each one a text
    payload due at an instant of the venue's clock, taken by whoever moves that clock
    (a backtest's driver) once the clock reaches it. Redis for a fleet, this process's
    memory otherwise. Unlike the shared cache, not best effort: a parked step is work."""

    def park(self, due: datetime, payload: str) -> None: ...

    def take_due(self, at: datetime) -> tuple[datetime, str] | None:
        """The earliest step due at or before ``at`` (ties by payload), removed; None
        when none is due. Two takers never get the same step."""
        ...


@runtime_checkable
class RecommendationInbox(Protocol):
    """Where a scan stores what it found; the id is the natural key."""

    def insert(self, rec: Recommendation) -> tuple[Recommendation, bool]:
        """Store ``rec`` unless its id is stored; (the stored row, whether new)."""
        ...


class OrderFallback(Protocol):
    """What stands in for the venue once submit_order's retries are spent."""

    def fall_back(self, intent: OrderIntent, failure: BrokerError) -> BrokerOrder:
        """A simulated execution standing in for ``failure``, or ``failure`` raised."""
        ...


@dataclass(frozen=True, slots=True)
class ManagedEntry:
    """An entry still held, as ``manage_positions`` reads it: its open lot, the highest
    mark seen since entry (None: none seen yet) and the underlying's price when it was
    selected (an option's underlying stop; None when not kept)."""

    lot: OpenLot
    high_water: Decimal | None = None
    entry_spot: Decimal | None = None


@dataclass(frozen=True, slots=True)
class HeldGreeks:
    """An open option entry's Greeks from its latest snapshot (None: not sent)."""

    delta: Decimal | None
    theta: Decimal | None
    implied_volatility: Decimal | None


@runtime_checkable
class ManagedBook(Protocol):
    """The held entries ``manage_positions`` decides exits for, and what it keeps of them."""

    def held_entries(self, as_of: date) -> list[ManagedEntry]:
        """Every entry with something left after its closes, oldest first (an option
        expired before ``as_of`` is the venue events' to close, not listed)."""
        ...

    def raise_high_water(self, marks: Mapping[int, Decimal]) -> None:
        """Raise each entry's high-water mark to the mark given, never lower it."""
        ...

    def refresh_greeks(self, greeks: Mapping[int, HeldGreeks]) -> None:
        """Store each entry's latest Greeks (a None keeps the stored figure)."""
        ...
