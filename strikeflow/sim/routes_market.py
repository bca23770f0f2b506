"""Market data routes: stocks (/v2/stocks/...) and options (/v1beta1/options/...).

Every route is ``async``: its work is in memory, short and under the market's and the
venue's own locks, so the thread pool FastAPI runs a plain ``def`` in would only add a
hand-off per request (a third of the CPU of a simple one).

Each route checks the ``feed`` it is asked for against the emulator's data plan
(``data_plan``) before serving."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from strikeflow.domain.errors import InvalidOccSymbol
from strikeflow.domain.occ import parse_occ
from strikeflow.sim import render
from strikeflow.sim.data_plan import OptionsFeed, StockFeed, plan_of
from strikeflow.sim.http_common import (
    Chain,
    ClientError,
    Emulator,
    Instant,
    PageToken,
    Symbols,
    json_response,
    limit_up_to,
    listed_contracts,
    page,
    param_symbols,
    param_time,
    sim_of,
)

router = APIRouter()

TIMEFRAMES = {"1Min", "1T", "1min"}
DAILY_TIMEFRAMES = {"1Day", "1D", "1day"}
MAX_DAILY_SPAN = timedelta(days=366)
BarsLimit = limit_up_to(10_000)
ChainLimit = limit_up_to(1_000)
MAX_BARS_SPAN = timedelta(days=31)


@router.get("/v2/stocks/quotes/latest")
async def stock_quotes(
    request: Request, symbols: Symbols = None, feed: StockFeed = None
) -> Response:
    plan_of(request).check_stock_latest(feed)
    sim, served = sim_of(request), _latest_feed(request, feed)
    now, symbols = sim.now(), _stocks(sim, symbols)
    return json_response(
        {"quotes": {s: render.quote(sim.market.stock_quote(s, now), served) for s in symbols}}
    )


@router.get("/v2/stocks/trades/latest")
async def stock_trades(
    request: Request, symbols: Symbols = None, feed: StockFeed = None
) -> Response:
    plan_of(request).check_stock_latest(feed)
    sim, served = sim_of(request), _latest_feed(request, feed)
    now, symbols = sim.now(), _stocks(sim, symbols)
    return json_response(
        {"trades": {s: render.trade(sim.market.latest_trade(s, now), served) for s in symbols}}
    )


@router.get("/v2/stocks/snapshots")
async def stock_snapshots(
    request: Request, symbols: Symbols = None, feed: StockFeed = None
) -> Response:
    plan_of(request).check_stock_latest(feed)
    sim, served = sim_of(request), _latest_feed(request, feed)
    now = sim.now()
    body = {}
    for symbol in _stocks(sim, symbols):
        minute = sim.market.bars(symbol, now - timedelta(minutes=1), now)
        body[symbol] = {
            "latestTrade": render.trade(sim.market.latest_trade(symbol, now), served),
            "latestQuote": render.quote(sim.market.stock_quote(symbol, now), served),
            "minuteBar": render.bar(minute[-1]) if minute else None,
            "dailyBar": None,
            "prevDailyBar": None,
        }
    return json_response(body)  # unwrapped, as Alpaca answers


@router.get("/v2/stocks/bars")
async def stock_bars(
    request: Request,
    symbols: Symbols = None,
    timeframe: Annotated[str, Query(description="1Min or 1Day")] = "1Min",
    start: Instant = None,
    end: Instant = None,
    sort: Annotated[Literal["asc", "desc"], Query()] = "asc",
    page_token: PageToken = None,
    limit: BarsLimit = 1_000,
    feed: StockFeed = None,
) -> Response:
    """Minute bars, or daily bars stamped at New York midnight (today's so far, as
    Alpaca's daily bar moves through the session)."""
    sim = sim_of(request)
    listed = _stocks(sim, symbols)
    daily = timeframe in DAILY_TIMEFRAMES
    if timeframe not in TIMEFRAMES and not daily:
        raise ClientError(422, f"timeframe {timeframe!r} is not served; use 1Min or 1Day")
    now = sim.now()
    since, until = _bars_window(start, end, now, MAX_DAILY_SPAN if daily else MAX_BARS_SPAN)
    plan_of(request).check_stock_history(feed, until, now)
    read = sim.market.daily_bars if daily else sim.market.bars
    rows = [(s, b) for s in sorted(listed) for b in read(s, since, until)]
    return _bars_page(rows, sort, page_token, limit)


@router.get("/v1beta1/options/bars")
async def option_bars(
    request: Request,
    symbols: Symbols = None,
    timeframe: Annotated[str, Query(description="1Min (the only one served)")] = "1Min",
    start: Instant = None,
    end: Instant = None,
    sort: Annotated[Literal["asc", "desc"], Query()] = "asc",
    page_token: PageToken = None,
    limit: BarsLimit = 1_000,
) -> Response:
    """Historical one-minute bars of option contracts, as Alpaca pages them: bars of every
    symbol in one list (by symbol, then time), ``limit`` a page. Unknown contracts and
    minutes without trades are left out."""
    sim = sim_of(request)
    listed = sorted(set(_options(symbols)))
    if timeframe not in TIMEFRAMES:
        raise ClientError(422, f"timeframe {timeframe!r} is not served; use 1Min")
    since, until = _bars_window(start, end, sim.now(), MAX_BARS_SPAN)
    rows = [(s, b) for s in listed for b in sim.market.option_bars(s, since, until)]
    return _bars_page(rows, sort, page_token, limit)


def _bars_window(
    start: str | None, end: str | None, now: datetime, span: timedelta
) -> tuple[datetime, datetime]:
    """A bars request's [since, until]: ``end`` capped at now (default now), ``start``
    a day before it by default; refused when empty or longer than ``span``."""
    until = min(param_time(end, "end") or now, now)
    since = param_time(start, "start") or until - timedelta(days=1)
    if since >= until or until - since > span:
        said = "a year" if span >= MAX_DAILY_SPAN else f"{span.days} days"
        raise ClientError(422, f"start must precede end, by at most {said}")
    return since, until


def _bars_page(rows: list, sort: str, page_token: str | None, limit: int | None) -> Response:
    """Alpaca's bars reply: one page of (symbol, bar) rows, by symbol then time."""
    if sort == "desc":
        rows.sort(key=lambda row: (row[0], row[1].t), reverse=True)
    chunk, token = page(rows, page_token, limit or 1_000)
    bars: dict[str, list] = {}
    for symbol, b in chunk:
        bars.setdefault(symbol, []).append(render.bar(b))
    return json_response({"bars": bars, "next_page_token": token})


@router.get("/v1beta1/options/snapshots/{underlying}")
async def option_chain(
    request: Request,
    underlying: str,
    query: Chain,
    page_token: PageToken = None,
    limit: ChainLimit = 100,
    feed: OptionsFeed = None,
) -> Response:
    plan_of(request).check_options(feed)
    sim = sim_of(request)
    now = sim.now()
    chosen = sorted(c.symbol for c in listed_contracts(sim, underlying, now, query))
    rows, token = page(chosen, page_token, limit or 100)
    snapshots = sim.market.option_snapshots(underlying, now, rows)
    return json_response(
        {"snapshots": {s: render.snapshot(snapshots[s]) for s in rows}, "next_page_token": token}
    )


@router.get("/v1beta1/options/snapshots")
async def option_snapshots(
    request: Request, symbols: Symbols = None, feed: OptionsFeed = None
) -> Response:
    plan_of(request).check_options(feed)
    # Priced together, per underlying; unknown symbols are omitted (a null value crashes
    # alpaca-py).
    snaps = _known_snapshots(sim_of(request), symbols)
    body = {symbol: render.snapshot(snap) for symbol, snap in snaps.items()}
    return json_response({"snapshots": body, "next_page_token": None})


@router.get("/v1beta1/options/quotes/latest")
async def option_quotes(
    request: Request, symbols: Symbols = None, feed: OptionsFeed = None
) -> Response:
    plan_of(request).check_options(feed)
    snaps = _known_snapshots(sim_of(request), symbols)
    return json_response(
        {"quotes": {s: render.option_quote(v.quote) for s, v in snaps.items() if v.quote}}
    )


@router.get("/v1beta1/options/trades/latest")
async def option_trades(
    request: Request, symbols: Symbols = None, feed: OptionsFeed = None
) -> Response:
    plan_of(request).check_options(feed)
    snaps = _known_snapshots(sim_of(request), symbols)
    return json_response(
        {"trades": {s: render.option_trade(v.trade) for s, v in snaps.items() if v.trade}}
    )


def _latest_feed(request: Request, feed: str | None) -> str:
    """The feed latest data is served from: the one asked, else the plan's best (IEX on
    Basic, SIP on Unlimited), as Alpaca chooses for latest quotes, trades and snapshots."""
    if feed:
        return feed
    return "iex" if plan_of(request).basic else "sip"


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
    symbols = _options(raw)
    found = sim.market.snapshots_of(symbols, now)
    return {s: found[s] for s in symbols if s in found}
