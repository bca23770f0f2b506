"""Alpaca's JSON shapes, exactly as alpaca-py validates them (tests/data/alpaca_shapes holds them).

Money on trading endpoints is a JSON string; market data uses numbers; timestamps are
RFC 3339 in UTC.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from strikeflow.sim.market_data import Bar, ContractInfo, OptionSnapshot, Quote, Trade
from strikeflow.sim.option_chain import GREEK_DECIMALS
from strikeflow.sim.venue_book import rfc3339
from strikeflow.sim.venue_orders import Account, Order, Position, asset_id


def ts(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


def plain(value: Any) -> Any:
    """A dataclass field value as JSON: datetimes RFC 3339, Decimals as strings."""
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(obj: Any, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """Every dataclass field of ``obj`` as JSON, optionally renamed."""
    renames = renames or {}
    return {renames.get(f.name, f.name): plain(getattr(obj, f.name)) for f in fields(obj)}


def account(a: Account) -> dict[str, Any]:
    return record(a)


def order(o: Order) -> dict[str, Any]:
    """An order; the trailing-stop fields are null, as Alpaca sends them for every order
    that is not a trailing stop (the emulator takes market and limit orders only)."""
    body = record(o)
    body["legs"] = None if o.legs is None else [order(leg) for leg in o.legs]
    body.update(trail_percent=None, trail_price=None, hwm=None)
    return body


def position(p: Position) -> dict[str, Any]:
    return record(p)


# Stock exchanges and tape, as Alpaca's stock data codes them: IEX is "V"; the SIP's best
# quote is named here by the listing exchange, NASDAQ ("Q"), where the emulator's stocks
# list (venue_orders.STOCK_EXCHANGE), and NASDAQ-listed stocks trade on tape C.
IEX = "V"
NASDAQ = "Q"
NASDAQ_TAPE = "C"


def stock_exchange(feed: str) -> str:
    """The exchange code a quote or trade on ``feed`` carries: IEX's own, else NASDAQ."""
    return IEX if feed == "iex" else NASDAQ


def quote(q: Quote, feed: str = "iex") -> dict[str, Any]:
    x = stock_exchange(feed)
    return {
        "t": ts(q.t),
        "ax": x,
        "ap": q.ask,
        "as": q.ask_size,
        "bx": x,
        "bp": q.bid,
        "bs": q.bid_size,
        "c": [],
        "z": NASDAQ_TAPE,
    }


def option_quote(q: Quote) -> dict[str, Any]:
    return {
        "t": ts(q.t),
        "bp": q.bid,
        "bs": q.bid_size,
        "ap": q.ask,
        "as": q.ask_size,
        "bx": "C",
        "ax": "C",
        "c": "A",
    }


def trade(t: Trade, feed: str = "iex") -> dict[str, Any]:
    return {
        "t": ts(t.t),
        "p": t.price,
        "s": t.size,
        "x": stock_exchange(feed),
        "i": 0,
        "c": ["@"],
        "z": NASDAQ_TAPE,
    }


def option_trade(t: Trade) -> dict[str, Any]:
    return {"t": ts(t.t), "p": t.price, "s": t.size, "x": "C", "c": "I"}


def bar(b: Bar) -> dict[str, Any]:
    return {"t": ts(b.t), "o": b.o, "h": b.h, "l": b.low, "c": b.c, "v": b.v, "n": b.n, "vw": b.vw}


def snapshot(s: OptionSnapshot) -> dict[str, Any]:
    """A contract's snapshot; Greeks and IV rounded: a model's 17 digits are noise that
    every client would parse, carry and store. Unknown Greeks and IV are null, as Alpaca
    sends them; a contract that has not traded has no latestTrade, and a bar in which it
    did not trade is left out, as Alpaca leaves it out."""
    body: dict[str, Any] = {}
    if s.quote is not None:
        body["latestQuote"] = option_quote(s.quote)
    if s.trade is not None:
        body["latestTrade"] = option_trade(s.trade)
    body["greeks"], body["impliedVolatility"] = None, None
    if s.greeks is not None:
        g, d = s.greeks, GREEK_DECIMALS
        body["greeks"] = {
            "delta": round(g.delta, d),
            "gamma": round(g.gamma, d),
            "theta": round(g.theta, d),
            "vega": round(g.vega, d),
            "rho": round(g.rho, d),
        }
    if s.implied_vol is not None:
        body["impliedVolatility"] = round(s.implied_vol, GREEK_DECIMALS)
    for name, b in (
        ("minuteBar", s.minute_bar),
        ("dailyBar", s.daily_bar),
        ("prevDailyBar", s.prev_daily_bar),
    ):
        if b is not None:
            body[name] = bar(b)
    return body


def contract(c: ContractInfo, as_of: date, *, active: bool = True) -> dict[str, Any]:
    """A listed contract; an expired one (``active`` False) is ``inactive`` and not
    tradable, as Alpaca lists it."""
    kind = "call" if c.right == "call" else "put"
    return {
        "id": c.id,
        "symbol": c.symbol,
        "name": f"{c.underlying} {c.expiration:%b %d %Y} {c.strike:g} {kind.title()}",
        "status": "active" if active else "inactive",
        "tradable": active,
        "expiration_date": c.expiration.isoformat(),
        "root_symbol": c.root,
        "underlying_symbol": c.underlying,
        "underlying_asset_id": asset_id(c.underlying),
        "type": kind,
        "style": "american",
        "strike_price": f"{c.strike:g}",
        "size": "100",
        "multiplier": str(c.multiplier),
        "open_interest": str(c.open_interest),
        "open_interest_date": as_of.isoformat(),
        "close_price": None if c.close_price is None else f"{c.close_price:.2f}",
        "close_price_date": as_of.isoformat() if c.close_price is not None else None,
    }
