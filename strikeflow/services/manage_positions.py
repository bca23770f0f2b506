"""Managing what is held: every minute of the session, each open entry's exit is decided
from a fresh quote by the pure rules (``domain.exits.decide_exit``), and a close is sent
for each exit that fires (``services.closing.request_exit``).

Order matters, and each step says why it is there:

1. the market clock first: crontab knows no holidays, and a closing order sent while
   the market is closed would rest at the venue until the open, at a price nobody chose;
2. the minute is claimed (``ScanLock``): beat, a retry and a user may all ask for the same
   minute, one run decides it. A run that fails gives its claim back, so its retry runs;
3. the entries still held (the position book, with each one's high-water mark and the
   underlying's spot at entry), then ONE batched snapshot request for every option held,
   and a stock quote for each share held (and an option's underlying, only when its
   underlying stop can use it), all in a second request beside the first. A venue
   that does not answer leaves the positions without quotes: the rules of the clock
   (expiry, time of day, holding time) still decide, the price rules wait for the next
   minute;
4. each entry's high-water mark is raised from a fresh mark and kept (the trailing stop
   needs it across minutes and workers), and the stored Greeks of open option entries
   are refreshed from the snapshot;
5. ``decide_exit`` with the rules of the entry's strategy and instrument; each decision
   asks for a close, which sends nothing while one is in flight for the entry. A close
   the venue refused (or that ended unfilled) is asked for again only
   ``REFUSED_CLOSE_WAIT`` after it was: a refusal that lasts (a contract the venue no
   longer trades) costs one order every few minutes, not one a minute.

A quiet minute logs nothing; each close sent logs one INFO line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from strikeflow.domain.enums import InstrumentType, RecommendationStatus
from strikeflow.domain.errors import BrokerUnavailable, InvalidMarketData, InvalidRecord
from strikeflow.domain.exit_rules import ExitRuleBook, ExitRules
from strikeflow.domain.exits import (
    ExitDecision,
    ExitQuote,
    HeldPosition,
    decide_exit,
    quote_problem,
    update_high_water,
)
from strikeflow.domain.expiry import require_aware, trading_date
from strikeflow.domain.market import MarketClock, OptionQuote, StockQuote
from strikeflow.domain.models import Greeks
from strikeflow.services.beside import beside
from strikeflow.services.closing import request_exit
from strikeflow.services.closing_ids import CLOSE_ID, close_ids_prefix
from strikeflow.services.closing_ports import CloseRequests, EntryReads
from strikeflow.services.market_hours import MarketHours
from strikeflow.services.ports import HeldGreeks, ManagedBook, ManagedEntry, MarketData, ScanLock

__all__ = ["MANAGE_LOCK_TTL_S", "ExitSent", "ManageContext", "ManageOutcome", "manage_positions"]

log = logging.getLogger(__name__)
Q = TypeVar("Q")

# As the scan's: a claim outlives any redelivery of the same minute's task.
MANAGE_LOCK_TTL_S = 3600.0
REFUSED_CLOSE_WAIT = timedelta(minutes=5)
REFUSED = (
    RecommendationStatus.REJECTED,
    RecommendationStatus.FAILED,
    RecommendationStatus.UNFILLED,
)


@dataclass
class ManageContext:
    """The ports one run uses and the exit rules (the rules file's ``[exits]``)."""

    market: MarketData
    book: ManagedBook
    entries: EntryReads
    requests: CloseRequests
    lock: ScanLock
    rules: ExitRuleBook
    send_chain: Callable[[str], Any]
    lock_ttl_s: float = MANAGE_LOCK_TTL_S
    hours: MarketHours | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.hours is None:
            self.hours = MarketHours(self.market)

    def session(self, at: datetime) -> MarketClock:
        assert self.hours is not None
        return self.hours.at(at)


@dataclass(frozen=True)
class ExitSent:
    """One exit decided: the close it stored and sent, or the one in flight it found."""

    execution_id: int
    symbol: str
    rule: str
    reason: str
    recommendation_id: str
    sent: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "execution_id": self.execution_id,
            "symbol": self.symbol,
            "rule": self.rule,
            "reason": self.reason,
            "recommendation_id": self.recommendation_id,
            "sent": self.sent,
        }


