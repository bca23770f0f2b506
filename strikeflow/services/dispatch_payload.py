"""The JSON that travels between dispatch steps, and back to domain values.

Celery serializes with JSON only, so Decimals travel as strings (never floats: a price
must arrive to the cent), datetimes as ISO 8601 and enums as their values. Only the
filtered chain (one right, the strategy's window, a strike band) ever travels, and as
columns (one list per field, the values shared by every contract said once): a hop
costs its worker time per key and per byte, and a chain of 80 contracts as 80 objects
with 14 keys each was ~33 KB.

The selection's explain (the chosen contract and every rejected candidate with its
reasons, ~11 KB for 80 candidates) rides four hops before persist_execution stores it:
it travels packed (``pack_selection``, zlib-compressed JSON in base64, ~2 KB) and is
expanded to the same dict wherever it is stored (``unpacked_explain``).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import fields
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
    """One contract as ``contract_to_json`` wrote it (a chain sent before chains
    travelled as columns is a list of these: a message still queued across an upgrade)."""
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


CONTRACT_FIELDS = tuple(f.name for f in fields(OptionContract))  # its constructor's order
PACKED = "packed"  # the key of a packed selection: {"packed": "<base64 zlib JSON>"}


def chain_to_json(contracts: Sequence[OptionContract]) -> dict[str, Any]:
    """The contracts as columns: each field a list in contract order; a field whose
    value every contract shares (underlying, right, multiplier) is given once, and the
    few expirations and quote times each once with an index per contract."""
    columns: dict[str, Any] = {
        "symbol": [c.symbol for c in contracts],
        "expiration": _coded([c.expiration.isoformat() for c in contracts]),
        "strike": [str(c.strike) for c in contracts],
        "bid": [str(c.bid) for c in contracts],
        "ask": [str(c.ask) for c in contracts],
        "last": [text(c.last) for c in contracts],
        "volume": [c.volume for c in contracts],
        "open_interest": [c.open_interest for c in contracts],
        "implied_vol": [c.implied_vol for c in contracts],
        "greeks": [None if c.greeks is None else list(_greek_values(c.greeks)) for c in contracts],
        "quote_time": _coded([c.quote_time.isoformat() for c in contracts]),
    }
    per_contract = {
        "underlying": [c.underlying for c in contracts],
        "right": [c.right.value for c in contracts],
        "multiplier": [c.multiplier for c in contracts],
    }
    shared: dict[str, Any] = {}
    for name, values in per_contract.items():
        if values and values.count(values[0]) == len(values):
            shared[name] = values[0]
        else:
            columns[name] = values
    return {"count": len(contracts), "shared": shared, "columns": columns}


def chain_from_json(d: dict[str, Any] | list[dict[str, Any]]) -> list[OptionContract]:
    """``chain_to_json``'s contracts, in their order (each column parsed as a whole)."""
    if isinstance(d, list):  # one object per contract, as chains travelled before
        return [contract_from_json(c) for c in d]
    n, shared, cols = d["count"], d["shared"], d["columns"]
    for name, values in cols.items():
        count = len(values["index"]) if isinstance(values, dict) else len(values)
        if count != n:
            raise ValueError(f"chain column {name!r} has {count} values, not {n}")

    def column(name: str) -> list[Any]:
        return cols[name] if name in cols else [shared[name]] * n

    parsed = {
        "symbol": cols["symbol"],
        "underlying": column("underlying"),
        "expiration": _decoded(cols["expiration"], date.fromisoformat),
        "right": column("right"),
        "strike": [Decimal(v) for v in cols["strike"]],
        "bid": [Decimal(v) for v in cols["bid"]],
        "ask": [Decimal(v) for v in cols["ask"]],
        "last": [dec(v) for v in cols["last"]],
        "volume": [int(v) for v in cols["volume"]],
        "open_interest": [int(v) for v in cols["open_interest"]],
        "implied_vol": cols["implied_vol"],
        "greeks": [None if g is None else Greeks(*g) for g in cols["greeks"]],
        "quote_time": _decoded(cols["quote_time"], datetime.fromisoformat),
        "multiplier": [int(v) for v in column("multiplier")],
    }
    rows = zip(*(parsed[name] for name in CONTRACT_FIELDS), strict=True)
    return [OptionContract(*row) for row in rows]


def _coded(values: list[str]) -> dict[str, list]:
    """A column of few distinct values: each once, and per row the index of its own."""
    distinct = list(dict.fromkeys(values))
    index = {value: i for i, value in enumerate(distinct)}
    return {"values": distinct, "index": [index[v] for v in values]}


def _decoded(coded: dict[str, list], parse: Any) -> list[Any]:
    parsed = [parse(value) for value in coded["values"]]
    return [parsed[i] for i in coded["index"]]


def pack_selection(explain: dict[str, Any]) -> dict[str, str]:
    """The selection explain as it travels between steps."""
    raw = json.dumps(explain, separators=(",", ":"), ensure_ascii=False, default=_plain)
    return {PACKED: base64.b64encode(zlib.compress(raw.encode(), 1)).decode("ascii")}


def unpacked_explain(explain: dict[str, Any] | None) -> dict[str, Any] | None:
    """``explain`` with its selection as stored (the dict ``pack_selection`` packed);
    an explain whose selection is not packed is returned as it is."""
    if not explain:
        return explain
    selection = explain.get("selection")
    if not (isinstance(selection, dict) and set(selection) == {PACKED}):
        return explain
    raw = zlib.decompress(base64.b64decode(selection[PACKED]))
    return {**explain, "selection": json.loads(raw)}


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


def _plain(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself, as ``jsonable`` writes it."""
    if isinstance(value, Decimal | datetime | date):
        return jsonable(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
