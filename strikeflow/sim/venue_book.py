"""The venue's ledger: cash, long lots, the open orders, and the activity log.

A ``Book`` holds no lock and asks no market: the Venue calls it under its own lock and
hands it the prices. Every change of cash goes through ``fill`` or ``settle``, and each is
recorded as an activity named as Alpaca names them (FILL, OPEXC, OPEXP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from strikeflow.domain.enums import Right
from strikeflow.domain.occ import OccSymbol
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue_orders import (
    STOCK_EXCHANGE,
    Order,
    Position,
    asset_id,
    price_of,
    stable_uuid,
    tidy,
)

ITM_THRESHOLD = Decimal("0.01")
NINE_PLACES = Decimal("1e-9")
_CLOSED_STAMP = {"canceled": "canceled_at", "expired": "expired_at", "rejected": "failed_at"}


@dataclass(slots=True)
class Lot:
    """A long holding: cost_basis is the cash paid for what is still held."""

    qty: Decimal
    cost_basis: Decimal
    multiplier: Decimal
    option: OccSymbol | None


@dataclass(slots=True)
class Working:
    """An open order and what the venue needs to work it."""

    order: Order
    ready_at: datetime
    reserve: Decimal  # per unit, for buys: the limit, or the ask at submission
    multiplier: Decimal
    option: OccSymbol | None


@lru_cache(maxsize=4096)
def rfc3339(moment: datetime) -> str:
    """Cached: a chain's snapshots share a handful of instants (the clock's now)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def round9(value: Decimal) -> Decimal:
    """Nine decimal places, for figures born of a division; huge values are left alone."""
    return value.quantize(NINE_PLACES) if value.adjusted() < 18 else value


