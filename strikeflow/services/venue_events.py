"""What the venue closed on its own, recorded from its account activities.

The venue acts on positions without an order of ours: an option out of the money expires
worthless (OPEXP), one in the money is exercised and the shares delivered (OPEXC with
its OPTRD), or settled in cash (OPCSH), and an expiring position the account cannot
carry is liquidated by an order the venue makes (a FILL whose order is not ours). Each
is recorded as what the closing chain records for our own closes: a CLOSE execution
linked to the entry (``closes_execution_id``) with its realized P&L, so the book, the
reports and the daily-loss limit tell the venue's story.

- OPEXP: the expired contracts closed at 0, realized P&L −cost;
- OPEXC: the option closed at its intrinsic value (the underlying's price at expiry
  against the strike), and for a call the delivered shares entered as a STOCK entry
  (source ``exercise``) whose cost basis is the strike; the shares a put's exercise sold
  are closed by its OPTRD;
- OPCSH: the contracts closed at the cash paid per share;
- a sell FILL of an order that is not ours (ours have a ``client_order_id`` starting
  ``sf-``): the held entry closed at the fill, "liquidated by the venue".

Closes never exceed what the book holds (entries filled at the venue, less their closes,
oldest first). An activity about nothing we hold is recorded as seen, "not ours", and
nothing else. Each activity is read once: its id is kept with what it recorded
(``VenueEventStore.record_event``), so reading the same activities again records nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol, runtime_checkable

from strikeflow.domain.enums import (
    Action,
    BarTimeframe,
    BrokerName,
    ExecutionStatus,
    InstrumentType,
    PositionEffect,
    RecommendationSource,
    RecommendationStatus,
    Right,
)
from strikeflow.domain.errors import DomainError
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.domain.money import CENT
from strikeflow.domain.occ import parse_occ
from strikeflow.domain.position_book import quantity_text
from strikeflow.domain.records import Execution, Recommendation
from strikeflow.domain.sizing import shares_per_unit
from strikeflow.domain.venue_activity import (
    FILL,
    OPASN,
    OPCSH,
    OPEXC,
    OPEXP,
    OPTRD,
    VENUE_EVENT_TYPES,
    VenueActivity,
    VenueRecord,
)
from strikeflow.services.closing_ports import EntryReads
from strikeflow.services.closing_size import (
    CLOSES_KEY,
    multiplier_of,
    pnl_of_close,
    remaining,
)
from strikeflow.services.closing_steps import QUANTITY_FEATURE
from strikeflow.services.messages import ClosingOf
from strikeflow.services.ports import MarketData, OrderListing, VenueActivities

NOT_OURS = "not ours"
LIQUIDATED = "liquidated by the venue"
OUR_ORDER_PREFIX = "sf-"
# Activities are read from a day before the latest one seen: the venue may post an
# event (an exercise, by about 18:00 New York) stamped earlier than one already read.
LOOKBACK = timedelta(days=1)
FIRST_LOOKBACK = timedelta(days=7)  # nothing seen yet: a week back
SESSION_CLOSE = time(16, 0)  # New York: an expiring option is judged at this close
ID_DIGEST = 20  # hex characters of an activity id's digest in the ids of its records


@runtime_checkable
class VenueEventStore(EntryReads, Protocol):
    """What recording venue events needs from the database."""

    def seen_ids(self, ids: Sequence[str]) -> set[str]:
        """The ids among ``ids`` already recorded."""
        ...

    def last_seen_at(self) -> datetime | None:
        """When the latest activity recorded happened (None: none recorded)."""
        ...

    def owns_order(self, broker_order_id: str) -> bool:
        """Whether an execution of ours carries this venue order id."""
        ...

    def record_event(self, record: VenueRecord, processed_at: datetime) -> list[Execution]:
        """The record's rows and its activity's seen row, in one transaction; nothing
        (and []) when the activity is recorded already."""
        ...


@dataclass(frozen=True, slots=True)
class VenueEventsRun:
    """One run: how many activities were read, and what each new one recorded."""

    read: int
    recorded: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "new": len(self.recorded), "recorded": list(self.recorded)}


def record_venue_events(
    store: VenueEventStore,
    venue: VenueActivities,
    market: MarketData,
    now: Callable[[], datetime],
) -> VenueEventsRun:
    """Read the activities since the latest one recorded and record the new ones, oldest
    first (an exercise's OPEXC before its OPTRD)."""
    at = now()
    last = store.last_seen_at()
    after = at - FIRST_LOOKBACK if last is None else last - LOOKBACK
    unique = {a.id: a for a in venue.account_activities(after, VENUE_EVENT_TYPES)}
    read = sorted(unique.values(), key=lambda a: a.at)
    seen = store.seen_ids([a.id for a in read])
    fresh = [a for a in read if a.id not in seen]
    ours = _OurOrders(store, venue, after)
    recorded = []
    for activity in fresh:
        record = decide(store, market, activity, ours)
        written = store.record_event(record, at)
        recorded.append(
            {
                "id": activity.id,
                "type": activity.kind,
                "symbol": activity.symbol,
                "recorded": record.note,
                "execution_ids": [e.id for e in written],
            }
        )
    return VenueEventsRun(len(read), tuple(recorded))


class _OurOrders:
    """Whether a venue order is ours: an execution of ours carries its id, or the venue
    lists it with a client_order_id of ours (``sf-``: an order whose execution is not
    written yet). The venue is asked once a run, and only when a fill needs it."""

    def __init__(self, store: VenueEventStore, venue: object, after: datetime) -> None:
        self._store, self._venue, self._after = store, venue, after
        self._listed: dict[str, str] | None = None

    def __call__(self, order_id: str | None) -> bool:
        if order_id is None:
            return False
        if self._store.owns_order(order_id):
            return True
        if self._listed is None:
            listed = (
                self._venue.recent_orders(self._after)
                if isinstance(self._venue, OrderListing)
                else []
            )
            self._listed = {o.id: o.client_order_id for o in listed}
        return self._listed.get(order_id, "").startswith(OUR_ORDER_PREFIX)


def decide(
    store: EntryReads,
    market: MarketData,
    activity: VenueActivity,
    ours: Callable[[str | None], bool],
) -> VenueRecord:
    """What one activity records (nothing written here)."""
    kind = activity.kind
    if kind == FILL:
        if ours(activity.order_id):
            return VenueRecord(activity, "our order: its chain records the fill")
        if activity.side != "sell" or activity.price is None:
            return VenueRecord(activity, NOT_OURS)
        return _closes(store, activity, activity.price, LIQUIDATED)
    if kind == OPEXP:
        return _closes(store, activity, Decimal(0), "expired worthless")
    if kind == OPCSH:
        return _closes(store, activity, _cash_per_share(activity), "settled in cash")
    if kind == OPEXC:
        return _exercise(store, market, activity)
    if kind == OPTRD:
        if activity.net_amount is not None and activity.net_amount > 0 and activity.price:
            return _closes(store, activity, activity.price, "shares delivered on exercise")
        return VenueRecord(activity, "the shares of an exercise (recorded with its OPEXC)")
    if kind == OPASN:
        return VenueRecord(activity, f"{NOT_OURS}: no short options are written")
    return VenueRecord(activity, NOT_OURS)


def _cash_per_share(activity: VenueActivity) -> Decimal:
    if activity.price is not None:
        return activity.price
    if activity.net_amount is None or not activity.qty:
        return Decimal(0)
    return abs(activity.net_amount) / (activity.qty * shares_per_unit(InstrumentType.CALL))


def _exercise(store: EntryReads, market: MarketData, activity: VenueActivity) -> VenueRecord:
    occ = parse_occ(activity.symbol)
    spot = underlying_price(market, occ.root, occ.expiration)
    gap = spot - occ.strike if occ.right is Right.CALL else occ.strike - spot
    intrinsic = max(gap, Decimal(0)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)
    closed = _closes(store, activity, intrinsic, f"exercised at intrinsic value {intrinsic}")
    if occ.right is not Right.CALL:
        return closed
    rows = list(closed.rows)
    for _, close in closed.rows:
        rows.append(_delivered(activity, close, occ.strike))
    return VenueRecord(activity, closed.note, tuple(rows))


def underlying_price(market: MarketData, ticker: str, day: date) -> Decimal:
    """The underlying's official close on ``day``, which exercise is judged against: the
    close of the session's last minute bar (15:59 New York), else its quote's mid now."""
    last_minute = datetime.combine(day, SESSION_CLOSE, NEW_YORK) - timedelta(minutes=1)
    try:
        bars = market.stock_bars(
            [ticker], BarTimeframe.MINUTE, last_minute, last_minute + timedelta(minutes=1)
        )
        closes = [b.close for b in bars.get(ticker, []) if b.time <= last_minute]
        if closes:
            return closes[-1]
    except DomainError:
        pass
    return market.stock_quote(ticker).mid


def _held_entries(store: EntryReads, symbol: str) -> Iterable[tuple[Execution, Decimal]]:
    """Long entries on ``symbol`` that reached the venue, with what is left of each."""
    option = _is_option(symbol)
    for entry in store.open_entries(symbol):
        if entry.action is not Action.BUY or entry.broker is not BrokerName.ALPACA:
            continue
        if option and entry.option_symbol != symbol:
            continue
        if not option and (entry.instrument_type is not InstrumentType.STOCK):
            continue
        assert entry.id is not None
        left = remaining(entry, store.closes_of(entry.id))
        if left > 0:
            yield entry, left


def _is_option(symbol: str) -> bool:
    try:
        parse_occ(symbol)
    except DomainError:
        return False
    return True


def _closes(store: EntryReads, activity: VenueActivity, price: Decimal, reason: str) -> VenueRecord:
    """Close up to the activity's quantity of what the book holds on its symbol, oldest
    entry first, at ``price`` per share."""
    want = activity.qty
    rows = []
    for entry, left in _held_entries(store, activity.symbol):
        take = min(want, left)
        if entry.instrument_type is not InstrumentType.STOCK:
            take = take.to_integral_value(rounding="ROUND_FLOOR")
        if take <= 0:
            continue
        rows.append(_close(activity, entry, take, price, reason))
        want -= take
        if want <= 0:
            break
    if not rows:
        return VenueRecord(activity, NOT_OURS)
    closed = activity.qty - want
    ids = ", ".join(str(e.closes_execution_id) for _, e in rows)
    what = f"{quantity_text(closed)} of {activity.symbol} at {price}"
    note = f"{activity.kind} {reason}: {what} (entry {ids})"
    if want > 0:
        note += f"; {quantity_text(want)} {NOT_OURS}"
    return VenueRecord(activity, note, tuple(rows))


def _record_id(activity: VenueActivity, entry_id: int, suffix: str = "") -> str:
    """``venue-<digest of the activity id>-<entry id>[-s]``: one record per activity and
    entry, the same however often it is read (48 characters at most)."""
    digest = hashlib.sha256(activity.id.encode()).hexdigest()[:ID_DIGEST]
    return f"venue-{digest}-{entry_id}{suffix}"


def _venue_note(activity: VenueActivity, reason: str) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "activity_type": activity.kind,
        "reason": reason,
        "description": activity.description,
    }


