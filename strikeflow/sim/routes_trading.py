"""Trading API routes (/v2/...) and the emulator's own control routes (/_sim/...).

``async`` routes, as in ``routes_market``: in-memory work, no thread-pool hand-off."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from strikeflow.domain.expiry import NEW_YORK, trading_date
from strikeflow.sim import calendar, render
from strikeflow.sim.http_common import (
    Chain,
    ClientError,
    Day,
    DropConnection,
    Instant,
    PageToken,
    Symbols,
    Text,
    expired_contracts,
    json_response,
    limit_up_to,
    listed_contracts,
    page,
    param_date,
    param_float,
    param_symbols,
    param_time,
    sim_of,
)
from strikeflow.sim.venue_activities import MAX_PAGE_SIZE, activity_types

router = APIRouter()
OrdersLimit = limit_up_to(500)
ContractsLimit = limit_up_to(10_000)
Amount = Annotated[str | None, Query(description="a decimal number", examples=["1"])]

ORDER_FIELDS = ("symbol", "qty", "side", "type", "time_in_force")


@router.get("/v2/account")
async def account(request: Request) -> Response:
    return json_response(render.account(sim_of(request).venue.account()))


ORDER_BODY = {
    "type": "object",
    "required": list(ORDER_FIELDS),
    "properties": {
        "symbol": {"type": "string"},
        "qty": {"type": "string", "description": "a decimal number of shares or contracts"},
        "side": {"type": "string", "enum": ["buy", "sell"]},
        "type": {"type": "string", "enum": ["market", "limit"]},
        "time_in_force": {"type": "string", "enum": ["day", "gtc", "ioc", "fok"]},
        "limit_price": {"type": "string"},
        "client_order_id": {"type": "string", "maxLength": 128},
        "position_intent": {"type": "string"},
        "extended_hours": {"type": "boolean"},
    },
}
REPLACE_BODY = {
    "type": "object",
    "properties": {
        "qty": {"type": "string", "description": "the new total quantity"},
        "limit_price": {"type": "string"},
        "time_in_force": {"type": "string", "enum": ["day", "gtc"]},
        "client_order_id": {"type": "string", "maxLength": 128},
    },
}
CLOCK_BODY = {
    "type": "object",
    "properties": {
        "seconds": {"type": "number", "minimum": 0, "maximum": 366 * 86_400},
        "to": {"type": "string", "format": "date-time"},
    },
}
PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
FAULTS_BODY = {
    "type": "object",
    "description": "fault rates (error_5xx + rate_limit + drop <= 1) and latencies",
    "properties": {
        **dict.fromkeys(("error_5xx", "rate_limit", "drop", "latency"), PROBABILITY),
        "commit_then_fail": PROBABILITY,
        "latency_mean_ms": {"type": "number", "minimum": 0, "maximum": 60_000},
        "latency_max_ms": {"type": "number", "minimum": 0, "maximum": 60_000},
    },
    "additionalProperties": False,
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The request body a route reads itself, declared for /openapi.json."""
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/v2/orders", openapi_extra=json_body(ORDER_BODY))
async def submit_order(request: Request) -> Response:
    sim = sim_of(request)
    body = await _json_body(request)
    missing = [name for name in ORDER_FIELDS if body.get(name) in (None, "")]
    if missing:
        raise ClientError(422, f"missing required field(s): {', '.join(missing)}")
    extended_hours = body.get("extended_hours")
    # Numbers and flags go to the venue as sent: its ticket rules are the API's rules.
    order = sim.venue.submit(
        symbol=str(body["symbol"]),
        qty=body["qty"],
        side=str(body["side"]),
        type=str(body["type"]),
        time_in_force=str(body["time_in_force"]),
        limit_price=body.get("limit_price"),
        client_order_id=body.get("client_order_id"),
        position_intent=body.get("position_intent"),
        extended_hours=False if extended_hours is None else extended_hours,
    )
    fault = sim.faults.after_order_commit()
    if fault is not None:  # "commit then fail": the order stands, the reply is lost
        if fault.drop:
            raise DropConnection("injected: order committed, connection dropped")
        raise ClientError(500, "internal server error (injected after commit)", code=50010000)
    return json_response(render.order(order))


@router.get("/v2/orders:by_client_order_id")
async def order_by_client_id(request: Request, client_order_id: str = "") -> Response:
    if not client_order_id:
        raise ClientError(422, "client_order_id is required")
    return json_response(
        render.order(sim_of(request).venue.get_order_by_client_id(client_order_id))
    )


