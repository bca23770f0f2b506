"""An in-process broker that fills at the quote: for dry runs, and as the fallback when
the real broker is down or refuses (see ``fallback``).

Fills are immediate and whole, at the ask for a buy and the bid for a sell, from the
latest quote the MarketData port gives; a limit that does not reach the quote rests,
unfilled. When no quote can be read at all (the venue is down for data too), a limit
order fills at its limit and says so; a market order cannot be simulated then.

Order ids are uuid5 of the client_order_id, and a second submit of the same id returns
the first order, so retries behave exactly as at the real venue. Every order it makes
says ``execution_mode=SIMULATED`` and why, so none is mistaken for a real fill.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from strikeflow.domain.enums import (
    Action,
    BrokerName,
    ExecutionMode,
    ExecutionStatus,
    InstrumentType,
    OrderType,
    PositionEffect,
)
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected
from strikeflow.domain.orders import (
    AccountSnapshot,
    BrokerOrder,
    OrderIntent,
    OrderNotReplaceable,
    PositionSnapshot,
    instrument_of,
)
from strikeflow.domain.sizing import OPTION_MULTIPLIER
from strikeflow.domain.venue_activity import VenueActivity
from strikeflow.services.ports import MarketData

ORDER_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://strikeflow/simulated-broker/orders")
ACCOUNT_ID = str(uuid.uuid5(ORDER_NAMESPACE, "account"))


def simulated_order_id(client_order_id: str) -> str:
    return str(uuid.uuid5(ORDER_NAMESPACE, client_order_id))


class SimulatedBroker:
    def __init__(
        self,
        market_data: MarketData,
        cash: Decimal = Decimal(100_000),
        reason: str = "dry run",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._market = market_data
        self._now = now
        self._cash = Decimal(cash)
        self._reason = reason
        self._orders: dict[str, BrokerOrder] = {}  # by client_order_id
        self._positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (qty, avg price)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SimulatedBroker(orders={len(self._orders)}, reason={self._reason!r})"

    # -- Broker port ---------------------------------------------------------------------

    def account(self) -> AccountSnapshot:
        with self._lock:
            held = sum(
                (q * p * _multiplier(s) for s, (q, p) in self._positions.items()), Decimal(0)
            )
            return AccountSnapshot(
                account_id=ACCOUNT_ID,
                status="ACTIVE",
                cash=self._cash,
                buying_power=self._cash,
                options_buying_power=self._cash,
                equity=self._cash + held,
                options_level=2,
            )

    def positions(self) -> list[PositionSnapshot]:
        with self._lock:
            return [PositionSnapshot(s, q, p) for s, (q, p) in sorted(self._positions.items())]

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        with self._lock:
            return self._orders.get(client_order_id)

    def account_activities(
        self, after: datetime | None, types: Sequence[str]
    ) -> list[VenueActivity]:
        """None: in-process fills are whole and immediate, and nothing here expires,
        is exercised or liquidated on its own."""
        return []

    def submit(self, intent: OrderIntent, reason: str | None = None) -> BrokerOrder:
        with self._lock:
            known = self._orders.get(intent.client_order_id)
            if known is not None:
                return known
        reason = reason or self._reason
        try:
            bid, ask, at = self._quote(intent)
        except BrokerUnavailable:
            if intent.limit_price is None:
                raise
            # No market to read (the venue is down for data too): a limit order still
            # names its price, so it fills there, and says so.
            bid = ask = intent.limit_price
            at = self._now()
            reason = f"{reason}; no quote available, filled at the limit price"
        with self._lock:
            known = self._orders.get(intent.client_order_id)
            if known is not None:  # another thread placed it while we read the quote
                return known
            order = self._execute(intent, bid, ask, at, reason)
            self._orders[intent.client_order_id] = order
            return order

    def cancel_order(self, order_id: str) -> BrokerOrder:
        """Cancel a resting order (``OrderCancelling``): at once, since nothing here is
        ever half-way through a fill; an order already closed is refused with the
        venue's 422, as Alpaca refuses it."""
        with self._lock:
            found = [o for o in self._orders.values() if o.id == order_id]
            if not found:
                raise OrderRejected("simulated cancel", 404, 40410000, "order not found")
            order = found[0]
            if not order.is_open:
                message = f'order is already in "{order.broker_status}" state'
                raise OrderRejected("simulated cancel", 422, 42210000, message)
            canceled = replace(order, status=ExecutionStatus.CANCELED, broker_status="canceled")
            self._orders[order.client_order_id] = canceled
            return canceled

    def replace_order(
        self, order_id: str, qty: Decimal, limit_price: Decimal, client_order_id: str
    ) -> BrokerOrder:
        """Replace a resting limit order (``OrderReplacing``): a new order under
        ``client_order_id``, filled at once when its limit reaches the quote, the old one
        ``replaced``; a closed order is refused with the venue's 422, as Alpaca refuses
        it. A second call with the same ``client_order_id`` returns the first's order."""
        with self._lock:
            known = self._orders.get(client_order_id)
            if known is not None:
                return known
            found = [o for o in self._orders.values() if o.id == order_id]
            if not found:
                raise OrderRejected("simulated replace", 404, 40410000, "order not found")
            old = found[0]
            if not old.is_open:
                message = f'order is already in "{old.broker_status}" state: cannot be replaced'
                raise OrderNotReplaceable("simulated replace", 422, 42210000, message)
            effect = PositionEffect.CLOSE if "to_close" in (old.position_intent or "") else None
            intent = OrderIntent(
                client_order_id,
                old.symbol,
                old.side,
                qty,
                OrderType.LIMIT,
                limit_price,
                effect or PositionEffect.OPEN,
            )
            bid, ask, at = self._quote(intent)
            new = replace(self._execute(intent, bid, ask, at, self._reason), replaces=old.id)
            self._orders[client_order_id] = new
            self._orders[old.client_order_id] = replace(
                old, status=ExecutionStatus.REPLACED, broker_status="replaced", replaced_by=new.id
            )
            return new

    # -- fills -----------------------------------------------------------------------------

    def _quote(self, intent: OrderIntent):
        symbol = intent.symbol
        if intent.is_option:
            quote = self._market.option_snapshots([symbol]).get(symbol)
        else:
            quote = self._market.stock_quote(symbol)
        if quote is None:
            raise OrderRejected("simulated submit", None, None, f"no quote for {symbol}")
        return quote.bid, quote.ask, quote.time

    def _execute(self, intent: OrderIntent, bid, ask, at, reason: str) -> BrokerOrder:
        buying = intent.side is Action.BUY
        price = ask if buying else bid
        if price <= 0:
            side = "ask" if buying else "bid"
            raise OrderRejected("simulated submit", None, None, f"no {side} for {intent.symbol}")
        limit = intent.limit_price
        fills = intent.order_type is OrderType.MARKET or (
            limit >= price if buying else limit <= price
        )
        order = intent.as_order(
            id=simulated_order_id(intent.client_order_id),
            status=ExecutionStatus.ACCEPTED,
            broker_status="accepted",
            broker=BrokerName.SIMULATED,
            execution_mode=ExecutionMode.SIMULATED,
            submitted_at=at,
            simulated_reason=reason,
        )
        if not fills:
            return order
        self._book(intent, price)
        return replace(
            order,
            status=ExecutionStatus.FILLED,
            broker_status="filled",
            filled_qty=intent.qty,
            filled_avg_price=price,
            filled_at=at,
        )

    def _book(self, intent: OrderIntent, price: Decimal) -> None:
        """Cash and the position; refuses what the account cannot pay for or does not hold."""
        held, avg = self._positions.get(intent.symbol, (Decimal(0), Decimal(0)))
        amount = price * intent.qty * _multiplier(intent.symbol)
        if intent.side is Action.BUY:
            if amount > self._cash:
                raise OrderRejected("simulated submit", 403, 40310000, "insufficient buying power")
            self._cash -= amount
            total = held + intent.qty
            self._positions[intent.symbol] = (total, (held * avg + intent.qty * price) / total)
            return
        if intent.qty > held:
            raise OrderRejected("simulated submit", 403, 40310000, "insufficient qty available")
        self._cash += amount
        left = held - intent.qty
        if left:
            self._positions[intent.symbol] = (left, avg)
        else:
            del self._positions[intent.symbol]


def _multiplier(symbol: str) -> int:
    return 1 if instrument_of(symbol) is InstrumentType.STOCK else OPTION_MULTIPLIER
