"""One paper account at the emulated venue: orders, fills, positions, expiry, and an audit trail.

The model, and every simplification it makes on purpose:

- A cash account, no margin and no shorting. ``buying_power`` is cash less what open buy
  orders reserve for their unfilled part (their limit price, or the ask at submission for
  a market order), and ``options_buying_power`` and ``non_marginable_buying_power`` equal
  it: long premium is paid from cash, so it lowers both. Selling more than is held is refused.
- Orders answer ``accepted``. A fill is tried at the first ``process(now)`` at least
  ``fill_delay_s`` after submission and at every one after it, against the quote at that
  instant: market buys take the ask, market sells the bid, a limit buy fills at
  min(limit, ask) once ask <= limit, a limit sell at max(limit, bid) once bid >= limit; a
  quote side at zero never fills. An order that does not fill at its first try becomes
  ``new``. Fills are tried in acceptance order.
- Partial fills, as Alpaca paper makes them at random: a fill that crosses is, with
  probability ``partial_fill_rate`` (default 0.1), a fill of part of what is left (10 % to
  90 % of it, whole shares or contracts, at least one unit left over), drawn from a hash of
  ``seed``, the order's content and the fill's number (``content_key``), so a run repeats
  whatever the order and timing of the calls. The order is ``partially_filled`` (``filled_qty`` and
  ``filled_avg_price``, a volume-weighted average, follow); the rest works on and is
  tried again at the next ``process``. Less than two units left always fill whole.
- Option limits resting strictly inside the spread (``venue_fills.InsideFills``): every
  whole second from the order's readiness, one seeded draw fills it at its limit with
  probability ``rate x fraction ** exponent`` (fraction: how far the limit has gone from the
  near side to the far side of that second's quote), through the partial-fill rule too.
  Seconds are judged once each, in order, before the crossing check of a ``process``; a
  rate of 0 leaves such a limit waiting for the quote to cross it. Stocks never.
- Cancel: an order the venue has not tried yet (``accepted``) is ``canceled`` at once; one it
  is working (``new`` or ``partially_filled``) is ``pending_cancel`` until the next
  ``process``, which cancels it (it fills no more meanwhile). A cancel of a
  ``pending_cancel`` order answers it again; of a closed order, 422.
- Replace (``PATCH /v2/orders/{id}``): a new order with a new id, whose ``replaces`` names
  the old one; the old one ends ``replaced`` with ``replaced_by``. ``qty`` is the new total:
  it must exceed what already filled, and the new order carries the old one's
  ``filled_qty`` and ``filled_avg_price`` and works the rest (its fills count on from
  there). Its buying power or quantity is checked as the old order's is released. Only open
  orders not pending cancel can be replaced (422 42210000 otherwise); ``pending_replace`` is
  not modelled (the replacement is immediate).
- Market hours (given ``tradable_from``, as the emulator does): an order sent while the
  market is closed, not flagged ``extended_hours``, is accepted and rests ``accepted``
  until the next open, where its first fill is tried, as Alpaca queues it; options
  included (they refuse ``extended_hours``). An ``extended_hours`` stock order is tried
  at once (extended sessions are not modelled). Without ``tradable_from``, hours are not
  enforced. ``day`` orders expire at the session close that follows their submission
  (``session_close``; by default 16:00 New York on the next weekday, holidays ignored),
  and when the clock jumps past that close the last try is priced at the close. A day
  order partly filled by then ends ``expired`` too, keeping its ``filled_qty`` (Alpaca's
  ``done_for_day`` is a state between sessions a day order never leaves here). A ``gtc``
  order still open when the market is closed (given ``tradable_from``) is
  ``done_for_day``: it is not tried until the next open, where it is ``new`` (or
  ``partially_filled``) again. Options orders also expire at their contract's
  expiration close.
- A buy whose fill would cost more cash than is free (a market order's price moved up)
  is ``rejected`` at fill time, so cash never goes negative.
- Expiration day (``venue_expiry``): opening orders in contracts expiring today are refused
  from 15:15 New York (15:30 for broad-based ETFs); from 15:30 (15:45) expiring long
  positions in the money whose exercise the account could not carry are liquidated by a
  market sell with a venue-made client_order_id.
- Expiry: at 16:00 New York on an option's expiration date, against ``settlement_price`` of
  the underlying, a position in the money by $0.01 or more is exercised with physical
  delivery: a call buys qty x 100 shares at the strike, a put sells them (OPEXC paired
  with OPTRD). Contracts the account cannot deliver for (a call beyond the free cash, a
  put beyond the free shares: what the liquidation did not sell) are settled in cash at
  intrinsic value (OPCSH) rather than leave a cash account short or overdrawn. The rest
  expire worthless (OPEXP). Alpaca delivers by about 18:00; here it is at the close.
- ``exercise(symbol)``: a held long contract exercised early, with the same delivery; only
  while the market is open (given ``tradable_from``), and only contracts no open sell holds.
- Positions are marked at the quote's mid, or at cost when there is no usable quote. Their
  day figures (``lastday_price``, the intraday P&L) and the account's ``last_equity`` count
  from the previous session's close, rebuilt from the activity log (``venue_day``).

Refusals raise ``VenueError`` with Alpaca's status, code and message (see venue_orders).
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from strikeflow.domain.enums import Right
from strikeflow.domain.expiry import NEW_YORK, expiry_instant, require_aware
from strikeflow.sim import venue_activities
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue_book import (
    NINE_PLACES,
    Book,
    Lot,
    Working,
    mid,
    rfc3339,
    round9,
    underlying_of,
)
from strikeflow.sim.venue_day import Day, day_start, fold, held_then
from strikeflow.sim.venue_expiry import (
    check_opening_order,
    in_the_money,
    liquidation_time,
    settle_expired,
)
from strikeflow.sim.venue_fills import InsideFills, inside_fill_second, partial_qty
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
DEFAULT_PARTIAL_FILL_RATE = 0.1

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
        partial_fill_rate: float = DEFAULT_PARTIAL_FILL_RATE,
        inside_fills: InsideFills | None = None,
        seed: int = 0,
    ) -> None:
        if not fill_delay_s >= 0:
            raise ValueError(f"fill_delay_s must be >= 0, got {fill_delay_s}")
        if not 0 <= partial_fill_rate <= 1:
            raise ValueError(f"partial_fill_rate must be within 0..1, got {partial_fill_rate}")
        self._partial_rate = partial_fill_rate
        self._inside = InsideFills() if inside_fills is None else inside_fills
        self._seed = seed
        self._quotes = quotes
        self._clock = clock
        self._session_close = session_close
        self._tradable_from = tradable_from
        self._delay = timedelta(seconds=fill_delay_s)
        self._level = options_approved_level
        self._book = Book(to_number(cash, "cash"), ACCOUNT_ID)
        self._created_at = self._now()
        self._lock = threading.Lock()
        self._orders: dict[str, Order] = {}  # in acceptance order
        self._by_cid: dict[str, str] = {}
        self._audit: list[dict[str, Any]] = []
        self._generated_cids = 0
        self._pending: list[tuple[datetime, int, str]] = []  # (ready_at, seq, id): a heap
        self._ready: dict[str, Working] = {}  # past their delay, tried at every process
        self._cancelling: dict[str, Order] = {}  # pending_cancel, canceled at the next process
        self._fills: dict[str, int] = {}  # fills per order: the partial-fill draw's counter
        # What each order's seeded draws are keyed by (``content_key``, then its rank among
        # orders of the same content), and how many of each content were submitted.
        self._draw_keys: dict[str, str] = {}
        self._same_content: Counter[str] = Counter()
        self._liquidation_checked: set[str] = set()
        self._processed_to: datetime | None = None

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
        """Cancel an open order: at once if not yet tried, else ``pending_cancel`` until the
        next process; a closed one is 422 ``order is already in "x" state``."""
        with self._lock:
            order = self._order(order_id)
            if not order.is_open:
                raise unprocessable(f'order is already in "{order.status}" state')
            self._cancel(order, self._now())
            return dataclasses.replace(order)

    def cancel_all(self) -> list[tuple[str, int]]:
        """Cancel every open order: (order id, HTTP status 200) each, in acceptance order."""
        with self._lock:
            now = self._now()
            working = list(self._book.open.values())
            for w in working:
                self._cancel(w.order, now)
            return [(w.order.id, 200) for w in working]

    def replace(
        self,
        order_id: str,
        qty: Number | None = None,
        limit_price: Number | None = None,
        time_in_force: str | None = None,
        client_order_id: str | None = None,
    ) -> Order:
        """Replace an open order by a new one (see the module's model); the new order."""
        with self._lock:
            return dataclasses.replace(
                self._replace(order_id, qty, limit_price, time_in_force, client_order_id)
            )

    def audit(self) -> list[dict[str, Any]]:
        """Every order ever accepted, once each, in acceptance order (JSON-ready values)."""
        with self._lock:
            return [dict(entry) for entry in self._audit]

    def activities(self) -> list[dict[str, Any]]:
        """Every activity in the order it happened: FILL, OPEXC with OPTRD, OPCSH, OPEXP."""
        with self._lock:
            return [dict(entry.body) for entry in self._book.log]

    def account_activities(
        self,
        activity_types: Iterable[str] | None = None,
        on: date | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> list[dict[str, Any]]:
        """GET /v2/account/activities: Alpaca's query over the log (``venue_activities``)."""
        kinds = None if activity_types is None else frozenset(activity_types)
        with self._lock:
            return venue_activities.select(
                self._book.log, kinds=kinds, on=on, after=after, until=until,
                direction=direction, page_size=page_size, page_token=page_token,
            )  # fmt: skip

    # -- account and positions ---------------------------------------------------------

    def account(self) -> Account:
        with self._lock:
            book, now = self._book, self._now()
            long_value = sum(
                (book.mark(s, self._quotes.quote(s, now))[1] for s in book.lots), Decimal(0)
            )
            power, equity, zero = book.buying_power(), tidy(book.cash + long_value), Decimal(0)
            since = day_start(now)
            last_equity = self._equity_at(since)
            as_of = (since or self._created_at).astimezone(NEW_YORK).date()
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
                daytrade_count=0, created_at=self._created_at, effective_buying_power=power,
                last_equity=last_equity, position_market_value=tidy(long_value),
                balance_asof=as_of,
            )  # fmt: skip

    def positions(self) -> list[Position]:
        """Every position, in the order it was opened."""
        with self._lock:
            day = self._day()
            return [self._position(s, *day) for s in self._book.lots]

    def position(self, symbol: str) -> Position:
        with self._lock:
            if symbol not in self._book.lots:
                raise not_found("position")
            return self._position(symbol, *self._day())

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

    def exercise(self, symbol: str) -> None:
        """Exercise a held long option early with physical delivery (every contract no open
        sell holds). 404 without the position; 422 for a stock or outside market hours;
        403 when the account cannot pay for the shares (call) or deliver them (put)."""
        with self._lock:
            now = self._now()
            lot = self._book.lots.get(symbol)
            if lot is None:
                raise not_found("position")
            option = lot.option
            if option is None:
                raise invalid(f"{symbol} is not an option contract: nothing to exercise")
            if self._tradable_from is not None and self._tradable_from(now) > now:
                raise unprocessable("exercise requests are not accepted outside market hours")
            contracts = lot.qty - self._book.held(symbol)
            if contracts <= 0:
                raise forbidden(f"insufficient qty available for exercise of {symbol}")
            if self._book.affordable(symbol) < contracts:
                if option.right is Right.CALL:
                    raise forbidden(f"insufficient buying power to exercise {symbol}")
                stock = underlying_of(option)
                raise forbidden(f"insufficient qty of {stock} to deliver on exercise of {symbol}")
            self._book.exercise(symbol, contracts, now, "exercise requested")

    # -- time -------------------------------------------------------------------------

    def process(self, now: datetime | None = None) -> None:
        """Bring the venue up to ``now``: end pending cancels, liquidate what expiration day
        requires, try fills, expire day orders, settle expiries."""
        with self._lock:
            moment = require_aware(self._now() if now is None else now)
            for order in list(self._cancelling.values()):
                if order.status == "pending_cancel":
                    self._book.close(order, "canceled", max(moment, order.updated_at))
            self._cancelling.clear()
            self._work_ready(moment, self._ready_by(moment))
            liquidations = self._liquidate_at_risk(moment)
            if liquidations:  # sent on the way to ``moment``: worked in this call too
                self._work_ready(moment, self._ready_by(moment) & liquidations)
            settle_expired(self._book, self._quotes.settlement_price, moment)
            self._processed_to = max(moment, self._processed_to or moment)

    # -- under the lock ---------------------------------------------------------------------

    def _ready_by(self, moment: datetime) -> set[str]:
        """Move the orders whose delay has passed to the ready set; all the ready ids."""
        while self._pending and self._pending[0][0] <= moment:
            order_id = heapq.heappop(self._pending)[2]
            if order_id in self._book.open:
                self._ready[order_id] = self._book.open[order_id]
        return set(self._ready)

    def _work_ready(self, moment: datetime, chosen: set[str]) -> None:
        """One fill attempt for each ready order in ``chosen``, in acceptance order."""
        for order_id, working in list(self._ready.items()):
            if order_id not in chosen:
                continue
            if order_id in self._book.open:
                self._work(working, moment)
            if order_id not in self._book.open:
                del self._ready[order_id]

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
            check_opening_order(ticket.option, ticket.side, now)
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

    def _accept(
        self, ticket: OrderTicket, now: datetime, reserve: Decimal, replaces: Order | None = None
    ) -> Order:
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
        if replaces is not None:  # the new total carries what the old order filled
            order.replaces = replaces.id
            order.filled_qty, order.filled_avg_price = (
                replaces.filled_qty,
                replaces.filled_avg_price,
            )
            order.filled_at = replaces.filled_at
        self._orders[order.id] = order
        self._by_cid[cid] = order.id
        content = content_key(order)
        self._draw_keys[order.id] = f"{content}|{self._same_content[content]}"
        self._same_content[content] += 1
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
                # when it arrived by the wall clock, whatever the simulated one says: what
                # a latency measurement compares with the moment its signal was sent
                "received_at": datetime.now(UTC).isoformat(),
            }
        )
        if replaces is not None:
            self._audit[-1]["replaces"] = replaces.id
        return order

    def _cancel(self, order: Order, now: datetime) -> None:
        if order.status == "accepted":
            self._book.close(order, "canceled", now)
        elif order.status != "pending_cancel":
            order.status, order.updated_at = "pending_cancel", now
            self._cancelling[order.id] = order

    def _replace(
        self,
        order_id: str,
        qty: object,
        limit_price: object,
        time_in_force: object,
        client_order_id: object,
    ) -> Order:
        now = self._now()
        old = self._order(order_id)
        if not old.is_open or old.status == "pending_cancel":
            raise unprocessable(f'order is already in "{old.status}" state: cannot be replaced')
        if qty is None and limit_price is None and time_in_force is None and not client_order_id:
            raise invalid("give qty, limit_price, time_in_force or client_order_id to replace")
        cid = check_client_order_id(client_order_id)
        if cid is not None and cid in self._by_cid:
            raise duplicate()
        if limit_price is not None and old.type == "market":
            raise invalid("limit_price cannot be set on a market order")
        ticket = make_ticket(
            old.symbol, old.qty if qty is None else qty, old.side, old.type,
            old.time_in_force if time_in_force is None else time_in_force,
            old.limit_price if limit_price is None else limit_price,
            cid, old.position_intent, old.extended_hours,
        )  # fmt: skip
        if ticket.qty <= old.filled_qty:
            raise invalid(f"qty must be greater than the filled qty {old.filled_qty}")
        leaves = ticket.qty - old.filled_qty
        reserve = Decimal(0)
        if ticket.option is not None:
            check_opening_order(ticket.option, ticket.side, now)
        if ticket.side == "buy":
            reserve = self._replacement_reserve(ticket, old, leaves, now)
        else:
            lot = self._book.lots.get(ticket.symbol)
            available = (lot.qty if lot else Decimal(0)) - self._book.held(ticket.symbol)
            available += old.qty - old.filled_qty
            if leaves > available:
                raise forbidden(
                    f"insufficient qty available for order (requested: {leaves}, "
                    f"available: {available})"
                )
        self._ready.pop(old.id, None)
        self._cancelling.pop(old.id, None)
        self._book.close(old, "replaced", now)
        new = self._accept(ticket, now, reserve, replaces=old)
        old.replaced_by = new.id
        return new

    def _replacement_reserve(
        self, ticket: OrderTicket, old: Order, leaves: Decimal, now: datetime
    ) -> Decimal:
        """The per-unit reserve of a replacing buy; 403 when the free cash, counting what
        the old order reserved, cannot pay for what is left to fill."""
        if ticket.limit_price is not None:
            reserve = ticket.limit_price
        else:
            quote = self._quotes.quote(ticket.symbol, now)
            reserve = price_of(quote.ask) if quote is not None else Decimal(0)
            if reserve <= 0:
                raise unprocessable(f"no ask quoted for {ticket.symbol}: send a limit order")
        cost = tidy(reserve * leaves * ticket.multiplier)
        power = tidy(self._book.cash - self._book.reserved(excluding=old.id))
        if cost > power:
            extra = {"buying_power": str(power), "cost_basis": str(cost)}
            raise forbidden("insufficient buying power", extra)
        return reserve

    def _generate_cid(self) -> str:
        while True:
            self._generated_cids += 1
            cid = stable_uuid("client-order", self._generated_cids)
            if cid not in self._by_cid:
                return cid

    def _work(self, working: Working, now: datetime) -> None:
        """One fill attempt; past its close, the attempt is priced at the close, then expiry."""
        order = working.order
        if now < working.ready_at or order.status == "pending_cancel":
            return
        if self._between_sessions(order, now):
            return
        deadline = order.expires_at
        if deadline is not None and working.ready_at >= deadline:
            self._book.close(order, "expired", deadline)
            return
        at = now if deadline is None else min(now, deadline)
        self._fill_inside(working, at)
        if order.id not in self._book.open:
            return
        quote = self._quotes.quote(order.symbol, at)
        price = None
        if quote is not None:
            price = fill_price(order, price_of(quote.bid), price_of(quote.ask))
        if price is not None:
            self._book.fill(working, price, at, self._fill_qty(working))
        elif deadline is not None and now >= deadline:
            self._book.close(order, "expired", deadline)
        elif order.status == "accepted":
            order.status = "partially_filled" if order.filled_qty else "new"
            order.updated_at = at

    def _fill_inside(self, working: Working, at: datetime) -> None:
        """Fills of a resting option limit strictly inside the spread (``InsideFills``), at
        its limit, in the whole seconds from the last ones judged (or from its readiness) to
        ``at``; each second judged once, whatever the calls, so a run repeats."""
        order = working.order
        if working.option is None or order.limit_price is None or not self._inside.on:
            return
        first = working.inside_from
        if first is None:
            first = math.ceil(working.ready_at.timestamp())
        last = math.floor(at.timestamp())
        working.inside_from = max(first, last + 1)

        def quote_at(second: int) -> tuple[Decimal, Decimal] | None:
            quote = self._quotes.quote(order.symbol, datetime.fromtimestamp(second, UTC))
            return None if quote is None else (price_of(quote.bid), price_of(quote.ask))

        while first <= last and order.id in self._book.open:
            second = inside_fill_second(
                self._inside, self._seed, self._draw_keys[order.id], order.side, order.limit_price,
                first, last, quote_at,
            )  # fmt: skip
            if second is None:
                return
            moment = datetime.fromtimestamp(second, UTC)
            self._book.fill(working, order.limit_price, moment, self._fill_qty(working))
            first = second + 1

    def _between_sessions(self, order: Order, now: datetime) -> bool:
        """A ``gtc`` order rests ``done_for_day`` while the market is closed, and is worked
        as before from the next open."""
        if order.time_in_force != "gtc" or self._tradable_from is None:
            return False
        if self._tradable_from(now) > now:
            if order.status != "done_for_day":
                order.status, order.updated_at = "done_for_day", now
            return True
        if order.status == "done_for_day":
            order.status = "partially_filled" if order.filled_qty else "new"
            order.updated_at = now
        return False

    def _fill_qty(self, working: Working) -> Decimal | None:
        """What this fill takes: None (all that is left), or a seeded part of it."""
        order = working.order
        n = self._fills.get(order.id, 0) + 1
        self._fills[order.id] = n
        leaves = order.qty - order.filled_qty
        return partial_qty(self._seed, self._partial_rate, self._draw_keys[order.id], n, leaves)

    def _liquidate_at_risk(self, now: datetime) -> set[str]:
        """From the liquidation time of expiration day, sell each expiring long position in
        the money that the account could not exercise (``venue_expiry``); once per lot.
        The ids of the orders sent."""
        book, sent = self._book, set()
        for symbol, lot in list(book.lots.items()):
            option = lot.option
            if option is None or symbol in self._liquidation_checked:
                continue
            start = liquidation_time(option)
            if now < start:
                continue
            self._liquidation_checked.add(symbol)
            at = max(start, self._processed_to or start)
            if at >= expiry_instant(option.expiration):
                continue
            if not in_the_money(option, self._quotes.quote(underlying_of(option), at)):
                continue
            excess = lot.qty - book.affordable(symbol)
            if excess <= 0:
                continue
            book.close_orders_on(symbol, "canceled", at)
            ticket = make_ticket(
                symbol, excess, "sell", "market", "day", None, None, "sell_to_close", False
            )
            sent.add(self._accept(ticket, at, Decimal(0)).id)
            self._audit[-1]["liquidation"] = True
        return sent

    def _now(self) -> datetime:
        return require_aware(self._clock(), "clock()")

    def _day(self) -> tuple[datetime, datetime | None, Day]:
        """(now, the previous close, the activities since it)."""
        now = self._now()
        since = day_start(now)
        return now, since, fold(self._book.log, since, self._book.multiplier)

    def _position(self, symbol: str, now: datetime, since: datetime | None, day: Day) -> Position:
        lastday = None if since is None else self._quotes.quote(symbol, since)
        quote = self._quotes.quote(symbol, now)
        return self._book.position(symbol, quote, lastday, day.moves.get(symbol))

    def _equity_at(self, since: datetime | None) -> Decimal:
        """The account's equity at the close ``since``: today's cash and holdings with the
        day's activities undone, each holding marked at that close (``venue_day``)."""
        book = self._book
        day = fold(book.log, since, book.multiplier)
        equity = book.cash - day.cash
        for symbol in dict.fromkeys([*book.lots, *day.moves]):
            lot = book.lots.get(symbol)
            qty = held_then(lot.qty if lot is not None else Decimal(0), day.moves.get(symbol))
            if qty <= 0 or since is None:
                continue
            price = mid(self._quotes.quote(symbol, since))
            if price is None:  # no quote at that close: its cost, as a position is marked
                price = lot.cost_basis / (lot.qty * lot.multiplier) if lot else Decimal(0)
            equity += price * qty * book.multiplier.get(symbol, Decimal(1))
        return tidy(round9(equity))

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


def content_key(order: Order) -> str:
    """What an order's seeded draws (partial fills, fills inside the spread) are keyed
    by, with its rank among orders of the same content: what it asks (symbol, side,
    quantity) and when it was submitted, never an id. The venue's order id counts
    arrivals, and a client's id may count its own records (a close is named after its
    entry's row): two orders sent at once take either, and a run would not repeat."""
    return f"{order.symbol}|{order.side}|{order.qty}|{order.submitted_at.isoformat()}"
