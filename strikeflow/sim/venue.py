"""One paper account at the emulated venue: orders, fills, positions, expiry, and an audit trail.

The model, and every simplification it makes on purpose:

- A cash account, no margin and no shorting. ``buying_power`` is cash less what open buy
  orders reserve (their limit price, or the ask at submission for a market order), and
  ``options_buying_power`` and ``non_marginable_buying_power`` equal it: long premium is
  paid from cash, so it lowers both. Selling more than is held is refused.
- Orders answer ``accepted``. A fill is tried at the first ``process(now)`` at least
  ``fill_delay_s`` after submission and at every one after it, against the quote at that
  instant: market buys take the ask, market sells the bid, a limit buy fills at
  min(limit, ask) once ask <= limit, a limit sell at max(limit, bid) once bid >= limit; a
  quote side at zero never fills. An order that does not fill at its first try becomes
  ``new``. Fills are whole (no partial fills) and are tried in acceptance order.
- Market hours (given ``tradable_from``, as the emulator does): an order sent while the
  market is closed, not flagged ``extended_hours``, is accepted and rests ``accepted``
  until the next open, where its first fill is tried, as Alpaca queues it; options
  included (they refuse ``extended_hours``). An ``extended_hours`` stock order is tried
  at once (extended sessions are not modelled). Without ``tradable_from``, hours are not
  enforced. ``day`` orders expire at the session close that follows their submission
  (``session_close``; by default 16:00 New York on the next weekday, holidays ignored),
  and when the clock jumps past that close the last try is priced at the close. Options
  orders also expire at their contract's expiration close.
- A buy whose fill would cost more cash than is free (a market order's price moved up)
  is ``rejected`` at fill time, so cash never goes negative.
- Expiry: at 16:00 New York on an option's expiration date its position is settled in
  cash at intrinsic value x 100 x qty, against ``settlement_price`` of the OCC root, when
  in the money by $0.01 or more (the cash an exercise and a sale at that price would
  bring); otherwise it expires worthless. The position goes, and an activity (OPEXC or
  OPEXP, as Alpaca names them) is recorded. Alpaca's 15:15-15:30 liquidation of at-risk
  positions is not modelled.
- Positions are marked at the quote's mid, or at cost when there is no usable quote.

Refusals raise ``VenueError`` with Alpaca's status, code and message (see venue_orders).
"""

from __future__ import annotations

import dataclasses
import heapq
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from strikeflow.domain.expiry import NEW_YORK, expiry_instant, require_aware
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue_book import NINE_PLACES, Book, Lot, Working, rfc3339
from strikeflow.sim.venue_orders import (
    Account,
    Order,
    OrderTicket,
    Position,
    asset_id,
    check_client_order_id,
    duplicate,
    fill_price,
    forbidden,
    invalid,
    make_ticket,
    not_found,
    price_of,
    stable_uuid,
    tidy,
    to_number,
    to_qty,
    unprocessable,
)

ACCOUNT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "strikeflow-sim:account"))
ACCOUNT_NUMBER = "PA3SIM000001"
ORDER_STATUSES = ("open", "closed", "all")
MAX_LIST = 500

Number = Decimal | float | int | str


class QuoteSource(Protocol):
    """What the venue needs from the market."""

    def quote(self, symbol: str, t: datetime) -> Quote | None:
        """The quote of a stock ticker or OCC symbol at ``t``; None for an unknown symbol."""
        ...

    def settlement_price(self, underlying: str, expiration: date) -> float:
        """The underlying's price at its options' expiration close."""
        ...


def next_weekday_close(t: datetime) -> datetime:
    """16:00 New York on the first weekday whose close is after ``t`` (holidays ignored)."""
    local = require_aware(t).astimezone(NEW_YORK)
    day = local.date()
    if local >= expiry_instant(day):
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return expiry_instant(day)


