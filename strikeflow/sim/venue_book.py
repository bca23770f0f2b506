"""The venue's ledger: cash, long lots, the open orders, and the activity log.

A ``Book`` holds no lock and asks no market: the Venue calls it under its own lock and
hands it the prices. Every change of cash goes through ``fill``, ``exercise`` or
``cash_settle``, and each is recorded as an activity named as Alpaca names them (FILL;
OPEXC paired with OPTRD; OPCSH; OPEXP), in Alpaca's shapes (``venue_activities``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from strikeflow.domain.enums import Right
from strikeflow.domain.occ import OccSymbol
from strikeflow.sim import venue_activities as acts
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue_day import DayMoves, intraday_basis
from strikeflow.sim.venue_orders import (
    STOCK_EXCHANGE,
    Order,
    Position,
    asset_id,
    price_of,
    rfc3339,
    tidy,
)

ITM_THRESHOLD = Decimal("0.01")
NINE_PLACES = Decimal("1e-9")
_CLOSED_STAMP = {
    "canceled": "canceled_at",
    "expired": "expired_at",
    "rejected": "failed_at",
    "replaced": "replaced_at",
}
__all__ = ["NINE_PLACES", "Book", "Lot", "Working", "mid", "rfc3339", "round9", "underlying_of"]


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
    inside_from: int | None = None  # the next second (Unix) the inside-spread model draws


def underlying_of(option: OccSymbol) -> str:
    """The stock an option delivers: its root without an adjusted series' digit (NVDA1)."""
    return option.root.rstrip("0123456789")


def round9(value: Decimal) -> Decimal:
    """Nine decimal places, for figures born of a division; huge values are left alone."""
    return value.quantize(NINE_PLACES) if value.adjusted() < 18 else value