def _close(
    activity: VenueActivity, entry: Execution, qty: Decimal, price: Decimal, reason: str
) -> tuple[Recommendation, Execution]:
    assert entry.id is not None
    rid = _record_id(activity, entry.id)
    symbol = entry.option_symbol or entry.ticker
    multiplier = multiplier_of(entry)
    entry_price = entry.filled_avg_price or entry.premium_paid or Decimal(0)
    closes = ClosingOf(
        execution_id=entry.id, symbol=symbol, entry_price=entry_price, multiplier=multiplier
    )
    option = entry.instrument_type is not InstrumentType.STOCK
    at = activity.at
    rec = Recommendation(
        id=rid,
        ticker=entry.ticker,
        action=Action.SELL,
        instrument_type=entry.instrument_type,
        strategy_type=entry.strategy_type,
        confidence=1.0,
        source=RecommendationSource.VENUE,
        features={
            "closes_execution_id": entry.id,
            QUANTITY_FEATURE: str(qty),
            **_venue_note(activity, reason),
        },
        reason=f"{reason} ({activity.kind} {activity.id})",
        status=RecommendationStatus.EXECUTED,
        status_reason=reason,
        created_at=at,
        updated_at=at,
    )
    execution = Execution(
        recommendation_id=rid,
        client_order_id=rid,
        ticker=entry.ticker,
        action=Action.SELL,
        instrument_type=entry.instrument_type,
        broker=entry.broker,
        execution_mode=entry.execution_mode,
        status=ExecutionStatus.FILLED,
        quantity=qty,
        broker_order_id=activity.order_id,
        filled_qty=qty,
        filled_avg_price=price,
        notional=qty * price * multiplier,
        explain_json={
            "venue_event": _venue_note(activity, reason),
            CLOSES_KEY: closes.model_dump(mode="json"),
        },
        position_effect=PositionEffect.CLOSE,
        closes_execution_id=entry.id,
        realized_pnl=pnl_of_close(closes, qty, price),
        strike_price=entry.strike_price,
        expiration_date=entry.expiration_date,
        contracts=int(qty) if option else None,
        premium_paid=price.quantize(CENT, ROUND_HALF_EVEN) if option else None,
        option_symbol=entry.option_symbol,
        strategy_type=entry.strategy_type,
        multiplier=entry.multiplier,
        created_at=at,
        submitted_at=at,
        filled_at=at,
        updated_at=at,
    )
    return rec, execution