@router.get("/v2/orders")
async def list_orders(
    request: Request,
    status: Annotated[str, Query(description="open, closed or all")] = "open",
    limit: OrdersLimit = 50,
    after: Instant = None,
    symbols: Symbols = None,
) -> Response:
    orders = sim_of(request).venue.list_orders(
        status=status,  # the venue refuses an unknown status
        limit=limit or 50,
        after=param_time(after, "after"),
        symbols=param_symbols(symbols) if symbols else None,
    )
    return json_response([render.order(o) for o in orders])


@router.get("/v2/orders/{order_id}")
async def get_order(request: Request, order_id: str) -> Response:
    return json_response(render.order(sim_of(request).venue.get_order(order_id)))


@router.patch("/v2/orders/{order_id}", openapi_extra=json_body(REPLACE_BODY))
async def replace_order(request: Request, order_id: str) -> Response:
    """Replace an open order: the answer is the NEW order, whose ``replaces`` names this one."""
    sim = sim_of(request)
    body = await _json_body(request)
    if any(body.get(name) is not None for name in ("stop_price", "trail")):
        raise ClientError(422, "stop_price and trail apply to stop orders: the emulator has none")
    tif = body.get("time_in_force")
    order = sim.venue.replace(
        order_id,
        qty=body.get("qty"),
        limit_price=body.get("limit_price"),
        time_in_force=None if tif is None else str(tif),
        client_order_id=body.get("client_order_id"),
    )
    return json_response(render.order(order))


@router.delete("/v2/orders/{order_id}")
async def cancel_order(request: Request, order_id: str) -> Response:
    sim_of(request).venue.cancel(order_id)
    return Response(status_code=204)


@router.delete("/v2/orders")
async def cancel_all(request: Request) -> Response:
    results = sim_of(request).venue.cancel_all()
    return json_response([{"id": oid, "status": status} for oid, status in results], 207)


@router.get("/v2/positions")
async def positions(request: Request) -> Response:
    return json_response([render.position(p) for p in sim_of(request).venue.positions()])


@router.get("/v2/positions/{symbol}")
async def position(request: Request, symbol: str) -> Response:
    return json_response(render.position(sim_of(request).venue.position(symbol)))


@router.delete("/v2/positions/{symbol}")
async def close_position(
    request: Request, symbol: str, qty: Amount = None, percentage: Amount = None
) -> Response:
    order = sim_of(request).venue.close_position(
        symbol, qty=qty or None, percentage=percentage or None
    )
    return json_response(render.order(order))


@router.post("/v2/positions/{symbol}/exercise")
async def exercise(request: Request, symbol: str) -> Response:
    """Exercise a held long contract now, with physical delivery; 200 with no body."""
    sim_of(request).venue.exercise(symbol)
    return Response(status_code=200)


ActivityTypes = Annotated[str | None, Query(description="comma-separated, e.g. FILL,OPEXC")]
PageSize = Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="1 to 100")]


