"""Market data routes: stocks (/v2/stocks/...) and options (/v1beta1/options/...)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response

from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.occ import parse_occ
from strikeflow.sim import render
from strikeflow.sim.http_common import (
    ClientError,
    Emulator,
    chain_query,
    json_response,
    listed_contracts,
    page,
    param_int,
    param_symbols,
    param_time,
    sim_of,
)

router = APIRouter()

TIMEFRAMES = {"1Min", "1T", "1min"}
MAX_BARS_SPAN = timedelta(days=31)


@router.get("/v2/stocks/quotes/latest")
def stock_quotes(request: Request) -> Response:
    sim = sim_of(request)
    now, symbols = sim.now(), _stocks(sim, request.query_params.get("symbols"))
    return json_response(
        {"quotes": {s: render.quote(sim.market.stock_quote(s, now)) for s in symbols}}
    )


@router.get("/v2/stocks/trades/latest")
def stock_trades(request: Request) -> Response:
    sim = sim_of(request)
    now, symbols = sim.now(), _stocks(sim, request.query_params.get("symbols"))
    return json_response(
        {"trades": {s: render.trade(sim.market.latest_trade(s, now)) for s in symbols}}
    )


@router.get("/v2/stocks/snapshots")
def stock_snapshots(request: Request) -> Response:
    sim = sim_of(request)
    now, symbols = sim.now(), _stocks(sim, request.query_params.get("symbols"))
    body = {}
    for symbol in symbols:
        minute = sim.market.bars(symbol, now - timedelta(minutes=1), now)
        body[symbol] = {
            "latestTrade": render.trade(sim.market.latest_trade(symbol, now)),
            "latestQuote": render.quote(sim.market.stock_quote(symbol, now)),
            "minuteBar": render.bar(minute[-1]) if minute else None,
            "dailyBar": None,
            "prevDailyBar": None,
        }
    return json_response(body)  # unwrapped, as Alpaca answers


@router.get("/v2/stocks/bars")
def stock_bars(request: Request) -> Response:
    sim, q = sim_of(request), request.query_params
    symbols = _stocks(sim, q.get("symbols"))
    timeframe = q.get("timeframe", "1Min")
    if timeframe not in TIMEFRAMES:
        raise ClientError(422, f"timeframe {timeframe!r} is not served; use 1Min")
    now = sim.now()
    end = min(param_time(q.get("end"), "end") or now, now)
    start = param_time(q.get("start"), "start") or end - timedelta(days=1)
    if start >= end or end - start > MAX_BARS_SPAN:
        raise ClientError(422, "start must precede end, by at most 31 days")
    rows = [(s, b) for s in sorted(symbols) for b in sim.market.bars(s, start, end)]
    if q.get("sort") == "desc":
        rows.sort(key=lambda row: (row[0], row[1].t), reverse=True)
    chunk, token = page(
        rows, q.get("page_token"), param_int(q.get("limit"), "limit", 1_000, 1, 10_000)
    )
    bars: dict[str, list] = {}
    for symbol, b in chunk:
        bars.setdefault(symbol, []).append(render.bar(b))
    return json_response({"bars": bars, "next_page_token": token})


@router.get("/v1beta1/options/snapshots/{underlying}")
def option_chain(request: Request, underlying: str) -> Response:
    sim, q = sim_of(request), request.query_params
    query = chain_query(q)
    now = sim.now()
    chosen = sorted(c.symbol for c in listed_contracts(sim, underlying, now, query))
    rows, token = page(
        chosen, q.get("page_token"), param_int(q.get("limit"), "limit", 100, 1, 1_000)
    )
    snapshots = sim.market.option_snapshots(underlying, now)
    return json_response(
        {"snapshots": {s: render.snapshot(snapshots[s]) for s in rows}, "next_page_token": token}
    )


@router.get("/v1beta1/options/snapshots")
def option_snapshots(request: Request) -> Response:
    sim = sim_of(request)
    now = sim.now()
    body = {}
    for symbol in _options(request.query_params.get("symbols")):
        snap = sim.market.option_snapshot(symbol, now)
        if snap is not None:  # unknown symbols are omitted: a null value crashes alpaca-py
            body[symbol] = render.snapshot(snap)
    return json_response({"snapshots": body, "next_page_token": None})


@router.get("/v1beta1/options/quotes/latest")
def option_quotes(request: Request) -> Response:
    snaps = _known_snapshots(sim_of(request), request.query_params.get("symbols"))
    return json_response({"quotes": {s: render.option_quote(v.quote) for s, v in snaps.items()}})


@router.get("/v1beta1/options/trades/latest")
def option_trades(request: Request) -> Response:
    snaps = _known_snapshots(sim_of(request), request.query_params.get("symbols"))
    return json_response(
        {"trades": {s: render.option_trade(v.trade) for s, v in snaps.items() if v.trade}}
    )


def _stocks(sim: Emulator, raw: str | None) -> list[str]:
    symbols = param_symbols(raw)
    unknown = [s for s in symbols if s not in sim.market.symbols]
    if unknown:
        raise ClientError(422, f"unknown symbol(s): {', '.join(unknown[:10])}")
    return symbols


def _options(raw: str | None) -> list[str]:
    symbols = param_symbols(raw)
    for symbol in symbols:
        try:
            parse_occ(symbol)
        except InvalidOccSymbol as bad:
            raise ClientError(422, str(bad)) from None
    return symbols


def _known_snapshots(sim: Emulator, raw: str | None) -> dict:
    now: datetime = sim.now()
    found = {s: sim.market.option_snapshot(s, now) for s in _options(raw)}
    return {s: v for s, v in found.items() if v is not None}
