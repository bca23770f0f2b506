"""The JSON that travels between dispatch steps, and back to domain values.

Celery serializes with JSON only, so Decimals travel as strings (never floats: a price
must arrive to the cent), datetimes as ISO 8601 and enums as their values. Only the
filtered chain (one right, the strategy's window, a strike band) ever travels.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from strikeflow.domain.market import OptionQuote, StockQuote
from strikeflow.domain.models import Greeks, OptionContract
from strikeflow.domain.orders import BrokerOrder, OrderType
from strikeflow.domain.records import Action, BrokerName, ExecutionMode, ExecutionStatus


def dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def contract_to_json(c: OptionContract) -> dict[str, Any]:
    return {
        "symbol": c.symbol,
        "underlying": c.underlying,
        "expiration": c.expiration.isoformat(),
        "right": c.right.value,
        "strike": str(c.strike),
        "bid": str(c.bid),
        "ask": str(c.ask),
        "last": text(c.last),
        "volume": c.volume,
        "open_interest": c.open_interest,
        "implied_vol": c.implied_vol,
        "greeks": None if c.greeks is None else list(_greek_values(c.greeks)),
        "quote_time": c.quote_time.isoformat(),
        "multiplier": c.multiplier,
    }


def contract_from_json(d: dict[str, Any]) -> OptionContract:
    return OptionContract(
        symbol=d["symbol"],
        underlying=d["underlying"],
        expiration=date.fromisoformat(d["expiration"]),
        right=d["right"],
        strike=Decimal(d["strike"]),
        bid=Decimal(d["bid"]),
        ask=Decimal(d["ask"]),
        last=dec(d.get("last")),
        volume=int(d["volume"]),
        open_interest=int(d["open_interest"]),
        implied_vol=d.get("implied_vol"),
        greeks=None if d.get("greeks") is None else Greeks(*d["greeks"]),
        quote_time=datetime.fromisoformat(d["quote_time"]),
        multiplier=int(d.get("multiplier", 100)),
    )


def _greek_values(g: Greeks) -> tuple[float, ...]:
    return (g.delta, g.gamma, g.theta, g.vega, g.rho)


def quote_to_json(q: StockQuote | OptionQuote) -> dict[str, Any]:
    return {"symbol": q.symbol, "bid": str(q.bid), "ask": str(q.ask), "time": q.time.isoformat()}


def recent_stock_quote(payload: dict[str, Any]) -> StockQuote | None:
    """The underlying's quote fetch_chain took, if the payload carries it (sizes unknown)."""
    q = payload.get("spot_quote")
    if q is None:
        return None
    return StockQuote(q["symbol"], Decimal(q["bid"]), Decimal(q["ask"]), 0, 0, when(q["time"]))


def contract_quote(c: dict[str, Any]) -> OptionQuote:
    """The quote a chain contract arrived with."""
    return OptionQuote(
        symbol=c["symbol"],
        bid=Decimal(c["bid"]),
        ask=Decimal(c["ask"]),
        bid_size=0,
        ask_size=0,
        time=datetime.fromisoformat(c["quote_time"]),
        last=dec(c.get("last")),
        implied_vol=c.get("implied_vol"),
        greeks=None if c.get("greeks") is None else Greeks(*c["greeks"]),
        volume=c.get("volume"),
    )


def order_to_json(o: BrokerOrder) -> dict[str, Any]:
    return {
        "id": o.id,
        "client_order_id": o.client_order_id,
        "symbol": o.symbol,
        "side": o.side.value,
        "qty": str(o.qty),
        "order_type": o.order_type.value,
        "status": o.status.value,
        "broker_status": o.broker_status,
        "broker": o.broker.value,
        "execution_mode": o.execution_mode.value,
        "limit_price": text(o.limit_price),
        "filled_qty": str(o.filled_qty),
        "filled_avg_price": text(o.filled_avg_price),
        "submitted_at": iso(o.submitted_at),
        "filled_at": iso(o.filled_at),
        "position_intent": o.position_intent,
        "simulated_reason": o.simulated_reason,
    }


def order_from_json(d: dict[str, Any]) -> BrokerOrder:
    return BrokerOrder(
        id=d["id"],
        client_order_id=d["client_order_id"],
        symbol=d["symbol"],
        side=Action(d["side"]),
        qty=Decimal(d["qty"]),
        order_type=OrderType(d["order_type"]),
        status=ExecutionStatus(d["status"]),
        broker_status=d["broker_status"],
        broker=BrokerName(d["broker"]),
        execution_mode=ExecutionMode(d["execution_mode"]),
        limit_price=dec(d.get("limit_price")),
        filled_qty=Decimal(d.get("filled_qty") or 0),
        filled_avg_price=dec(d.get("filled_avg_price")),
        submitted_at=when(d.get("submitted_at")),
        filled_at=when(d.get("filled_at")),
        position_intent=d.get("position_intent"),
        simulated_reason=d.get("simulated_reason"),
    )


def jsonable(value: Any) -> Any:
    """``value`` with Decimals as strings and dates as ISO text, recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