@dataclass(frozen=True)
class ManageOutcome:
    """What one run did. ``held``: the entries it looked at."""

    minute: datetime
    skipped: str | None = None
    held: int = 0
    exits: tuple[ExitSent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "minute": self.minute.isoformat(),
            "skipped": self.skipped,
            "held": self.held,
            "exits": [e.to_json() for e in self.exits],
        }


def lock_key(minute: datetime) -> str:
    return f"strikeflow:manage:{minute.astimezone(UTC):%Y%m%dT%H%MZ}"


def closed_reason(clock: MarketClock, at: datetime) -> str | None:
    """Why no exit is decided at ``at`` (the market is closed), or None when it is open."""
    if not clock.is_open:
        return f"market closed (next open {clock.next_open.isoformat()})"
    if at >= clock.next_close:
        return f"{at.isoformat()} is at or after the session's close"
    return None


def manage_positions(ctx: ManageContext, at: datetime) -> ManageOutcome:
    """Decide the exits of the minute of ``at`` and send their closes, once per minute."""
    at = require_aware(at, "at")
    minute = at.astimezone(UTC).replace(second=0, microsecond=0)
    reason = closed_reason(ctx.session(at), at)
    if reason is not None:
        return ManageOutcome(minute, skipped=reason)
    key = lock_key(minute)
    if not ctx.lock.claim(key, ctx.lock_ttl_s):
        return ManageOutcome(minute, skipped=f"minute already managed ({key} is claimed)")
    try:
        return _manage(ctx, at, minute)
    except BaseException:
        ctx.lock.release(key)
        raise


def _manage(ctx: ManageContext, at: datetime, minute: datetime) -> ManageOutcome:
    held = [m for m in ctx.book.held_entries(trading_date(at)) if _manageable(m)]
    if not held:
        return ManageOutcome(minute)
    rules = {m.lot.entry.execution_id: _rules_of(ctx.rules, m) for m in held}
    # Every quote is asked for at once (services.beside): one venue round trip's wait
    # before the minute's exits are decided, however many symbols are held.
    options_read = beside(_option_quotes, ctx.market, held)
    stocks = _quotes_or_none(ctx.market.stock_quotes, _stock_symbols(held, rules), "stock")
    options = options_read.result()
    marks: dict[int, Decimal] = {}
    greeks: dict[int, HeldGreeks] = {}
    decisions: list[tuple[ManagedEntry, ExitDecision]] = []
    for managed in held:
        entry = managed.lot.entry
        quote = _exit_quote(managed, options, stocks)
        try:
            position = _position(managed, at)
        except InvalidMarketData as bad:  # a row the rules cannot judge: a person's to see
            log.warning("manage_positions: execution %s skipped: %s", entry.execution_id, bad)
            continue
        rule = rules[entry.execution_id]
        if quote is not None and quote_problem(quote, rule, at) is None:
            raised = update_high_water(position, quote.mark)
            if raised is not position and quote.mark is not None:
                marks[entry.execution_id] = quote.mark
                position = raised
        snapshot = options.get(entry.symbol)
        if snapshot is not None:
            greeks[entry.execution_id] = _greeks(snapshot)
        decision = decide_exit(position, quote, rule, at)
        if decision is not None:
            decisions.append((managed, decision))
    ctx.book.raise_high_water(marks)
    ctx.book.refresh_greeks(greeks)
    sent = tuple(s for m, d in decisions if (s := _request(ctx, m, d, at)) is not None)
    return ManageOutcome(minute, held=len(held), exits=sent)


def _manageable(managed: ManagedEntry) -> bool:
    """A long lot with a fill price: what the exit rules judge (a short stock entry, or
    one whose fill price was never recorded, is left to a person)."""
    return managed.lot.open_qty > 0 and managed.lot.entry.fill_price is not None


def _rules_of(book: ExitRuleBook, managed: ManagedEntry) -> ExitRules:
    entry = managed.lot.entry
    return book.for_position(entry.strategy, entry.instrument)  # type: ignore[arg-type]


def _option_quotes(market: MarketData, held: list[ManagedEntry]) -> Mapping[str, OptionQuote]:
    symbols = sorted(
        {m.lot.entry.symbol for m in held if m.lot.entry.instrument is not InstrumentType.STOCK}
    )
    return _quotes_or_none(market.option_snapshots, symbols, "option")


