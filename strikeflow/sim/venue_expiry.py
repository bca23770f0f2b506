"""Expiration day at the venue: the 0DTE rules Alpaca applies to options expiring today,
and the settlement of expired positions.

- New orders that open positions in contracts expiring today are refused from 15:15 New York
  (15:30 for the broad-based ETFs below), 45 and 30 minutes before the 16:00 expiration.
  Orders that close a held long position (sells) stay allowed: the venue has no shorts, so
  every buy opens and every sell closes.
- From 15:30 New York (15:45 for the ETFs) Alpaca liquidates expiring long positions that
  are in the money and whose exercise the account could not carry: a call whose strike x
  qty x multiplier is beyond the cash free of open buys, a put whose shares the account does
  not hold. The venue cancels the open orders on the contract and sends a market sell of
  the contracts the account could not exercise (the rest stay, to be exercised), with a
  client_order_id it generates, as Alpaca's own liquidation orders carry none of the
  client's. Whether a contract is in the money is judged at the underlying's mid then.

At the 16:00 close, against the underlying's official close, a long position in the money by
$0.01 or more is exercised with physical delivery (``Book.exercise``) for every contract the
account can carry; any other contract in the money is settled in cash at intrinsic value
(OPCSH), so a cash account is never left short or overdrawn; out of the money, it expires.

The broad-based list and the cut-off times are the domain's (``domain.venue_rules``), so
that strikeflow's selection and the venue it is tested against apply one rule.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal

from strikeflow.domain.enums import Right
from strikeflow.domain.expiry import NEW_YORK, expiry_instant
from strikeflow.domain.occ import OccSymbol
from strikeflow.domain.venue_rules import BROAD_BASED_ETFS, zero_dte_cutoff
from strikeflow.sim.market_data import Quote
from strikeflow.sim.venue_book import ITM_THRESHOLD, Book, underlying_of
from strikeflow.sim.venue_orders import VenueError, forbidden, price_of, tidy

LIQUIDATION_BEFORE_CLOSE = timedelta(minutes=30)  # 15:30
ETF_LIQUIDATION_BEFORE_CLOSE = timedelta(minutes=15)  # 15:45


def is_broad_based(option: OccSymbol) -> bool:
    return underlying_of(option) in BROAD_BASED_ETFS


def opening_cutoff(option: OccSymbol) -> datetime:
    """When new opening orders in this contract stop being accepted on its expiration day."""
    cutoff = zero_dte_cutoff(underlying_of(option))
    return datetime.combine(option.expiration, cutoff, tzinfo=NEW_YORK)


def liquidation_time(option: OccSymbol) -> datetime:
    """When the venue liquidates expiring positions the account could not exercise."""
    before = ETF_LIQUIDATION_BEFORE_CLOSE if is_broad_based(option) else LIQUIDATION_BEFORE_CLOSE
    return expiry_instant(option.expiration) - before


def check_opening_order(option: OccSymbol, side: str, now: datetime) -> None:
    """403 for a buy in a contract expiring today sent at or after its cutoff."""
    cutoff = opening_cutoff(option)
    if side == "buy" and cutoff <= now < expiry_instant(option.expiration):
        raise zero_dte_refusal(option)


def zero_dte_refusal(option: OccSymbol) -> VenueError:
    cutoff = f"{zero_dte_cutoff(underlying_of(option)):%H:%M} ET"
    when = f"{cutoff} for broad-based ETFs" if is_broad_based(option) else cutoff
    return forbidden(
        f"0DTE rule: new orders in options expiring today are not accepted after {when}"
        f" ({option.symbol}); orders closing a held position are"
    )


def intrinsic(option: OccSymbol, spot: Decimal) -> Decimal:
    """How far in the money the contract is at ``spot`` (negative: out of the money)."""
    return spot - option.strike if option.right is Right.CALL else option.strike - spot


def in_the_money(option: OccSymbol, quote: Quote | None) -> bool:
    """In the money by $0.01 or more at the underlying's mid (or its one quoted side)."""
    if quote is None:
        return False
    bid, ask = price_of(quote.bid), price_of(quote.ask)
    spot = (bid + ask) / 2 if bid > 0 and ask > 0 else max(bid, ask)
    return spot > 0 and intrinsic(option, spot) >= ITM_THRESHOLD


def settle_expired(
    book: Book, settlement_price: Callable[[str, date], float], now: datetime
) -> None:
    """Exercise, cash-settle or expire every option lot whose expiration close has passed;
    open orders in it expire with it."""
    for symbol, lot in list(book.lots.items()):
        option = lot.option
        if option is None or now < (close := expiry_instant(option.expiration)):
            continue
        spot = price_of(settlement_price(option.root, option.expiration))
        if not spot.is_finite() or spot < 0:
            raise ValueError(f"settlement price of {option.root} is not a price: {spot}")
        book.close_orders_on(symbol, "expired", close)
        gap = intrinsic(option, spot)
        if gap < ITM_THRESHOLD:
            book.expire(symbol, close)
            continue
        deliverable = book.affordable(symbol)
        if deliverable > 0:
            book.exercise(symbol, deliverable, close, f"expired in the money at {spot}")
        if symbol in book.lots:
            book.cash_settle(symbol, book.lots[symbol].qty, tidy(gap), close)