class Venue:
    """A thread-safe paper account: every public method holds one lock throughout.

    ``clock`` gives the venue's now (timezone-aware); ``session_close(t)`` the close at which
    a ``day`` order sent at ``t`` expires (pass the emulator calendar's next close);
    ``tradable_from(t)`` the first instant an order sent at ``t`` may trade: ``t`` in
    session, else the next open (the calendar's ``trading_from``; None: any time).
    """

    def __init__(
        self,
        quotes: QuoteSource,
        *,
        cash: Number = 100_000,
        options_approved_level: int = 2,
        fill_delay_s: float = 1.0,
        clock: Callable[[], datetime],
        session_close: Callable[[datetime], datetime] = next_weekday_close,
        tradable_from: Callable[[datetime], datetime] | None = None,
    ) -> None:
        if not fill_delay_s >= 0:
            raise ValueError(f"fill_delay_s must be >= 0, got {fill_delay_s}")
        self._quotes = quotes
        self._clock = clock
        self._session_close = session_close
        self._tradable_from = tradable_from
        self._delay = timedelta(seconds=fill_delay_s)
        self._level = options_approved_level
        self._book = Book(to_number(cash, "cash"))
        self._created_at = self._now()
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}  # in acceptance order
        self._by_cid: dict[str, str] = {}
        self._audit: list[dict[str, Any]] = []
        self._generated_cids = 0
        self._pending: list[tuple[datetime, int, str]] = []  # (ready_at, seq, id): a heap
        self._ready: dict[str, Working] = {}  # past their delay, tried at every process

    # -- orders ----------------------------------------------------------------------

    def submit(
        self,
        symbol: str,
        qty: Number,
        side: str,
        type: str,
        time_in_force: str,
        limit_price: Number | None = None,
        client_order_id: str | None = None,
        position_intent: str | None = None,
        extended_hours: bool = False,
    ) -> Order:
        """Accept an order (status ``accepted``) or raise the VenueError Alpaca would send."""
        with self._lock:
            ticket_args = (symbol, qty, side, type, time_in_force, limit_price)
            order = self._submit(*ticket_args, client_order_id, position_intent, extended_hours)
            return dataclasses.replace(order)

    def get_order(self, order_id: str) -> Order:
        with self._lock:
            return dataclasses.replace(self._order(order_id))

    def get_order_by_client_id(self, client_order_id: str) -> Order:
        with self._lock:
            order_id = self._by_cid.get(client_order_id)
            if order_id is None:
                raise not_found("order")
            return dataclasses.replace(self._orders[order_id])

    def list_orders(
        self,
        status: str = "open",
        limit: int = 50,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        symbols: Iterable[str] | None = None,
    ) -> list[Order]:
        """Orders submitted strictly between ``after`` and ``until``, newest first by default.

        Orders submitted at the same instant keep their acceptance order (reversed for desc).
        """
        if status not in ORDER_STATUSES:
            raise invalid(f"invalid status {status!r}: expected open, closed or all")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
            raise invalid(f"limit must be an integer from 1 to {MAX_LIST}")
        if direction not in ("asc", "desc"):
            raise invalid(f"invalid direction {direction!r}: expected asc or desc")
        wanted = None if symbols is None else frozenset(symbols)
        with self._lock:
            chosen = [
                o
                for o in self._orders.values()
                if (status == "all" or o.is_open == (status == "open"))
                and (after is None or o.submitted_at > after)
                and (until is None or o.submitted_at < until)
                and (wanted is None or o.symbol in wanted)
            ]
            chosen.sort(key=lambda o: o.submitted_at)  # stable: ties stay in acceptance order
            if direction == "desc":
                chosen.reverse()
            return [dataclasses.replace(o) for o in chosen[:limit]]

    def cancel(self, order_id: str) -> Order:
        """Cancel an open order at once; a closed one is 422 ``order is already in "x" state``."""
        with self._lock:
            order = self._order(order_id)
            if not order.is_open:
                raise unprocessable(f'order is already in "{order.status}" state')
            self._book.close(order, "canceled", self._now())
            return dataclasses.replace(order)

    def cancel_all(self) -> list[tuple[str, int]]:
        """Cancel every open order: (order id, HTTP status 200) each, in acceptance order."""
        with self._lock:
            now = self._now()
            working = list(self._book.open.values())
            for w in working:
                self._book.close(w.order, "canceled", now)
            return [(w.order.id, 200) for w in working]

    def audit(self) -> list[dict[str, Any]]:
        """Every order ever accepted, once each, in acceptance order (JSON-ready values)."""
        with self._lock:
            return [dict(entry) for entry in self._audit]

    def activities(self) -> list[dict[str, Any]]:
        """Fills (FILL), expiries settled in cash (OPEXC) and worthless (OPEXP), in order."""
        with self._lock:
            return [dict(entry) for entry in self._book.activities]

    # -- account and positions ---------------------------------------------------------

    def account(self) -> Account:
        with self._lock:
            book, now = self._book, self._now()
            long_value = sum(
                (book.mark(s, self._quotes.quote(s, now))[1] for s in book.lots), Decimal(0)
            )
            power, equity, zero = book.buying_power(), tidy(book.cash + long_value), Decimal(0)
            return Account(
                id=ACCOUNT_ID, account_number=ACCOUNT_NUMBER, status="ACTIVE", currency="USD",
                cash=book.cash, buying_power=power, regt_buying_power=power,
                daytrading_buying_power=zero, non_marginable_buying_power=power,
                options_buying_power=power, equity=equity, portfolio_value=equity,
                long_market_value=tidy(long_value), short_market_value=zero,
                initial_margin=zero, maintenance_margin=zero, multiplier="1",
                options_approved_level=self._level, options_trading_level=self._level,
                pattern_day_trader=False, trading_blocked=False, transfers_blocked=False,
                account_blocked=False, shorting_enabled=False, trade_suspended_by_user=False,
                daytrade_count=0, created_at=self._created_at,
            )  # fmt: skip

    def positions(self) -> list[Position]:
        """Every position, in the order it was opened."""
        with self._lock:
            now = self._now()
            return [self._book.position(s, self._quotes.quote(s, now)) for s in self._book.lots]

    def position(self, symbol: str) -> Position:
        with self._lock:
            if symbol not in self._book.lots:
                raise not_found("position")
            return self._book.position(symbol, self._quotes.quote(symbol, self._now()))

    def close_position(
        self, symbol: str, qty: Number | None = None, percentage: Number | None = None
    ) -> Order:
        """A market sell (day, sell_to_close) of all of a position, of qty, or of percentage."""
        with self._lock:
            lot = self._book.lots.get(symbol)
            if lot is None:
                raise not_found("position")
            amount = _close_qty(lot, qty, percentage)
            order = self._submit(
                symbol, amount, "sell", "market", "day", None, None, "sell_to_close", False
            )
            return dataclasses.replace(order)

    # -- time -------------------------------------------------------------------------

    def process(self, now: datetime | None = None) -> None:
        """Bring the venue up to ``now``: try fills, expire day orders, settle expiries."""
        with self._lock:
            moment = require_aware(self._now() if now is None else now)
            while self._pending and self._pending[0][0] <= moment:
                order_id = heapq.heappop(self._pending)[2]
                if order_id in self._book.open:
                    self._ready[order_id] = self._book.open[order_id]
            for order_id, working in list(self._ready.items()):
                if order_id in self._book.open:
                    self._work(working, moment)
                if order_id not in self._book.open:
                    del self._ready[order_id]
            self._settle_expired(moment)

    # -- under the lock ---------------------------------------------------------------------

    def _submit(
        self,
        symbol: object,
        qty: object,
        side: object,
        type: object,
        time_in_force: object,
        limit_price: object,
        client_order_id: object,
        position_intent: object,
        extended_hours: object,
    ) -> Order:
        now = self._now()
        # A duplicate is refused before anything else is looked at: the retry of an order
        # that was accepted always hears 40010001, whatever the market has done since.
        cid = check_client_order_id(client_order_id)
        if cid is not None and cid in self._by_cid:
            raise duplicate()
        ticket = make_ticket(
            symbol, qty, side, type, time_in_force, limit_price,
            cid, position_intent, extended_hours,
        )  # fmt: skip
        quote = self._quotes.quote(ticket.symbol, now)
        if quote is None:
            raise invalid(f"asset {ticket.symbol} not found")
        if ticket.option is not None:
            if expiry_instant(ticket.option.expiration) <= now:
                raise invalid(f"asset {ticket.symbol} is not active")
            self._check_options_level(ticket)
        if ticket.side == "buy":
            return self._accept(ticket, now, self._check_funds(ticket, quote))
        self._check_qty(ticket)
        return self._accept(ticket, now, Decimal(0))

    def _check_options_level(self, ticket: OrderTicket) -> None:
        if self._level < 1:
            raise forbidden("account is not approved to trade options")
        if ticket.side == "buy" and self._level < 2:
            raise forbidden("account not eligible to trade uncovered option contracts")

    def _check_funds(self, ticket: OrderTicket, quote: Quote) -> Decimal:
        """The per-unit price a buy reserves; 403 when the account cannot pay for it."""
        if ticket.limit_price is not None:
            reserve = ticket.limit_price
        else:
            reserve = price_of(quote.ask)
            if reserve <= 0:
                raise unprocessable(f"no ask quoted for {ticket.symbol}: send a limit order")
        cost = tidy(reserve * ticket.qty * ticket.multiplier)
        power = self._book.buying_power()
        if cost > power:
            extra = {"buying_power": str(power), "cost_basis": str(cost)}
            raise forbidden("insufficient buying power", extra)
        return reserve

    def _check_qty(self, ticket: OrderTicket) -> None:
        """A sell needs the quantity held and not already offered: there is no shorting."""
        lot = self._book.lots.get(ticket.symbol)
        existing = lot.qty if lot is not None else Decimal(0)
        held = self._book.held(ticket.symbol)
        available = existing - held
        if ticket.qty > available:
            raise forbidden(
                f"insufficient qty available for order (requested: {ticket.qty}, "
                f"available: {available})",
                {
                    "available": str(available),
                    "existing_qty": str(existing),
                    "held_for_orders": str(held),
                    "symbol": ticket.symbol,
                },
            )

    def _accept(self, ticket: OrderTicket, now: datetime, reserve: Decimal) -> Order:
        cid = ticket.client_order_id or self._generate_cid()
        expires_at = None
        if ticket.time_in_force == "day":
            expires_at = self._session_close(now)
            if ticket.option is not None:
                expires_at = min(expires_at, expiry_instant(ticket.option.expiration))
        order = Order(
            id=stable_uuid("order", len(self._orders) + 1), client_order_id=cid,
            created_at=now, updated_at=now, submitted_at=now, symbol=ticket.symbol,
            asset_id=asset_id(ticket.symbol), asset_class=ticket.asset_class, qty=ticket.qty,
            side=ticket.side, type=ticket.type, order_type=ticket.type,
            time_in_force=ticket.time_in_force, status="accepted",
            limit_price=ticket.limit_price, expires_at=expires_at,
            extended_hours=ticket.extended_hours, position_intent=ticket.position_intent,
        )  # fmt: skip
        self._orders[order.id] = order
        self._by_cid[cid] = order.id
        ready_at = now + self._delay
        if self._tradable_from is not None and not ticket.extended_hours:
            ready_at = max(ready_at, self._tradable_from(now))  # queued for the open
        self._book.add(Working(order, ready_at, reserve, ticket.multiplier, ticket.option))
        heapq.heappush(self._pending, (ready_at, len(self._orders), order.id))
        self._audit.append(
            {
                "id": order.id,
                "client_order_id": cid,
                "symbol": order.symbol,
                "side": order.side,
                "qty": str(order.qty),
                "type": order.type,
                "time_in_force": order.time_in_force,
                "limit_price": None if order.limit_price is None else str(order.limit_price),
                "submitted_at": rfc3339(now),
            }
        )
        return order

    def _generate_cid(self) -> str:
        while True:
            self._generated_cids += 1
            cid = stable_uuid("client-order", self._generated_cids)
            if cid not in self._by_cid:
                return cid

    def _work(self, working: Working, now: datetime) -> None:
        """One fill attempt; past its close, the attempt is priced at the close, then expiry."""
        order = working.order
        if now < working.ready_at:
            return
        deadline = order.expires_at
        if deadline is not None and working.ready_at >= deadline:
            self._book.close(order, "expired", deadline)
            return
        at = now if deadline is None else min(now, deadline)
        quote = self._quotes.quote(order.symbol, at)
        price = None
        if quote is not None:
            price = fill_price(order, price_of(quote.bid), price_of(quote.ask))
        if price is not None:
            self._book.fill(working, price, at)
        elif deadline is not None and now >= deadline:
            self._book.close(order, "expired", deadline)
        elif order.status == "accepted":
            order.status, order.updated_at = "new", at

    def _settle_expired(self, now: datetime) -> None:
        for symbol, lot in list(self._book.lots.items()):
            option = lot.option
            if option is None or now < (close := expiry_instant(option.expiration)):
                continue
            spot = price_of(self._quotes.settlement_price(option.root, option.expiration))
            if not spot.is_finite() or spot < 0:
                raise ValueError(f"settlement price of {option.root} is not a price: {spot}")
            self._book.settle(symbol, spot, close)

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")

    def _order(self, order_id: str) -> Order:
        order = self._orders.get(order_id)
        if order is None:
            raise not_found("order")
        return order


def _close_qty(lot: Lot, qty: Number | None, percentage: Number | None) -> Decimal:
    """How much a DELETE /v2/positions/{symbol} sells: all, ``qty``, or ``percentage`` %."""
    whole = lot.option is not None
    if qty is not None and percentage is not None:
        raise invalid("give qty or percentage, not both")
    if qty is not None:
        amount = to_qty(qty, whole=whole)
    elif percentage is not None:
        share = to_number(percentage, "percentage")
        if not 0 < share <= 100:
            raise invalid("percentage must be within (0, 100]")
        places = Decimal(1) if whole else NINE_PLACES
        amount = tidy((lot.qty * share / 100).quantize(places, rounding=ROUND_DOWN))
        if amount <= 0:
            raise invalid(f"{share}% of {lot.qty} is less than one unit")
    else:
        amount = lot.qty
    if amount > lot.qty:
        raise forbidden(
            f"insufficient qty available for order (requested: {amount}, available: {lot.qty})"
        )
    return amount