def _stock_symbols(held: list[ManagedEntry], rules: Mapping[int, ExitRules]) -> list[str]:
    """Shares held, and the underlyings whose price an underlying stop can use."""
    wanted = set()
    for m in held:
        entry = m.lot.entry
        if entry.instrument is InstrumentType.STOCK:
            wanted.add(entry.symbol)
        elif m.entry_spot is not None and rules[entry.execution_id].underlying_stop_pct:
            wanted.add(entry.underlying)
    return sorted(wanted)


def _quotes_or_none(
    read: Callable[[list[str]], Mapping[str, Q]], symbols: list[str], kind: str
) -> Mapping[str, Q]:
    """``read(symbols)``: one request for the minute's quotes of one kind (a symbol the
    venue has none for is absent). A venue that does not answer gives none: the price
    rules wait for the next minute."""
    if not symbols:
        return {}
    try:
        return read(symbols)
    except BrokerUnavailable as down:
        log.warning("manage_positions: no %s quotes this minute (%s)", kind, down)
        return {}


def _exit_quote(
    managed: ManagedEntry, options: Mapping[str, OptionQuote], stocks: Mapping[str, StockQuote]
) -> ExitQuote | None:
    entry = managed.lot.entry
    try:
        if entry.instrument is InstrumentType.STOCK:
            stock = stocks.get(entry.symbol)
            if stock is None:
                return None
            return ExitQuote(stock.bid, stock.ask, stock.time, spot=stock.mid)
        option = options.get(entry.symbol)
        if option is None:
            return None
        underlying = stocks.get(entry.underlying)
        return ExitQuote(
            option.bid,
            option.ask,
            option.time,
            spot=None if underlying is None else underlying.mid,
            theta=None if option.greeks is None else option.greeks.theta,
        )
    except InvalidMarketData as bad:  # a negative or non-finite figure: judge nothing
        log.warning("manage_positions: %s quote refused (%s)", entry.symbol, bad)
        return None


def _position(managed: ManagedEntry, at: datetime) -> HeldPosition:
    """The held position; an entry with no fill time counts as filled at ``at``."""
    entry = managed.lot.entry
    assert entry.fill_price is not None
    return HeldPosition(
        instrument=entry.instrument,
        strategy=entry.strategy,  # type: ignore[arg-type]
        symbol=entry.symbol,
        underlying=entry.underlying,
        quantity=managed.lot.open_qty,
        entry_price=entry.fill_price,
        entry_time=entry.filled_at or at,
        expiration=entry.expiration,
        entry_spot=managed.entry_spot,
        high_water=managed.high_water,
        multiplier=entry.multiplier,
    )


def _greeks(quote: OptionQuote) -> HeldGreeks:
    g: Greeks | None = quote.greeks
    return HeldGreeks(
        delta=None if g is None else _dec(g.delta),
        theta=None if g is None else _dec(g.theta),
        implied_volatility=_dec(quote.implied_vol),
    )


def _dec(value: float | None) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(repr(float(value)))
    return number if number.is_finite() else None


def _request(
    ctx: ManageContext, managed: ManagedEntry, decision: ExitDecision, at: datetime
) -> ExitSent | None:
    entry = managed.lot.entry
    if _refused_lately(ctx.requests, entry.execution_id, at):
        return None
    try:
        done = request_exit(
            ctx.entries, ctx.requests, ctx.send_chain, entry.execution_id, decision, now=at
        )
    except InvalidRecord as gone:  # closed by another path since the book was read
        log.debug("manage_positions: execution %s not closed: %s", entry.execution_id, gone)
        return None
    if done.sent:
        log.info(
            "exit sent: rec=%s execution=%s %s rule=%s reason=%s",
            done.recommendation_id,
            entry.execution_id,
            entry.symbol,
            decision.rule.value,
            decision.reason,
        )
    return ExitSent(
        entry.execution_id,
        entry.symbol,
        decision.rule.value,
        decision.reason,
        done.recommendation_id,
        done.sent,
    )


def _refused_lately(requests: CloseRequests, entry_id: int, at: datetime) -> bool:
    """The entry's last close was refused (or ended unfilled) less than
    ``REFUSED_CLOSE_WAIT`` before ``at`` (when it was asked for, on the same clock)."""
    numbered = [
        (int(m.group(2)), r)
        for r in requests.starting_with(close_ids_prefix(entry_id))
        if (m := CLOSE_ID.fullmatch(r.id))
    ]
    if not numbered:
        return False
    _, last = max(numbered, key=lambda pair: pair[0])
    return last.status in REFUSED and at - last.created_at < REFUSED_CLOSE_WAIT