class Book:
    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.lots: dict[str, Lot] = {}
        self.open: dict[str, Working] = {}
        self.activities: list[dict[str, Any]] = []
        self._reservations: dict[str, Decimal] = {}  # open buys: qty x reserve x multiplier
        self._reserved = Decimal(0)

    # -- what is free --------------------------------------------------------------------

    def reserved(self, excluding: str | None = None) -> Decimal:
        """Cash that open buy orders (but ``excluding``) would need at their reserve price.

        Kept as a running total: it is asked on every order and every account request.
        """
        return self._reserved - self._reservations.get(excluding or "", Decimal(0))

    def add(self, working: Working) -> None:
        """Start working an order; a buy reserves its cash until it closes."""
        order = working.order
        self.open[order.id] = working
        if order.side == "buy":
            reservation = order.qty * working.reserve * working.multiplier
            self._reservations[order.id] = reservation
            self._reserved += reservation

    def buying_power(self) -> Decimal:
        return tidy(self.cash - self.reserved())

    def selling(self, symbol: str) -> list[Order]:
        """Open sell orders of ``symbol``, in acceptance order."""
        return [
            w.order
            for w in self.open.values()
            if w.order.side == "sell" and w.order.symbol == symbol
        ]

    def held(self, symbol: str) -> Decimal:
        return sum((o.qty - o.filled_qty for o in self.selling(symbol)), Decimal(0))

    # -- changes -------------------------------------------------------------------------

    def fill(self, working: Working, price: Decimal, at: datetime) -> None:
        """Fill the whole order at ``price``, or reject it if cash or quantity fall short."""
        order = working.order
        qty = order.qty - order.filled_qty
        amount = tidy(price * qty * working.multiplier)
        lot = self.lots.get(order.symbol)
        if order.side == "buy":
            if amount > self.cash - self.reserved(excluding=order.id):
                self.close(order, "rejected", at)
                return
            if lot is None:
                lot = Lot(Decimal(0), Decimal(0), working.multiplier, working.option)
                self.lots[order.symbol] = lot
            self.cash = tidy(self.cash - amount)
            lot.qty, lot.cost_basis = lot.qty + qty, lot.cost_basis + amount
        else:
            if lot is None or lot.qty < qty:
                self.close(order, "rejected", at)
                return
            released = lot.cost_basis if qty == lot.qty else lot.cost_basis * qty / lot.qty
            self.cash = tidy(self.cash + amount)
            lot.qty, lot.cost_basis = lot.qty - qty, round9(lot.cost_basis - released)
            if lot.qty == 0:
                del self.lots[order.symbol]
        order.filled_qty, order.filled_avg_price, order.filled_at = order.qty, price, at
        self.close(order, "filled", at)
        net = amount if order.side == "sell" else -amount
        self.record("FILL", at, order.symbol, qty, price, net, order_id=order.id, side=order.side)

    def close(self, order: Order, status: str, at: datetime) -> None:
        """Move an order to a final status, stamped at ``at``, and stop working it."""
        order.status, order.updated_at = status, at
        if status in _CLOSED_STAMP:
            setattr(order, _CLOSED_STAMP[status], at)
        self.open.pop(order.id, None)
        self._reserved -= self._reservations.pop(order.id, Decimal(0))

    def settle(self, symbol: str, spot: Decimal, close: datetime) -> None:
        """Settle an expired option lot: intrinsic value in cash when ITM by $0.01 or more."""
        lot = self.lots.pop(symbol)
        option = lot.option
        if option is None:
            raise ValueError(f"{symbol} is not an option: nothing to settle")
        for working in list(self.open.values()):
            if working.order.symbol == symbol:
                self.close(working.order, "expired", close)
        gap = spot - option.strike if option.right is Right.CALL else option.strike - spot
        if gap >= ITM_THRESHOLD:
            amount = tidy(gap * lot.qty * lot.multiplier)
            self.cash = tidy(self.cash + amount)
            self.record("OPEXC", close, symbol, lot.qty, tidy(gap), amount, spot=spot)
        else:
            self.record("OPEXP", close, symbol, lot.qty, Decimal(0), Decimal(0), spot=spot)

    def record(
        self,
        kind: str,
        at: datetime,
        symbol: str,
        qty: Decimal,
        price: Decimal,
        net: Decimal,
        **more: Any,
    ) -> None:
        entry: dict[str, Any] = {
            "id": stable_uuid("activity", len(self.activities) + 1),
            "activity_type": kind,
            "transaction_time": rfc3339(at),
            "symbol": symbol,
            "qty": str(qty),
            "price": str(price),
            "net_amount": str(net),
        }
        entry.update({k: str(v) if isinstance(v, Decimal) else v for k, v in more.items()})
        self.activities.append(entry)

    # -- marks ---------------------------------------------------------------------------

    def mark(self, symbol: str, quote: Quote | None) -> tuple[Decimal, Decimal]:
        """(price, market value) of a lot at the quote's mid, or at cost with no usable quote.

        With only an ask the mid is ask / 2 (an empty bid is worth zero); with only a bid, the bid.
        """
        lot = self.lots[symbol]
        bid = price_of(quote.bid) if quote is not None else Decimal(0)
        ask = price_of(quote.ask) if quote is not None else Decimal(0)
        if ask > 0:
            price = (max(bid, Decimal(0)) + ask) / 2
        elif bid > 0:
            price = bid
        else:
            price = lot.cost_basis / (lot.qty * lot.multiplier)
        price = tidy(round9(price))
        return price, tidy(price * lot.qty * lot.multiplier)

    def position(self, symbol: str, quote: Quote | None) -> Position:
        lot = self.lots[symbol]
        price, value = self.mark(symbol, quote)
        basis = tidy(lot.cost_basis)
        pl = tidy(value - basis)
        return Position(
            asset_id=asset_id(symbol),
            symbol=symbol,
            exchange="" if lot.option is not None else STOCK_EXCHANGE,
            asset_class="us_equity" if lot.option is None else "us_option",
            avg_entry_price=tidy(round9(basis / (lot.qty * lot.multiplier))),
            qty=lot.qty,
            qty_available=lot.qty - self.held(symbol),
            side="long",
            cost_basis=basis,
            market_value=value,
            current_price=price,
            unrealized_pl=pl,
            unrealized_plpc=tidy(round9(pl / basis)) if basis else Decimal(0),
        )