def _delivered(
    activity: VenueActivity, close: Execution, strike: Decimal
) -> tuple[Recommendation, Execution]:
    """The shares a call's exercise delivered for the contracts ``close`` closed: a
    STOCK entry bought at the strike (its cost basis), linked to the option entry."""
    entry_id = close.closes_execution_id
    assert entry_id is not None
    assert close.filled_qty is not None
    shares = close.filled_qty * multiplier_of(close)
    rid = _record_id(activity, entry_id, "-s")
    at = activity.at
    delivered = f"{quantity_text(shares)} shares delivered"
    reason = f"{delivered} by the exercise of {close.option_symbol} at {strike}"
    link = {"exercise_of": entry_id, **_venue_note(activity, "delivered on exercise")}
    rec = Recommendation(
        id=rid,
        ticker=close.ticker,
        action=Action.BUY,
        instrument_type=InstrumentType.STOCK,
        strategy_type=None,
        confidence=1.0,
        source=RecommendationSource.EXERCISE,
        features=link,
        reason=reason,
        status=RecommendationStatus.EXECUTED,
        status_reason=reason,
        created_at=at,
        updated_at=at,
    )
    cost = shares * strike
    execution = Execution(
        recommendation_id=rid,
        client_order_id=rid,
        ticker=close.ticker,
        action=Action.BUY,
        instrument_type=InstrumentType.STOCK,
        broker=close.broker,
        execution_mode=close.execution_mode,
        status=ExecutionStatus.FILLED,
        quantity=shares,
        filled_qty=shares,
        filled_avg_price=strike,
        notional=cost,
        explain_json={**link, "order_cost": str(cost)},
        position_effect=PositionEffect.OPEN,
        created_at=at,
        submitted_at=at,
        filled_at=at,
        updated_at=at,
    )
    return rec, execution