@router.get("/v2/account/activities")
async def account_activities(
    request: Request,
    activity_types: ActivityTypes = None,
    date: Day = None,
    after: Instant = None,
    until: Instant = None,
    direction: Annotated[str, Query(description="asc or desc")] = "desc",
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> Response:
    return _activities(
        request, activity_types, date, after, until, direction, page_size, page_token
    )


@router.get("/v2/account/activities/{activity_type}")
async def account_activities_of_type(
    request: Request,
    activity_type: str,
    date: Day = None,
    after: Instant = None,
    until: Instant = None,
    direction: Annotated[str, Query(description="asc or desc")] = "desc",
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> Response:
    return _activities(request, activity_type, date, after, until, direction, page_size, page_token)


def _activities(
    request: Request,
    kinds: str | None,
    on: str | None,
    after: str | None,
    until: str | None,
    direction: str,
    page_size: int | None,
    page_token: str | None,
) -> Response:
    rows = sim_of(request).venue.account_activities(
        activity_types=activity_types(kinds),
        on=param_date(on, "date"),
        after=_date_or_time(after, "after"),
        until=_date_or_time(until, "until"),
        direction=direction,
        page_size=page_size,
        page_token=page_token or None,
    )
    return json_response(rows)


def _date_or_time(raw: str | None, name: str) -> datetime | None:
    """Alpaca takes a date (midnight New York) or an RFC 3339 instant here."""
    if raw is not None and len(raw) == 10:
        day = param_date(raw, name)
        return None if day is None else datetime.combine(day, time(0), tzinfo=NEW_YORK)
    return param_time(raw, name)


@router.get("/v2/options/contracts")
async def option_contracts(
    request: Request,
    query: Chain,
    underlying_symbols: Symbols = None,
    status: Annotated[Literal["active", "inactive"], Query()] = "active",
    root_symbol: Text = None,
    page_token: PageToken = None,
    limit: ContractsLimit = 100,
) -> Response:
    sim = sim_of(request)
    now = sim.now()
    underlyings = param_symbols(underlying_symbols, "underlying_symbols")
    listed = expired_contracts if status == "inactive" else listed_contracts
    chosen = [
        c
        for u in underlyings
        for c in listed(sim, u, now, query)
        if not root_symbol or c.root == root_symbol  # an adjusted series has its own root
    ]
    rows, token = page(chosen, page_token, limit or 100)
    today = trading_date(now)
    return json_response(
        {
            "option_contracts": [
                render.contract(c, today, active=status != "inactive") for c in rows
            ],
            "next_page_token": token,
        }
    )


@router.get("/v2/clock")
async def clock(request: Request) -> Response:
    now = sim_of(request).now()
    return json_response(
        {
            "timestamp": render.ts(now),
            "is_open": calendar.is_open(now),
            "next_open": render.ts(calendar.next_open(now)),
            "next_close": render.ts(calendar.next_close(now)),
        }
    )


@router.get("/v2/calendar")
async def trading_calendar(request: Request, start: Day = None, end: Day = None) -> Response:
    now = sim_of(request).now()
    first = param_date(start, "start") or trading_date(now)
    last = param_date(end, "end") or first + timedelta(days=30)
    if last < first or (last - first).days > 3_660:
        raise ClientError(422, "end must follow start, within ten years")
    days = []
    for day in calendar.trading_days(first, last):
        opens, closes = calendar.session(day)
        days.append(
            {
                "date": day.isoformat(),
                "open": f"{opens:%H:%M}",
                "close": f"{closes:%H:%M}",
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": (day + timedelta(days=1)).isoformat(),
            }
        )
    return json_response(days)


# -- the emulator's own controls ------------------------------------------------------


@router.post("/_sim/clock", openapi_extra=json_body(CLOCK_BODY))
async def advance_clock(request: Request) -> Response:
    sim = request.app.state.sim
    body = await _json_body(request)
    if "to" in body:
        target = param_time(str(body["to"]), "to")
        if target is None:
            raise ClientError(422, "to must be an RFC 3339 time")
        _within_market(sim, target)
        _move_clock(sim.clock.set, target)
    else:
        seconds = param_float(str(body.get("seconds", "")), "seconds")
        if seconds is None or seconds < 0 or seconds > 366 * 86_400:
            raise ClientError(422, "give seconds (0 to one year) or to (an RFC 3339 time)")
        _within_market(sim, sim.now() + timedelta(seconds=seconds))
        _move_clock(sim.clock.advance, seconds)
    sim.venue.process(sim.now())
    return json_response(
        {"timestamp": render.ts(sim.now()), "is_open": calendar.is_open(sim.now())}
    )


@router.post("/_sim/faults", openapi_extra=json_body(FAULTS_BODY))
async def set_faults(request: Request) -> Response:
    body = await _json_body(request)
    try:
        request.app.state.sim.faults.update(body)
    except (ValueError, TypeError) as bad:
        raise ClientError(422, str(bad)) from None
    return json_response(request.app.state.sim.faults.report())


@router.get("/_sim/faults")
async def get_faults(request: Request) -> Response:
    return json_response(request.app.state.sim.faults.report())


@router.get("/_sim/orders")
async def audit(request: Request) -> Response:
    return json_response(sim_of(request).venue.audit())


# -- helpers ----------------------------------------------------------------------------


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ClientError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ClientError(422, "request body must be a JSON object")
    return body


def _within_market(sim, target) -> None:
    """Refuse a move past the simulated window: no price exists there to quote."""
    if not sim.market.covers(target):
        raise ClientError(
            422, f"the simulated market ends on {sim.market.last_day}: cannot move to {target}"
        )


def _move_clock(move, value) -> None:
    try:
        move(value)
    except ValueError as refused:
        raise ClientError(422, str(refused)) from None