class Book:
    def __init__(self, cash: Decimal, account_id: str) -> None:
        self.cash = cash
        self.account_id = account_id
        self.lots: dict[str, Lot] = {}
        self.open: dict[str, Working] = {}
        self.log: list[acts.Entry] = []
        self.multiplier: dict[str, Decimal] = {}  # of every symbol ever filled: the day's cash
        self._reservations: dict[str, Decimal] = {}  # open buys: leaves x reserve x multiplier
        self._reserved = Decimal(0)

    # -- what is free --------------------------------------------------------------------

    def reserved(self, excluding: str | None = None) -> Decimal:
        """Cash that open buy orders (but ``excluding``) would need at their reserve price.

        Kept as a running total: it is asked on every order and every account request.
        """
        return self._reserved - self._reservations.get(excluding or "", Decimal(0))

    def add(self, working: Working) -> None:
        """Start working an order; a buy reserves the cash its unfilled part needs."""
        order = working.order
        self.open[order.id] = working
        if order.side == "buy":
            leaves = order.qty - order.filled_qty
            reservation = leaves * working.reserve * working.multiplier
            self._reservations[order.id] = reservation
            self._reserved += reservation

    def buying_power(self) -> Decimal:
        return tidy(self.cash - self.reserved())

    def free_cash(self) -> Decimal:
        return self.cash - self.reserved()

    def selling(self, symbol: str) -> list[Order]:
        """Open sell orders of ``symbol``, in acceptance order."""
        return [
            w.order
            for w in self.open.values()
            if w.order.side == "sell" and w.order.symbol == symbol
        ]

    def held(self, symbol: str) -> Decimal:
        return sum((o.qty - o.filled_qty for o in self.selling(symbol)), Decimal(0))

    def shares_free(self, symbol: str) -> Decimal:
        """Shares of ``symbol`` held and not offered by an open sell."""
        lot = self.lots.get(symbol)
        return (lot.qty if lot is not None else Decimal(0)) - self.held(symbol)

    # -- changes -------------------------------------------------------------------------

    def fill(
        self, working: Working, price: Decimal, at: datetime, qty: Decimal | None = None
    ) -> None:
        """Fill ``qty`` (default: all that is left) at ``price``, or reject the order if cash
        or quantity fall short. A fill of part leaves the order ``partially_filled``."""
        order = working.order
        leaves = order.qty - order.filled_qty
        qty = leaves if qty is None else qty
        amount = tidy(price * qty * working.multiplier)
        lot = self.lots.get(order.symbol)
        self.multiplier[order.symbol] = working.multiplier
        if order.side == "buy":
            if amount > self.cash - self.reserved(excluding=order.id):
                self.close(order, "rejected", at)
                return
            if lot is None:
                lot = Lot(Decimal(0), Decimal(0), working.multiplier, working.option)
                self.lots[order.symbol] = lot
            self.cash = tidy(self.cash - amount)
            lot.qty, lot.cost_basis = lot.qty + qty, lot.cost_basis + amount
            released = qty * working.reserve * working.multiplier
            self._reservations[order.id] = self._reservations.get(order.id, Decimal(0)) - released
            self._reserved -= released
        else:
            if lot is None or lot.qty < qty:
                self.close(order, "rejected", at)
                return
            self._take(order.symbol, lot, qty)
            self.cash = tidy(self.cash + amount)
        before = order.filled_qty
        order.filled_qty = before + qty
        paid = (order.filled_avg_price or Decimal(0)) * before + price * qty
        order.filled_avg_price = tidy(round9(paid / order.filled_qty))
        order.filled_at = at
        if order.filled_qty == order.qty:
            self.close(order, "filled", at)
        else:
            order.status, order.updated_at = "partially_filled", at
        self.log.append(acts.fill(len(self.log) + 1, self.account_id, at, order, qty, price))

    def close(self, order: Order, status: str, at: datetime) -> None:
        """Move an order to a final status, stamped at ``at``, and stop working it."""
        order.status, order.updated_at = status, at
        if status in _CLOSED_STAMP:
            setattr(order, _CLOSED_STAMP[status], at)
        self.open.pop(order.id, None)
        self._reserved -= self._reservations.pop(order.id, Decimal(0))

    def close_orders_on(self, symbol: str, status: str, at: datetime) -> None:
        for working in list(self.open.values()):
            if working.order.symbol == symbol:
                self.close(working.order, status, at)

    def exercise(self, symbol: str, contracts: Decimal, at: datetime, why: str) -> None:
        """Exercise ``contracts`` of a long option lot with physical delivery.

        A call buys contracts x multiplier shares of the underlying at the strike, a put
        sells them at the strike; the shares' cost basis is the strike (the premium paid for
        the contract is spent). Recorded as OPEXC paired with the OPTRD of the shares.
        The caller checks that the account can pay for them or deliver them.
        """
        lot = self.lots[symbol]
        option = lot.option
        if option is None:
            raise ValueError(f"{symbol} is not an option: nothing to exercise")
        stock = underlying_of(option)
        shares = contracts * lot.multiplier
        amount = tidy(option.strike * shares)
        self._take(symbol, lot, contracts)
        if option.right is Right.CALL:
            if amount > self.cash:
                raise ValueError(f"exercise of {symbol} needs {amount}, cash is {self.cash}")
            held = self.lots.setdefault(stock, Lot(Decimal(0), Decimal(0), Decimal(1), None))
            held.qty, held.cost_basis = held.qty + shares, held.cost_basis + amount
            self.cash, net, verb = tidy(self.cash - amount), -amount, "bought"
        else:
            self._take(stock, self.lots[stock], shares)
            self.cash, net, verb = tidy(self.cash + amount), amount, "sold"
        self._note("OPEXC", at, symbol, contracts, Decimal(0), f"{why}: {symbol} exercised")
        self._note(
            "OPTRD", at, stock, shares, net,
            f"{verb} {shares} {stock} at {option.strike} on exercise of {symbol}",
            price=option.strike,
        )  # fmt: skip

    def cash_settle(self, symbol: str, contracts: Decimal, gap: Decimal, at: datetime) -> None:
        """Close ``contracts`` in the money for their intrinsic value in cash (OPCSH)."""
        lot = self.lots[symbol]
        amount = tidy(gap * contracts * lot.multiplier)
        self._take(symbol, lot, contracts)
        self.cash = tidy(self.cash + amount)
        text = f"{symbol} settled in cash at intrinsic value {gap}: no cash or shares to deliver"
        self._note("OPCSH", at, symbol, contracts, amount, text, price=gap)

    def expire(self, symbol: str, at: datetime) -> None:
        """An out-of-the-money lot expires worthless (OPEXP)."""
        lot = self.lots[symbol]
        qty = lot.qty
        self._take(symbol, lot, qty)
        self._note("OPEXP", at, symbol, qty, Decimal(0), f"{symbol} expired worthless")

    def _take(self, symbol: str, lot: Lot, qty: Decimal) -> None:
        """Remove ``qty`` from a lot, releasing its share of the cost basis."""
        if qty > lot.qty:
            raise ValueError(f"cannot take {qty} of {symbol}: {lot.qty} held")
        released = lot.cost_basis if qty == lot.qty else lot.cost_basis * qty / lot.qty
        lot.qty, lot.cost_basis = lot.qty - qty, round9(lot.cost_basis - released)
        if lot.qty == 0:
            del self.lots[symbol]

    def _note(
        self,
        kind: str,
        at: datetime,
        symbol: str,
        qty: Decimal,
        net: Decimal,
        description: str,
        price: Decimal | None = None,
    ) -> None:
        entry = acts.non_trade(
            len(self.log) + 1, self.account_id, kind, at,
            symbol=symbol, qty=qty, net_amount=net, description=description, price=price,
        )  # fmt: skip
        self.log.append(entry)

    def affordable(self, symbol: str) -> Decimal:
        """How many contracts of a long option lot the account can exercise: a call's by the
        cash free of open buys, a put's by the shares free of open sells."""
        lot = self.lots[symbol]
        option = lot.option
        assert option is not None
        per_contract = lot.multiplier
        if option.right is Right.CALL:
            cost = option.strike * per_contract
            room = self.free_cash() / cost if cost > 0 else lot.qty
        else:
            room = self.shares_free(underlying_of(option)) / per_contract
        return min(lot.qty, max(Decimal(0), room.to_integral_value(rounding=ROUND_FLOOR)))

    # -- marks ---------------------------------------------------------------------------

    def mark(self, symbol: str, quote: Quote | None) -> tuple[Decimal, Decimal]:
        """(price, market value) of a lot at the quote's mid, or at cost with no usable quote.

        With only an ask the mid is ask / 2 (an empty bid is worth zero); with only a bid, the bid.
        """
        lot = self.lots[symbol]
        price = mid(quote)
        if price is None:
            price = tidy(round9(lot.cost_basis / (lot.qty * lot.multiplier)))
        return price, tidy(price * lot.qty * lot.multiplier)

    def position(
        self, symbol: str, quote: Quote | None, lastday: Quote | None, moves: DayMoves | None
    ) -> Position:
        """The position marked at ``quote``; its day figures from its mark at the previous
        close (``lastday``; without one, today's mark) and the day's ``moves``."""
        lot = self.lots[symbol]
        price, value = self.mark(symbol, quote)
        before = self.mark(symbol, lastday)[0] if lastday is not None else price
        basis = tidy(lot.cost_basis)
        pl = tidy(value - basis)
        day_basis = tidy(round9(intraday_basis(lot.qty, moves, before, lot.multiplier)))
        day_pl = tidy(value - day_basis)
        return Position(
            asset_id=asset_id(symbol),
            symbol=symbol,
            exchange="" if lot.option is not None else STOCK_EXCHANGE,
            asset_class="us_equity" if lot.option is None else "us_option",
            asset_marginable=lot.option is None,
            avg_entry_price=tidy(round9(basis / (lot.qty * lot.multiplier))),
            qty=lot.qty,
            qty_available=lot.qty - self.held(symbol),
            side="long",
            cost_basis=basis,
            market_value=value,
            current_price=price,
            unrealized_pl=pl,
            unrealized_plpc=_ratio(pl, basis),
            unrealized_intraday_pl=day_pl,
            unrealized_intraday_plpc=_ratio(day_pl, day_basis),
            lastday_price=before,
            change_today=_ratio(price - before, before),
        )


def mid(quote: Quote | None) -> Decimal | None:
    """A quote's mark: its mid; with only an ask, ask / 2 (an empty bid is worth zero);
    with only a bid, the bid; None without a usable side."""
    bid = price_of(quote.bid) if quote is not None else Decimal(0)
    ask = price_of(quote.ask) if quote is not None else Decimal(0)
    if ask > 0:
        return tidy(round9((max(bid, Decimal(0)) + ask) / 2))
    if bid > 0:
        return tidy(round9(bid))
    return None


def _ratio(part: Decimal, whole: Decimal) -> Decimal:
    return tidy(round9(part / whole)) if whole else Decimal(0)
